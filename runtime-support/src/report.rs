//! What a node answers its callers.

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
