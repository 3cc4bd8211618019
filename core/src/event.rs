//! What a node reports to its application.

use crate::id::Id;
use crate::item::Item;
use crate::krpc::NodeInfo;
use std::net::SocketAddr;
use std::time::Duration;

/// Identifies a command (bootstrap, lookup, announce, ping); its events carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

/// Which kind of lookup finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// A find_node lookup the application asked for.
    FindNode,
    /// A get_peers lookup the application asked for.
    GetPeers,
    /// The get_peers lookup in front of an announce.
    Announce,
    /// The self-lookup of a bootstrap.
    Bootstrap,
    /// A find_node lookup of a random id in one bucket: a bucket refresh, or the far-bucket
    /// step of a bootstrap.
    Refresh,
    /// A BEP 44 `get` lookup the application asked for.
    Get,
    /// The BEP 44 `get` lookup in front of a put.
    Put,
}

/// Counts and timings of one finished lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupStats {
    /// Requests sent (retries included).
    pub queried: u32,
    /// Nodes that answered.
    pub answered: u32,
    /// Requests that reached the full timeout (they count as failures).
    pub timed_out: u32,
    /// Requests that passed the short timeout, freeing their slot (a late answer still counts).
    pub short_timeouts: u32,
    /// Nodes that answered with a KRPC error.
    pub errors: u32,
    /// Distinct peers found (get_peers).
    pub peers: u32,
    /// A get_peers lookup whose k closest held no peer asked on to the 2k closest.
    pub widened: bool,
    /// From the start to the first peer, if any was found.
    pub time_to_first_peer: Option<Duration>,
    /// From the start to completion.
    pub duration: Duration,
}

/// A BEP 51 sample of the info hashes one node stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// How long the node asks us to wait before sampling it again.
    pub interval: Duration,
    /// How many info hashes it stores.
    pub num: u64,
    /// The sampled info hashes.
    pub samples: Vec<Id>,
    /// The nodes it knows closest to the target asked for.
    pub nodes: Vec<NodeInfo>,
}

/// An event from the node; drain them with [`Node::poll_event`](crate::Node::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A bootstrap finished; `table_size` is 0 when nobody answered (a retry is scheduled).
    Bootstrapped {
        /// The bootstrap command (or the re-bootstrap the node started itself).
        query: QueryId,
        /// Nodes in the routing table once it finished.
        table_size: usize,
    },
    /// A get_peers lookup (or announce) found a peer; emitted once per distinct peer as it arrives.
    PeerFound {
        /// The get_peers or announce command.
        query: QueryId,
        /// What the lookup looks for.
        info_hash: Id,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A find_node or get_peers lookup finished; `closest` are the closest nodes that answered.
    LookupDone {
        /// The find_node or get_peers command.
        query: QueryId,
        /// [`LookupKind::FindNode`] or [`LookupKind::GetPeers`].
        kind: LookupKind,
        /// The id (or info hash) looked up.
        target: Id,
        /// Counts and timings of the lookup.
        stats: LookupStats,
        /// The closest nodes that answered, closest first.
        closest: Vec<NodeInfo>,
    },
    /// An announce finished: `accepted` nodes acknowledged our announce_peer.
    AnnounceDone {
        /// The announce command (or the re-announce the node started itself).
        query: QueryId,
        /// What we announced.
        info_hash: Id,
        /// Nodes that acknowledged our announce_peer.
        accepted: usize,
        /// Counts and timings of the get_peers lookup in front of it.
        stats: LookupStats,
    },
    /// A BEP 44 get finished: `item` is the item found (for a mutable item, the valid one with
    /// the highest sequence number), `None` when no node had it.
    GetDone {
        /// The get command.
        query: QueryId,
        /// The target looked up.
        target: Id,
        /// The item found.
        item: Option<Item>,
        /// Counts and timings of the lookup.
        stats: LookupStats,
    },
    /// A BEP 44 put finished: `accepted` nodes stored the item; `refused` are the error codes
    /// of the nodes that did not (302 for an older sequence number, for example).
    PutDone {
        /// The put command.
        query: QueryId,
        /// Where the item is stored.
        target: Id,
        /// Nodes that acknowledged our put.
        accepted: usize,
        /// The KRPC error codes of the nodes that refused it.
        refused: Vec<i64>,
        /// Counts and timings of the get lookup in front of it.
        stats: LookupStats,
    },
    /// A BEP 51 sample_infohashes got an answer (`sample`) or timed out or failed (`None`).
    Sampled {
        /// The sample command.
        query: QueryId,
        /// The node asked.
        addr: SocketAddr,
        /// What it answered.
        sample: Option<Sample>,
    },
    /// A ping got an answer (`id` is the responder's) or timed out (`id` is `None`).
    Pong {
        /// The ping command.
        query: QueryId,
        /// The address pinged.
        addr: SocketAddr,
        /// The responder's node id; `None` when it did not answer.
        id: Option<Id>,
    },
}
