//! What a node answers its callers.

use tokengo_core::item::Item;
use tokengo_core::{Id, LookupStats, Node, NodeInfo, Stats};

/// The result of a find_node lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindNodeReport {
    /// The closest nodes that answered, closest first.
    pub closest: Vec<NodeInfo>,
    /// The lookup's counts and timings.
    pub stats: LookupStats,
}

/// The result of one announce round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceReport {
    /// Nodes that acknowledged our `announce_peer`.
    pub accepted: usize,
    /// Counts and timings of the get_peers lookup in front of it.
    pub stats: LookupStats,
}

/// The result of a BEP 44 get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetReport {
    /// The target looked up.
    pub target: Id,
    /// The item found (for a mutable item, the valid one with the highest sequence number).
    pub item: Option<Item>,
    /// The lookup's counts and timings.
    pub stats: LookupStats,
}

/// The result of a BEP 44 put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// Where the item is stored.
    pub target: Id,
    /// Nodes that stored it.
    pub accepted: usize,
    /// The KRPC error codes of the nodes that refused it (302: an older sequence number).
    pub refused: Vec<i64>,
    /// Counts and timings of the get lookup in front of it.
    pub stats: LookupStats,
}

/// What a node leaves behind when it shuts down: enough to restore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The node's id.
    pub id: Id,
    /// The routing table's good and questionable contacts.
    pub contacts: Vec<NodeInfo>,
    /// The node's counters and sizes at shutdown.
    pub stats: Stats,
}

impl Snapshot {
    /// The current state of `node`.
    pub fn of(node: &Node) -> Snapshot {
        Snapshot {
            id: node.id(),
            contacts: node.contacts(),
            stats: node.stats(),
        }
    }
}
