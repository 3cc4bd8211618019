//! The KRPC message model: what one bencoded datagram of BEP 5 (plus BEP 42 `ip`, BEP 43 `ro`,
//! BEP 32 `nodes6`/`want`, BEP 44 `get`/`put`, BEP 51 `sample_infohashes` and our network tag)
//! can say. Decoded messages borrow from the datagram; nothing is copied.

use super::decode::VALUES_ITEM_DEPTH;
use super::reader::Reader;
use crate::id::Id;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Top-level key that carries the network tag of a private network (absent on Mainline).
pub const NETWORK_KEY: &[u8] = b"net";

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// `t`: opaque transaction id of any length, echoed unchanged in the answer.
    pub transaction_id: &'a [u8],
    /// `v`: the sender's client version, if it sent one.
    pub version: Option<&'a [u8]>,
    /// `ip`: BEP 42, the requester's address as the responder saw it (responses and errors):
    /// 6 bytes for IPv4, 18 for IPv6 (other lengths read as absent).
    pub requester_ip: Option<SocketAddr>,
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
        /// `want` (BEP 32): which families of nodes to answer with.
        want: Want,
    },
    /// `get_peers`.
    GetPeers {
        /// `id`: the querying node's id.
        id: Id,
        /// `info_hash`: the torrent whose peers are wanted.
        info_hash: Id,
        /// `want` (BEP 32): which families of nodes to answer with.
        want: Want,
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
        /// `want` (BEP 32): which families of nodes to answer with.
        want: Want,
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
        /// `want` (BEP 32): which families of nodes to answer with.
        want: Want,
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
    /// `nodes6` (BEP 32): compact IPv6 node infos.
    pub nodes6: Option<CompactNodes<'a>>,
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
            nodes6: None,
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

/// BEP 32 `want`: the address families whose nodes a querier asks for. Neither set means the
/// querier did not say, and gets the family of the address it asked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Want {
    /// `n4`: IPv4 nodes, in `nodes`.
    pub n4: bool,
    /// `n6`: IPv6 nodes, in `nodes6`.
    pub n6: bool,
}

impl Want {
    /// Nothing asked for: the querier's own family.
    pub const UNSAID: Want = Want {
        n4: false,
        n6: false,
    };
    /// Both families.
    pub const BOTH: Want = Want { n4: true, n6: true };

    /// `true` when the query carried a `want` naming a family we know.
    pub fn is_said(&self) -> bool {
        self.n4 || self.n6
    }

    /// What the querier gets, given the address it asked from: what it said, or its family.
    pub fn resolve(&self, from: &SocketAddr) -> Want {
        if self.is_said() {
            *self
        } else {
            Want {
                n4: from.is_ipv4(),
                n6: from.is_ipv6(),
            }
        }
    }

    /// Reads the body of a decoded `want` list: strings `n4` and `n6` count, other items
    /// (unknown families, garbage) are ignored.
    pub(crate) fn from_list_body(body: &[u8]) -> Want {
        let mut want = Want::UNSAID;
        for item in list_strings(body) {
            match item {
                b"n4" => want.n4 = true,
                b"n6" => want.n6 = true,
                _ => {}
            }
        }
        want
    }
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// Length of one compact node info of this family.
    pub fn node_len(self) -> usize {
        match self {
            Family::V4 => COMPACT_NODE_LEN,
            Family::V6 => COMPACT_NODE6_LEN,
        }
    }
}

/// A compact node info: 20-byte id then the compact address (6 bytes IPv4, 18 bytes IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The node's id.
    pub id: Id,
    /// The node's address and UDP port.
    pub addr: SocketAddr,
}

/// Length of one compact IPv4 node info.
pub const COMPACT_NODE_LEN: usize = 26;
/// Length of one compact IPv6 node info (BEP 32).
pub const COMPACT_NODE6_LEN: usize = 38;
/// Length of one compact IPv4 peer info.
pub const COMPACT_PEER_LEN: usize = 6;
/// Length of one compact IPv6 peer info (BEP 32).
pub const COMPACT_PEER6_LEN: usize = 18;

/// A `nodes` (IPv4) or `nodes6` (IPv6) string: a whole number of compact node infos of its
/// family (a decoded string that is not is cut to its whole entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactNodes<'a> {
    bytes: &'a [u8],
    family: Family,
}

/// The `values` list of compact peers. Decoded lists borrow the datagram (`Raw`); lists to send
/// borrow the caller's addresses (`Addrs`). Two lists are equal when they hold the same peers.
#[derive(Debug, Clone, Copy)]
pub enum PeerList<'a> {
    /// The body of a bencoded list (between `l` and `e`), well-formed (checked when decoding).
    /// Strings of 6 bytes are IPv4 peers, of 18 bytes IPv6 peers (BEP 32); strings of other
    /// lengths and items that are not strings are skipped by the iterator, and only the
    /// strings are encoded.
    Raw(&'a [u8]),
    /// Addresses to encode (6 bytes each for IPv4, 18 for IPv6).
    Addrs(&'a [SocketAddr]),
}

impl<'a> CompactNodes<'a> {
    /// Wraps `bytes` as IPv4 `nodes` if it is a whole number of 26-byte node infos.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        Self::of_family(bytes, Family::V4)
    }

    /// Wraps `bytes` as IPv6 `nodes6` if it is a whole number of 38-byte node infos.
    pub fn new_v6(bytes: &'a [u8]) -> Option<Self> {
        Self::of_family(bytes, Family::V6)
    }

    /// Wraps `bytes` if it is a whole number of node infos of `family`.
    pub fn of_family(bytes: &'a [u8], family: Family) -> Option<Self> {
        bytes
            .len()
            .is_multiple_of(family.node_len())
            .then_some(CompactNodes { bytes, family })
    }

    /// The whole compact node infos at the start of `bytes`; a ragged tail is dropped.
    pub(crate) fn whole_entries(bytes: &'a [u8], family: Family) -> Self {
        let whole = bytes.len() - bytes.len() % family.node_len();
        CompactNodes {
            bytes: bytes.get(..whole).unwrap_or_default(),
            family,
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The family of its addresses.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Number of node infos.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.family.node_len()
    }

    /// `true` when there are no node infos.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The node infos in order.
    pub fn iter(&self) -> impl Iterator<Item = NodeInfo> + use<'a> {
        self.bytes
            .chunks_exact(self.family.node_len())
            .filter_map(|c| {
                Some(NodeInfo {
                    id: Id::from_slice(c.get(..20)?)?,
                    addr: peer_from_compact(c.get(20..)?)?,
                })
            })
    }
}

/// Reads a compact address: 6 bytes IPv4, 18 bytes IPv6; `None` for any other length.
pub(crate) fn peer_from_compact(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        COMPACT_PEER_LEN => {
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be_bytes([b[4], b[5]]),
            )))
        }
        COMPACT_PEER6_LEN => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[16], b[17]]);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                0,
                0,
            )))
        }
        _ => None,
    }
}

impl<'a> PeerList<'a> {
    /// The peers in order, both families.
    pub fn iter(&self) -> PeerIter<'a> {
        match *self {
            PeerList::Raw(body) => PeerIter::Raw(ListStrings(body)),
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
    /// Over a decoded list's compact peer infos.
    Raw(ListStrings<'a>),
    /// Over a list built from addresses.
    Addrs(std::slice::Iter<'a, SocketAddr>),
}

impl Iterator for PeerIter<'_> {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        match self {
            PeerIter::Addrs(it) => it.next().copied(),
            PeerIter::Raw(strings) => strings.find_map(peer_from_compact),
        }
    }
}

/// The strings of a decoded list's body, in order; other items are skipped.
pub(crate) fn list_strings(body: &[u8]) -> ListStrings<'_> {
    ListStrings(body)
}

/// Iterator over the strings of a decoded list's body, in order; other items are skipped.
#[derive(Debug, Clone)]
pub struct ListStrings<'a>(&'a [u8]);

impl<'a> Iterator for ListStrings<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            // The body was checked when decoding (or is checked when encoding); anything
            // unreadable ends the iteration instead of panicking.
            let mut reader = Reader::new(self.0);
            let item = match reader.peek()? {
                b'0'..=b'9' => Some(reader.bytes().ok()?),
                _ => {
                    reader.skip_value(VALUES_ITEM_DEPTH).ok()?;
                    None
                }
            };
            self.0 = self.0.get(reader.position()..)?;
            if item.is_some() {
                return item;
            }
        }
    }
}
