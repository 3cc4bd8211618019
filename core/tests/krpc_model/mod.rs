//! Owned KRPC messages for property tests: proptest generates these, and `view` lends them out
//! as the codec's borrowing [`Message`].

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use tokengo_core::Id;
use tokengo_core::krpc::{
    Body, CompactNodes, ErrorBody, ItemFields, Message, MutablePut, PeerList, Query, Response,
    Samples, Want,
};

/// The body of an [`OwnedMessage`].
#[derive(Debug, Clone)]
pub enum OwnedBody {
    Ping(Id),
    FindNode(Id, Id, Want),
    GetPeers(Id, Id, Want),
    AnnouncePeer {
        id: Id,
        info_hash: Id,
        port: u16,
        token: Vec<u8>,
        implied_port: bool,
    },
    Get {
        id: Id,
        target: Id,
        seq: Option<i64>,
        want: Want,
    },
    SampleInfohashes(Id, Id, Want),
    Put {
        id: Id,
        token: Vec<u8>,
        value: Vec<u8>,
        mutable: Option<OwnedMutable>,
    },
    Unknown {
        method: Vec<u8>,
        id: Option<Id>,
    },
    Malformed {
        method: &'static [u8],
    },
    Response {
        id: Id,
        nodes: Option<Vec<u8>>,
        nodes6: Option<Vec<u8>>,
        values: Option<Vec<SocketAddr>>,
        token: Option<Vec<u8>>,
        item: OwnedItem,
        samples: Option<(i64, i64, Vec<u8>)>,
    },
    Error {
        code: i64,
        message: Vec<u8>,
    },
}

/// The mutable fields of a put.
#[derive(Debug, Clone)]
pub struct OwnedMutable {
    pub key: [u8; 32],
    pub signature: [u8; 64],
    pub seq: i64,
    pub salt: Option<Vec<u8>>,
    pub cas: Option<i64>,
}

/// The item fields of a response.
#[derive(Debug, Clone, Default)]
pub struct OwnedItem {
    pub value: Option<Vec<u8>>,
    pub key: Option<[u8; 32]>,
    pub signature: Option<[u8; 64]>,
    pub seq: Option<i64>,
}

/// A message that owns its bytes.
#[derive(Debug, Clone)]
pub struct OwnedMessage {
    pub tid: Vec<u8>,
    pub version: Option<Vec<u8>>,
    pub ip: Option<SocketAddr>,
    pub read_only: bool,
    pub network: Option<Vec<u8>>,
    pub body: OwnedBody,
}

impl OwnedMessage {
    /// The message as the codec sees it.
    pub fn view(&self) -> Message<'_> {
        let body = match &self.body {
            OwnedBody::Ping(id) => Body::Query(Query::Ping { id: *id }),
            OwnedBody::FindNode(id, target, want) => Body::Query(Query::FindNode {
                id: *id,
                target: *target,
                want: *want,
            }),
            OwnedBody::GetPeers(id, info_hash, want) => Body::Query(Query::GetPeers {
                id: *id,
                info_hash: *info_hash,
                want: *want,
            }),
            OwnedBody::AnnouncePeer {
                id,
                info_hash,
                port,
                token,
                implied_port,
            } => Body::Query(Query::AnnouncePeer {
                id: *id,
                info_hash: *info_hash,
                port: *port,
                token,
                implied_port: *implied_port,
            }),
            OwnedBody::SampleInfohashes(id, target, want) => Body::Query(Query::SampleInfohashes {
                id: *id,
                target: *target,
                want: *want,
            }),
            OwnedBody::Get {
                id,
                target,
                seq,
                want,
            } => Body::Query(Query::Get {
                id: *id,
                target: *target,
                seq: *seq,
                want: *want,
            }),
            OwnedBody::Put {
                id,
                token,
                value,
                mutable,
            } => Body::Query(Query::Put {
                id: *id,
                token,
                value,
                mutable: mutable.as_ref().map(|m| MutablePut {
                    key: m.key,
                    signature: m.signature,
                    seq: m.seq,
                    salt: m.salt.as_deref(),
                    cas: m.cas,
                }),
            }),
            OwnedBody::Unknown { method, id } => Body::Query(Query::Unknown { method, id: *id }),
            OwnedBody::Malformed { method } => Body::Query(Query::Malformed { method }),
            OwnedBody::Response {
                id,
                nodes,
                nodes6,
                values,
                token,
                item,
                samples,
            } => Body::Response(Response {
                id: *id,
                nodes: nodes
                    .as_deref()
                    .map(|n| CompactNodes::new(n).expect("whole nodes")),
                nodes6: nodes6
                    .as_deref()
                    .map(|n| CompactNodes::new_v6(n).expect("whole nodes6")),
                values: values.as_deref().map(PeerList::Addrs),
                token: token.as_deref(),
                item: ItemFields {
                    value: item.value.as_deref(),
                    key: item.key,
                    signature: item.signature,
                    seq: item.seq,
                },
                samples: samples.as_ref().map(|(interval, num, samples)| Samples {
                    interval: *interval,
                    num: *num,
                    samples,
                }),
            }),
            OwnedBody::Error { code, message } => Body::Error(ErrorBody {
                code: *code,
                message,
            }),
        };
        Message {
            transaction_id: &self.tid,
            version: self.version.as_deref(),
            requester_ip: self.ip,
            read_only: self.read_only,
            network: self.network.as_deref(),
            body,
        }
    }
}

pub fn id() -> impl Strategy<Value = Id> {
    any::<[u8; 20]>().prop_map(Id)
}

pub fn addr_v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

/// An IPv4 or (BEP 32) IPv6 address, as compact encoding carries it (no flow info, no scope).
pub fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        addr_v4().prop_map(SocketAddr::V4),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port)),
    ]
}

/// A BEP 32 `want`.
pub fn want() -> impl Strategy<Value = Want> {
    (any::<bool>(), any::<bool>()).prop_map(|(n4, n6)| Want { n4, n6 })
}

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

const KNOWN: [&[u8]; 7] = [
    b"ping",
    b"find_node",
    b"get_peers",
    b"announce_peer",
    b"get",
    b"put",
    b"sample_infohashes",
];

/// One bencoded value: a string, an integer, a list of them, or a dictionary with one of them.
pub fn bencoded_value() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        bytes(40).prop_map(|b| [format!("{}:", b.len()).into_bytes(), b].concat()),
        any::<i64>().prop_map(|n| format!("i{n}e").into_bytes()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| [
                b"l".to_vec(),
                items.concat(),
                b"e".to_vec()
            ]
            .concat()),
            inner.prop_map(|v| [b"d1:a".to_vec(), v, b"e".to_vec()].concat()),
        ]
    })
}

fn mutable_put() -> impl Strategy<Value = OwnedMutable> {
    (
        any::<[u8; 32]>(),
        vec(any::<u8>(), 64),
        any::<i64>(),
        option::of(bytes(80)),
        option::of(any::<i64>()),
    )
        .prop_map(|(key, sig, seq, salt, cas)| OwnedMutable {
            key,
            signature: sig.try_into().unwrap(),
            seq,
            salt,
            cas,
        })
}

fn item_fields() -> impl Strategy<Value = OwnedItem> {
    (
        option::of(bencoded_value()),
        option::of(any::<[u8; 32]>()),
        option::of(vec(any::<u8>(), 64)),
        option::of(any::<i64>()),
    )
        .prop_map(|(value, key, sig, seq)| OwnedItem {
            value,
            key,
            signature: sig.map(|s| s.try_into().unwrap()),
            seq,
        })
}

pub fn body() -> impl Strategy<Value = OwnedBody> {
    prop_oneof![
        id().prop_map(OwnedBody::Ping),
        (id(), id(), want()).prop_map(|(a, b, w)| OwnedBody::FindNode(a, b, w)),
        (id(), id(), want()).prop_map(|(a, b, w)| OwnedBody::GetPeers(a, b, w)),
        (id(), id(), want()).prop_map(|(a, b, w)| OwnedBody::SampleInfohashes(a, b, w)),
        (id(), id(), any::<u16>(), bytes(40), any::<bool>()).prop_map(
            |(id, info_hash, port, token, implied_port)| OwnedBody::AnnouncePeer {
                id,
                info_hash,
                port,
                token,
                implied_port
            }
        ),
        (id(), id(), option::of(any::<i64>()), want()).prop_map(|(id, target, seq, want)| {
            OwnedBody::Get {
                id,
                target,
                seq,
                want,
            }
        }),
        (id(), bytes(40), bencoded_value(), option::of(mutable_put())).prop_map(
            |(id, token, value, mutable)| OwnedBody::Put {
                id,
                token,
                value,
                mutable
            }
        ),
        (bytes(30), option::of(id()))
            .prop_filter("a known method is not unknown", |(m, _)| !KNOWN
                .contains(&&m[..]))
            .prop_map(|(method, id)| OwnedBody::Unknown { method, id }),
        prop::sample::select(&KNOWN[..]).prop_map(|method| OwnedBody::Malformed { method }),
        (
            id(),
            option::of(vec(any::<[u8; 26]>(), 0..=16).prop_map(|n| n.concat())),
            option::of(vec(any::<[u8; 38]>(), 0..=16).prop_map(|n| n.concat())),
            option::of(vec(addr(), 0..=100)),
            option::of(bytes(40)),
            item_fields(),
            option::of((
                any::<i64>(),
                any::<i64>(),
                vec(any::<[u8; 20]>(), 0..=20).prop_map(|s| s.concat())
            )),
        )
            .prop_map(|(id, nodes, nodes6, values, token, item, samples)| {
                OwnedBody::Response {
                    id,
                    nodes,
                    nodes6,
                    values,
                    token,
                    item,
                    samples,
                }
            }),
        (any::<i64>(), bytes(100)).prop_map(|(code, message)| OwnedBody::Error { code, message }),
    ]
}

pub fn owned_message() -> impl Strategy<Value = OwnedMessage> {
    (
        bytes(64),
        option::of(bytes(8)),
        option::of(addr()),
        any::<bool>(),
        option::of(bytes(16)),
        body(),
    )
        .prop_map(
            |(tid, version, ip, read_only, network, body)| OwnedMessage {
                tid,
                version,
                ip,
                read_only,
                network,
                body,
            },
        )
}
