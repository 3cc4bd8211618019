//! The KRPC message model: what one bencoded datagram of BEP 5 (plus BEP 42 `ip`, BEP 43 `ro`,
//! BEP 44 `get`/`put`, BEP 51 `sample_infohashes` and our network tag) can say. Decoded messages borrow from the datagram; nothing is copied.

use super::decode::VALUES_ITEM_DEPTH;
use super::reader::Reader;
use crate::id::Id;
use std::net::SocketAddrV4;

/// Top-level key that carries the network tag of a private network (absent on Mainline).
pub const NETWORK_KEY: &[u8] = b"net";

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// `t`: opaque transaction id of any length, echoed unchanged in the answer.
    pub transaction_id: &'a [u8],
    /// `v`: the sender's client version, if it sent one.
    pub version: Option<&'a [u8]>,
    /// `ip`: BEP 42, the requester's address as the responder saw it (responses and errors).
    pub requester_ip: Option<SocketAddrV4>,
    /// `ro`: 1, BEP 43: the sender is read-only and must not be added to routing tables.
    pub read_only: bool,
    /// `net`: the network tag of a private network; `None` on the public Mainline DHT.
    pub network: Option<&'a [u8]>,
    /// `y` and the body it selects.
    pub body: Body<'a>,
}

/// What a message is (`y` = `q`, `r` or `e`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// `y` = `q`.
    Query(Query<'a>),
    /// `y` = `r`.
    Response(Response<'a>),
    /// `y` = `e`.
    Error(ErrorBody<'a>),
}

/// A query (`q` plus its arguments `a`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query<'a> {
    /// `ping`.
    Ping {
        /// `id`: the querying node's id.
        id: Id,
    },
    /// `find_node`.
    FindNode {
        /// `id`: the querying node's id.
        id: Id,
        /// `target`: the id whose closest nodes are wanted.
        target: Id,
    },
    /// `get_peers`.
    GetPeers {
        /// `id`: the querying node's id.
        id: Id,
        /// `info_hash`: the torrent whose peers are wanted.
        info_hash: Id,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// `id`: the querying node's id.
        id: Id,
        /// `info_hash`: the torrent the sender announces.
        info_hash: Id,
        /// `port`; ignored by the receiver when `implied_port` is set.
        port: u16,
        /// `token`: the write token from the receiver's earlier get_peers answer.
        token: &'a [u8],
        /// `implied_port`: 1: use the datagram's source port instead of `port`.
        implied_port: bool,
    },
    /// `get` (BEP 44): the item stored under `target`, if any, and the closest nodes.
    Get {
        /// `id`: the querying node's id.
        id: Id,
        /// `target`: SHA-1 of the immutable value, or of a mutable item's key and salt.
        target: Id,
        /// `seq`: the querier already has this sequence number; send a mutable value only
        /// when the stored one is newer.
        seq: Option<i64>,
    },
    /// `put` (BEP 44): store an immutable item (`v` only) or a mutable one (`k`, `sig`, `seq`).
    Put {
        /// `id`: the querying node's id.
        id: Id,
        /// `token`: the write token from the receiver's earlier `get` answer.
        token: &'a [u8],
        /// `v`: the value, one whole bencoded value (any type), as sent.
        value: &'a [u8],
        /// The mutable item's fields; `None` for an immutable put.
        mutable: Option<MutablePut<'a>>,
    },
    /// `sample_infohashes` (BEP 51): a sample of the info hashes the receiver stores, and the
    /// nodes closest to `target`.
    SampleInfohashes {
        /// `id`: the querying node's id.
        id: Id,
        /// `target`: where the closest nodes are wanted.
        target: Id,
    },
    /// A method we do not know (answered with error 204). `id` is the sender's, if readable.
    Unknown {
        /// `q`: the method name.
        method: &'a [u8],
        /// `id`: the sender's node id, when readable.
        id: Option<Id>,
    },
    /// A known method whose arguments are missing or malformed (answered with error 203).
    Malformed {
        /// `q`: the method name.
        method: &'a [u8],
    },
}

/// The fields of a mutable `put` (BEP 44). Lengths of `salt` are not checked by the codec:
/// a salt over 64 bytes is the receiver's error 207 to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutablePut<'a> {
    /// `k`: the Ed25519 public key.
    pub key: [u8; 32],
    /// `sig`: the Ed25519 signature over the signing buffer.
    pub signature: [u8; 64],
    /// `seq`: the item's sequence number.
    pub seq: i64,
    /// `salt`: distinguishes several items under one key; absent means empty.
    pub salt: Option<&'a [u8]>,
    /// `cas`: compare-and-swap: store only if the stored item's sequence number is this.
    pub cas: Option<i64>,
}

/// A stored item in a `get` answer (BEP 44): `v` alone for an immutable item, `k`, `seq`,
/// `sig` and `v` for a mutable one, or `seq` alone when the querier's is not older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemFields<'a> {
    /// `v`: the value, one whole bencoded value.
    pub value: Option<&'a [u8]>,
    /// `k`: the mutable item's public key.
    pub key: Option<[u8; 32]>,
    /// `sig`: the mutable item's signature.
    pub signature: Option<[u8; 64]>,
    /// `seq`: the mutable item's sequence number.
    pub seq: Option<i64>,
}

impl ItemFields<'_> {
    /// `true` when no item field is present.
    pub fn is_empty(&self) -> bool {
        *self == ItemFields::default()
    }
}

/// A response's return values (`r`). KRPC responses do not name their method; the requester
/// matches them to its query by transaction id and reads the fields it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// `id`: the responder's node id.
    pub id: Id,
    /// `nodes`: compact IPv4 node infos.
    pub nodes: Option<CompactNodes<'a>>,
    /// `values`: compact peer infos.
    pub values: Option<PeerList<'a>>,
    /// `token`: write token for a later `announce_peer` or `put`.
    pub token: Option<&'a [u8]>,
    /// BEP 44: the item a `get` found.
    pub item: ItemFields<'a>,
    /// BEP 51: a `sample_infohashes` answer's sample.
    pub samples: Option<Samples<'a>>,
}

/// A BEP 51 sample: `interval`, `num` and `samples` (all three present, or the answer has
/// none of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Samples<'a> {
    /// `interval`: seconds before the sample is worth asking for again.
    pub interval: i64,
    /// `num`: how many info hashes the responder stores.
    pub num: i64,
    /// `samples`: 20-byte info hashes, concatenated (a ragged tail is cut when decoding).
    pub samples: &'a [u8],
}

impl<'a> Samples<'a> {
    /// The sampled info hashes.
    pub fn iter(&self) -> impl Iterator<Item = Id> + 'a {
        self.samples.chunks_exact(20).filter_map(Id::from_slice)
    }
}

impl<'a> Response<'a> {
    /// A response carrying only the responder's id.
    pub fn with_id(id: Id) -> Self {
        Response {
            id,
            nodes: None,
            values: None,
            token: None,
            item: ItemFields::default(),
            samples: None,
        }
    }
}

/// An error (`e` = `[code, message]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody<'a> {
    /// The error code (see [`error_code`]).
    pub code: i64,
    /// The human-readable message, as sent (not necessarily UTF-8).
    pub message: &'a [u8],
}

/// BEP 5 error codes.
pub mod error_code {
    /// 201 Generic Error.
    pub const GENERIC: i64 = 201;
    /// 202 Server Error.
    pub const SERVER: i64 = 202;
    /// 203 Protocol Error: malformed packet, invalid arguments, or bad token.
    pub const PROTOCOL: i64 = 203;
    /// 204 Method Unknown.
    pub const METHOD_UNKNOWN: i64 = 204;
    /// 205 (BEP 44) Message (`v`) too big.
    pub const VALUE_TOO_BIG: i64 = 205;
    /// 206 (BEP 44) Invalid signature.
    pub const INVALID_SIGNATURE: i64 = 206;
    /// 207 (BEP 44) Salt (`salt`) too big.
    pub const SALT_TOO_BIG: i64 = 207;
    /// 301 (BEP 44) The CAS hash mismatched, re-read value and try again.
    pub const CAS_MISMATCH: i64 = 301;
    /// 302 (BEP 44) Sequence number less than current.
    pub const SEQ_LESS_THAN_CURRENT: i64 = 302;
}

/// A compact IPv4 node info: 20-byte id then 6-byte address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The node's id.
    pub id: Id,
    /// The node's IPv4 address and UDP port.
    pub addr: SocketAddrV4,
}

/// Length of one compact IPv4 node info.
pub const COMPACT_NODE_LEN: usize = 26;
/// Length of one compact IPv4 peer info.
pub const COMPACT_PEER_LEN: usize = 6;

/// The `nodes` string: a whole number of 26-byte compact node infos (a decoded string that
/// is not is cut to its whole entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactNodes<'a>(&'a [u8]);

/// The `values` list of compact peers. Decoded lists borrow the datagram (`Raw`); lists to send
/// borrow the caller's addresses (`Addrs`). Two lists are equal when they hold the same peers.
#[derive(Debug, Clone, Copy)]
pub enum PeerList<'a> {
    /// The body of a bencoded list (between `l` and `e`), well-formed (checked when decoding).
    /// Strings of 6 bytes are IPv4 peers; strings of other lengths (BEP 32's 18-byte IPv6
    /// peers, garbage) and items that are not strings are skipped by the iterator, and only
    /// the strings are encoded.
    Raw(&'a [u8]),
    /// Addresses to encode.
    Addrs(&'a [SocketAddrV4]),
}

impl<'a> CompactNodes<'a> {
    /// Wraps `bytes` if it is a whole number of compact node infos.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        bytes
            .len()
            .is_multiple_of(COMPACT_NODE_LEN)
            .then_some(CompactNodes(bytes))
    }

    /// The whole compact node infos at the start of `bytes`; a ragged tail is dropped.
    pub(crate) fn whole_entries(bytes: &'a [u8]) -> Self {
        let whole = bytes.len() - bytes.len() % COMPACT_NODE_LEN;
        CompactNodes(bytes.get(..whole).unwrap_or_default())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of node infos.
    pub fn len(&self) -> usize {
        self.0.len() / COMPACT_NODE_LEN
    }

    /// `true` when there are no node infos.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The node infos in order.
    pub fn iter(&self) -> impl Iterator<Item = NodeInfo> + 'a {
        self.0.chunks_exact(COMPACT_NODE_LEN).map(|c| {
            let mut id = [0u8; 20];
            id.copy_from_slice(&c[..20]);
            NodeInfo {
                id: Id(id),
                addr: peer_from_compact(&c[20..]),
            }
        })
    }
}

/// Reads a 6-byte compact IPv4 address (callers pass exactly 6 bytes).
pub(crate) fn peer_from_compact(b: &[u8]) -> SocketAddrV4 {
    let ip = std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    SocketAddrV4::new(ip, u16::from_be_bytes([b[4], b[5]]))
}

impl<'a> PeerList<'a> {
    /// The IPv4 peers in order.
    pub fn iter(&self) -> PeerIter<'a> {
        match *self {
            PeerList::Raw(body) => PeerIter::Raw(body),
            PeerList::Addrs(addrs) => PeerIter::Addrs(addrs.iter()),
        }
    }
}

impl PartialEq for PeerList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PeerList<'_> {}

/// Iterator over a [`PeerList`].
#[derive(Debug, Clone)]
pub enum PeerIter<'a> {
    /// Over a decoded list's compact 6-byte peer infos.
    Raw(&'a [u8]),
    /// Over a list built from addresses.
    Addrs(std::slice::Iter<'a, SocketAddrV4>),
}

impl Iterator for PeerIter<'_> {
    type Item = SocketAddrV4;

    fn next(&mut self) -> Option<SocketAddrV4> {
        match self {
            PeerIter::Addrs(it) => it.next().copied(),
            PeerIter::Raw(rest) => loop {
                // The body was checked when decoding (or is checked when encoding); anything
                // unreadable ends the iteration instead of panicking.
                let mut reader = Reader::new(rest);
                let item = match reader.peek()? {
                    b'0'..=b'9' => reader.bytes().ok(),
                    _ => {
                        reader.skip_value(VALUES_ITEM_DEPTH).ok()?;
                        None
                    }
                };
                *rest = rest.get(reader.position()..)?;
                if let Some(item) = item
                    && item.len() == COMPACT_PEER_LEN
                {
                    return Some(peer_from_compact(item));
                }
            },
        }
    }
}
