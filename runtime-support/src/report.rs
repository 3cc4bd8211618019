//! What a node answers its callers.

use tokengo_core::{Id, LookupStats, Node, NodeInfo, Stats};

/// The result of a find_node lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindNodeReport {
    /// The closest nodes that answered, closest first.
    pub closest: Vec<NodeInfo>,
    pub stats: LookupStats,
}

/// The result of one announce round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceReport {
    /// Nodes that acknowledged our `announce_peer`.
    pub accepted: usize,
    pub stats: LookupStats,
}

/// What a node leaves behind when it shuts down: enough to restore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: Id,
    /// The routing table's good and questionable contacts.
    pub contacts: Vec<NodeInfo>,
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
