//! Drives one DHT node with arbitrary datagrams (raw bytes, well-formed queries, BEP 44 gets
//! and puts, BEP 51 samples, BEP 32 `want`, `nodes6` and IPv6 peers, signed or forged, with valid or invented tokens, and replies to the node's own
//! queries with their transaction ids, items included) from a few source addresses, arbitrary
//! time steps and occasional commands (item gets and puts among them). After every step it drains the node and checks that it
//! stays within its configured bounds and that everything it sends is a KRPC message we can
//! decode that fits one datagram.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokengo_core::item::{SigningKey, Value, mutable_target, signing_buffer};
use tokengo_core::krpc::{
    Body, CompactNodes, ErrorBody, ItemFields, Message, MutablePut, PeerList, Query, Response,
    Samples, Want, decode,
};
use tokengo_core::{Config, Id, Network, Node, NodeInfo};

/// Largest payload the node may hand to the runtime.
const MAX_DATAGRAM: usize = 1500;
/// Outgoing queries remembered so that steps can answer them.
const REMEMBERED_QUERIES: usize = 64;
/// Longest single time step: an hour, enough to cross every timer (re-announce, expiry).
const MAX_STEP_MS: u32 = 3_600_000;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    mainline: bool,
    read_only: bool,
    /// Whether the node speaks IPv6 too (BEP 32).
    ipv6: bool,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// Any bytes from one of the sources.
    Raw { from: u8, bytes: Vec<u8> },
    /// A well-formed query.
    Query {
        from: u8,
        tid: Vec<u8>,
        id: [u8; 20],
        kind: QueryKind,
        tag: Tag,
        read_only: bool,
        /// BEP 32 `want`: bit 0 `n4`, bit 1 `n6`.
        want: u8,
    },
    /// An answer to one of the node's recent queries, with its transaction id.
    Reply {
        pick: u8,
        from_elsewhere: bool,
        id: [u8; 20],
        answer: Answer,
        tag: Tag,
    },
    /// Time passes.
    Advance { ms: u32 },
    /// The application does something.
    Command(Command),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Tag {
    /// The node's own network tag (none on Mainline).
    Own,
    /// No tag.
    Missing,
    /// Another network's tag.
    Other,
}

#[derive(Arbitrary, Debug)]
enum QueryKind {
    Ping,
    FindNode([u8; 20]),
    GetPeers([u8; 20]),
    AnnouncePeer {
        info_hash: [u8; 20],
        port: u16,
        token: Vec<u8>,
        implied_port: bool,
    },
    Get {
        target: Target,
        seq: Option<i64>,
    },
    Put {
        /// `None`: a token the node issued to this source (asked for with a get first).
        token: Option<Vec<u8>>,
        value: Vec<u8>,
        mutable: Option<Signed>,
    },
    SampleInfohashes([u8; 20]),
    Unknown(Vec<u8>),
}

/// A target: any id, or one of a few items' (so that gets meet puts).
#[derive(Arbitrary, Debug)]
enum Target {
    Any([u8; 20]),
    Mutable { key: u8, salt: Vec<u8> },
    Immutable(Vec<u8>),
}

/// A mutable item's fields, signed with one of a few keys (or forged).
#[derive(Arbitrary, Debug)]
struct Signed {
    key: u8,
    salt: Option<Vec<u8>>,
    seq: i64,
    cas: Option<i64>,
    forge: bool,
}

#[derive(Arbitrary, Debug)]
enum Answer {
    Response {
        nodes: Vec<([u8; 20], u8, u16)>,
        nodes6: Vec<([u8; 20], u8, u16)>,
        /// Peers; `true`: an IPv6 one.
        values: Vec<(u8, u16, bool)>,
        token: Option<Vec<u8>>,
        item: Option<(Vec<u8>, Option<Signed>)>,
        samples: Option<(i64, i64, Vec<u8>)>,
    },
    Error {
        code: i64,
        message: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum Command {
    Bootstrap(u8),
    FindNode([u8; 20]),
    GetPeers([u8; 20]),
    Announce {
        info_hash: [u8; 20],
        port: Option<u16>,
        keep: bool,
    },
    StopAnnounce([u8; 20]),
    Ping(u8),
    AddContact([u8; 20], u8),
    Sample(u8, [u8; 20]),
    GetImmutable(Target),
    GetMutable {
        key: u8,
        salt: Vec<u8>,
    },
    PutImmutable(Vec<u8>),
    PutMutable {
        key: u8,
        salt: Vec<u8>,
        seq: i64,
        value: Vec<u8>,
        cas: Option<i64>,
    },
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed([n % 4; 32])
}

/// A value: the bytes as a bencoded string, cut to fit.
fn value(bytes: &[u8]) -> Vec<u8> {
    let bytes = &bytes[..bytes.len().min(1100)];
    [format!("{}:", bytes.len()).into_bytes(), bytes.to_vec()].concat()
}

impl Target {
    fn id(&self) -> Id {
        match self {
            Target::Any(id) => Id(*id),
            Target::Mutable { key: k, salt } => mutable_target(&key(*k).public_key(), salt),
            Target::Immutable(bytes) => tokengo_core::item::immutable_target(&value(bytes)),
        }
    }
}

impl Signed {
    /// The put fields for `value`.
    fn fields<'a>(&'a self, value: &[u8]) -> MutablePut<'a> {
        let signer = key(self.key);
        let salt = self.salt.as_deref().unwrap_or_default();
        let mut signature = signer.sign(&signing_buffer(salt, self.seq, value));
        if self.forge {
            signature[0] ^= 1;
        }
        MutablePut {
            key: signer.public_key(),
            signature,
            seq: self.seq,
            salt: self.salt.as_deref(),
            cas: self.cas,
        }
    }
}

/// One of a few sources: four IPv4 peers, one IPv6 peer and one IPv4-mapped IPv6 address.
fn source(index: u8) -> SocketAddr {
    match index % 6 {
        4 => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 6881),
        5 => SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().into(), 6881),
        n => SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(10, 0, 0, n + 1),
            6881 + u16::from(n),
        )),
    }
}

fn peer(host: u8, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, host), port))
}

fn peer6(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, u16::from(host)).into(),
        port,
    )
}

/// Compact node infos: id and compact address, of either family.
fn compact_nodes(nodes: &[([u8; 20], u8, u16)], v6: bool) -> Vec<u8> {
    nodes
        .iter()
        .take(16)
        .flat_map(|(id, host, port)| {
            let addr = if v6 {
                peer6(*host, *port)
            } else {
                peer(*host, *port)
            };
            let mut info = id.to_vec();
            match addr.ip() {
                std::net::IpAddr::V4(ip) => info.extend_from_slice(&ip.octets()),
                std::net::IpAddr::V6(ip) => info.extend_from_slice(&ip.octets()),
            }
            info.extend_from_slice(&addr.port().to_be_bytes());
            info
        })
        .collect()
}

struct Harness {
    node: Node,
    config: Config,
    now: Instant,
    /// Recent queries the node sent: destination and transaction id.
    sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl Harness {
    fn tag(&self, tag: Tag) -> Option<&'static [u8]> {
        match (tag, &self.config.network) {
            (Tag::Own, Network::Tagged(_)) => Some(b"tokengo"),
            (Tag::Own, Network::Mainline) | (Tag::Missing, _) => None,
            (Tag::Other, _) => Some(b"elsewhere"),
        }
    }

    fn deliver(&mut self, from: SocketAddr, message: &Message<'_>) {
        if let Ok(bytes) = message.to_vec() {
            self.node.handle_input(self.now, from, &bytes);
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Raw { from, bytes } => self.node.handle_input(self.now, source(from), &bytes),
            Step::Query {
                from,
                tid,
                id,
                kind,
                tag,
                read_only,
                want,
            } => {
                let id = Id(id);
                let want = Want {
                    n4: want & 1 != 0,
                    n6: want & 2 != 0,
                };
                let query = match &kind {
                    QueryKind::Ping => Query::Ping { id },
                    QueryKind::FindNode(target) => Query::FindNode {
                        id,
                        target: Id(*target),
                        want,
                    },
                    QueryKind::GetPeers(info_hash) => Query::GetPeers {
                        id,
                        info_hash: Id(*info_hash),
                        want,
                    },
                    QueryKind::AnnouncePeer {
                        info_hash,
                        port,
                        token,
                        implied_port,
                    } => Query::AnnouncePeer {
                        id,
                        info_hash: Id(*info_hash),
                        port: *port,
                        token,
                        implied_port: *implied_port,
                    },
                    QueryKind::Get { target, seq } => Query::Get {
                        id,
                        target: target.id(),
                        seq: *seq,
                        want,
                    },
                    QueryKind::Put { .. } => {
                        return self.put(source(from), &tid, id, &kind, self.tag(tag));
                    }
                    QueryKind::SampleInfohashes(target) => Query::SampleInfohashes {
                        id,
                        target: Id(*target),
                        want,
                    },
                    QueryKind::Unknown(method) => Query::Unknown {
                        method,
                        id: Some(id),
                    },
                };
                let message = Message {
                    transaction_id: &tid,
                    version: None,
                    requester_ip: None,
                    read_only,
                    network: self.tag(tag),
                    body: Body::Query(query),
                };
                self.deliver(source(from), &message);
            }
            Step::Reply {
                pick,
                from_elsewhere,
                id,
                answer,
                tag,
            } => {
                if self.sent.is_empty() {
                    return;
                }
                let (to, tid) = self.sent[usize::from(pick) % self.sent.len()].clone();
                let from = if from_elsewhere { source(pick) } else { to };
                let (compact, compact6) = match &answer {
                    Answer::Response { nodes, nodes6, .. } => {
                        (compact_nodes(nodes, false), compact_nodes(nodes6, true))
                    }
                    Answer::Error { .. } => (Vec::new(), Vec::new()),
                };
                let values: Vec<SocketAddr> = match &answer {
                    Answer::Response { values, .. } => values
                        .iter()
                        .take(60)
                        .map(|&(host, port, v6)| {
                            if v6 {
                                peer6(host, port)
                            } else {
                                peer(host, port)
                            }
                        })
                        .collect(),
                    Answer::Error { .. } => Vec::new(),
                };
                let body = match &answer {
                    Answer::Response {
                        nodes,
                        nodes6,
                        values: v,
                        token,
                        samples,
                        ..
                    } => Body::Response(Response {
                        id: Id(id),
                        nodes: (!nodes.is_empty())
                            .then(|| CompactNodes::new(&compact))
                            .flatten(),
                        nodes6: (!nodes6.is_empty())
                            .then(|| CompactNodes::new_v6(&compact6))
                            .flatten(),
                        values: (!v.is_empty()).then_some(PeerList::Addrs(&values)),
                        token: token.as_deref(),
                        item: ItemFields::default(),
                        samples: samples.as_ref().map(|(interval, num, keys)| Samples {
                            interval: *interval,
                            num: *num,
                            samples: keys,
                        }),
                    }),
                    Answer::Error { code, message } => Body::Error(ErrorBody {
                        code: *code,
                        message,
                    }),
                };
                let item_value = match &answer {
                    Answer::Response {
                        item: Some((bytes, _)),
                        ..
                    } => value(bytes),
                    _ => Vec::new(),
                };
                let body = match (body, &answer) {
                    (
                        Body::Response(mut r),
                        Answer::Response {
                            item: Some((_, signed)),
                            ..
                        },
                    ) => {
                        r.item.value = Some(&item_value);
                        if let Some(signed) = signed {
                            let fields = signed.fields(&item_value);
                            r.item.key = Some(fields.key);
                            r.item.signature = Some(fields.signature);
                            r.item.seq = Some(fields.seq);
                        }
                        Body::Response(r)
                    }
                    (body, _) => body,
                };
                let message = Message {
                    transaction_id: &tid,
                    version: None,
                    requester_ip: None,
                    read_only: false,
                    network: self.tag(tag),
                    body,
                };
                self.deliver(from, &message);
            }
            Step::Advance { ms } => {
                self.now += Duration::from_millis(u64::from(ms % MAX_STEP_MS));
                if self
                    .node
                    .poll_timeout()
                    .is_some_and(|deadline| deadline <= self.now)
                {
                    self.node.handle_timeout(self.now);
                }
            }
            Step::Command(command) => {
                let now = self.now;
                match command {
                    Command::Bootstrap(n) => {
                        let addrs: Vec<SocketAddr> = (0..n % 6).map(source).collect();
                        self.node.bootstrap(now, &addrs);
                    }
                    Command::FindNode(target) => {
                        self.node.find_node(now, Id(target));
                    }
                    Command::GetPeers(info_hash) => {
                        self.node.get_peers(now, Id(info_hash));
                    }
                    Command::Announce {
                        info_hash,
                        port,
                        keep,
                    } => {
                        self.node.announce(now, Id(info_hash), port, keep);
                    }
                    Command::StopAnnounce(info_hash) => self.node.stop_announce(Id(info_hash)),
                    Command::Ping(n) => {
                        self.node.ping(now, source(n));
                    }
                    Command::Sample(n, target) => {
                        self.node.sample_infohashes(now, source(n), Id(target));
                    }
                    Command::GetImmutable(target) => {
                        self.node.get_immutable(now, target.id());
                    }
                    Command::GetMutable { key: k, salt } => {
                        let _ = self.node.get_mutable(now, key(k).public_key(), &salt);
                    }
                    Command::PutImmutable(bytes) => {
                        if let Ok(v) = Value::new(&value(&bytes)) {
                            self.node.put_immutable(now, v);
                        }
                    }
                    Command::PutMutable {
                        key: k,
                        salt,
                        seq,
                        value: bytes,
                        cas,
                    } => {
                        let item = Value::new(&value(&bytes)).ok().and_then(|v| {
                            tokengo_core::item::MutableItem::sign(&key(k), &salt, seq, v).ok()
                        });
                        if let Some(item) = item {
                            self.node.put_mutable(now, item, cas);
                        }
                    }
                    Command::AddContact(id, host) => {
                        self.node.add_contact(
                            now,
                            NodeInfo {
                                id: Id(id),
                                addr: peer(host, 6881),
                            },
                        );
                    }
                }
            }
        }
        self.drain_and_check();
    }

    /// Delivers a put, first asking for a token with a get when the step wants a valid one.
    fn put(
        &mut self,
        from: SocketAddr,
        tid: &[u8],
        id: Id,
        kind: &QueryKind,
        network: Option<&'static [u8]>,
    ) {
        let QueryKind::Put {
            token,
            value: bytes,
            mutable,
        } = kind
        else {
            return;
        };
        let v = value(bytes);
        let token = match token {
            Some(token) => token.clone(),
            None => {
                let get = Message {
                    transaction_id: b"tk",
                    version: None,
                    requester_ip: None,
                    read_only: false,
                    network,
                    body: Body::Query(Query::Get {
                        id,
                        target: Id([0; 20]),
                        seq: None,
                        want: Want::UNSAID,
                    }),
                };
                self.deliver(from, &get);
                let mut token = Vec::new();
                while let Some(t) = self.node.poll_transmit() {
                    if let Ok(Message {
                        body: Body::Response(r),
                        ..
                    }) = decode(&t.payload)
                        && t.to == from
                    {
                        token = r.token.unwrap_or_default().to_vec();
                    }
                }
                token
            }
        };
        let message = Message {
            transaction_id: tid,
            version: None,
            requester_ip: None,
            read_only: false,
            network,
            body: Body::Query(Query::Put {
                id,
                token: &token,
                value: &v,
                mutable: mutable.as_ref().map(|m| m.fields(&v)),
            }),
        };
        self.deliver(from, &message);
    }

    fn drain_and_check(&mut self) {
        while let Some(transmit) = self.node.poll_transmit() {
            assert!(
                transmit.payload.len() < MAX_DATAGRAM,
                "{}-byte datagram",
                transmit.payload.len()
            );
            let message = decode(&transmit.payload).unwrap_or_else(|e| {
                panic!(
                    "the node sent what we cannot decode ({e}): {}",
                    transmit.payload.escape_ascii()
                )
            });
            assert_eq!(
                message.network,
                self.config.network.tag(),
                "sent with the wrong tag"
            );
            if let Body::Query(_) = message.body {
                if self.sent.len() == REMEMBERED_QUERIES {
                    self.sent.remove(0);
                }
                self.sent
                    .push((transmit.to, message.transaction_id.to_vec()));
            }
        }
        while self.node.poll_event().is_some() {}
        let stats = self.node.stats();
        let c = &self.config;
        assert!(
            stats.transactions_in_flight <= c.max_transactions,
            "{stats:?}"
        );
        assert!(stats.stored_keys <= c.max_stored_keys, "{stats:?}");
        assert!(stats.stored_items <= c.max_stored_items, "{stats:?}");
        assert!(
            stats.stored_item_bytes <= c.max_stored_item_bytes,
            "{stats:?}"
        );
        assert!(stats.active_lookups <= c.max_lookups, "{stats:?}");
        assert!(
            stats.stored_peers <= c.max_stored_keys * c.max_peers_per_key,
            "{stats:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    // Small bounds, so that inputs reach them.
    let config = Config {
        seed: input.seed,
        network: if input.mainline {
            Network::Mainline
        } else {
            Network::tokengo()
        },
        read_only: input.read_only,
        ipv6: input.ipv6,
        max_transactions: 16,
        max_stored_keys: 4,
        max_stored_items: 4,
        max_stored_item_bytes: 2000,
        max_stored_items_per_ip: 2,
        max_peers_per_key: 8,
        max_lookups: 3,
        max_lookup_candidates: 16,
        ..Config::default()
    };
    let now = Instant::now();
    let node = Node::new(config.clone(), now);
    let mut harness = Harness {
        node,
        config,
        now,
        sent: Vec::new(),
    };
    for step in input.steps.into_iter().take(256) {
        harness.step(step);
    }
});
