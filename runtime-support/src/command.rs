//! The requests a `Dht` handle sends to its node's loop.

use crate::channels::Channels;
use crate::report::{AnnounceReport, FindNodeReport, GetReport, PutReport, Snapshot};
use std::net::SocketAddr;
use tokengo_core::item::Item;
use tokengo_core::{Id, NodeInfo, Sample, Stats};

/// Which BEP 44 item a get looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRequest {
    /// The immutable item whose value hashes to this target.
    Immutable(Id),
    /// The mutable item of this Ed25519 public key under this salt (empty for none).
    Mutable {
        /// The public key.
        key: [u8; 32],
        /// The salt, at most 64 bytes.
        salt: Vec<u8>,
    },
}

/// A request from a `Dht` handle, with the channel its answer goes back through.
#[derive(Debug)]
pub enum Command<C: Channels> {
    /// Join the network through `addrs`; answers the routing table's size.
    Bootstrap {
        /// Resolved bootstrap addresses, kept by the node for later re-bootstraps.
        addrs: Vec<SocketAddr>,
        /// Where the table size goes.
        reply: C::Reply<usize>,
    },
    /// Start a find_node lookup for `target`; answers its closest nodes.
    FindNode {
        /// The id looked up.
        target: Id,
        /// Where the report goes.
        reply: C::Reply<FindNodeReport>,
    },
    /// Start a get_peers lookup; its peers and its end go to `updates`.
    GetPeers {
        /// The torrent whose peers are wanted.
        info_hash: Id,
        /// Nodes to ask from the start besides the routing table's (bootstrap nodes, for a
        /// lookup that does not wait for a bootstrap).
        via: Vec<SocketAddr>,
        /// Where each peer, then the end of the lookup, goes.
        updates: C::Updates,
    },
    /// Announce `info_hash`; answers how the first round went.
    Announce {
        /// The torrent we announce.
        info_hash: Id,
        /// The port we serve it on; `None`: our datagrams' source port.
        port: Option<u16>,
        /// Whether to re-announce every announce interval until stopped.
        keep: bool,
        /// Where the first round's report goes.
        reply: C::Reply<AnnounceReport>,
    },
    /// Stop re-announcing `info_hash` and serving it ourselves; answers nothing.
    StopAnnounce {
        /// The torrent no longer announced.
        info_hash: Id,
    },
    /// Look a BEP 44 item up; answers the item found.
    Get {
        /// What to look for.
        request: ItemRequest,
        /// Where the report goes.
        reply: C::Reply<GetReport>,
    },
    /// Store a BEP 44 item on the closest nodes; answers how many stored it.
    Put {
        /// The item (a mutable one already signed).
        item: Item,
        /// For a mutable item: store only where the stored item has this sequence number.
        cas: Option<i64>,
        /// Where the report goes.
        reply: C::Reply<PutReport>,
    },
    /// Ask `addr` for a BEP 51 sample of its info hashes; answers `None` when it did not
    /// answer with one in time.
    Sample {
        /// The node asked.
        addr: SocketAddr,
        /// Where its closest nodes are wanted.
        target: Id,
        /// Where the sample goes.
        reply: C::Reply<Option<Sample>>,
    },
    /// Ping `addr`; answers its id, or `None` when it did not answer in time.
    Ping {
        /// The address pinged.
        addr: SocketAddr,
        /// Where the responder's id goes.
        reply: C::Reply<Option<Id>>,
    },
    /// Answers the node's counters and sizes.
    Stats {
        /// Where the stats go.
        reply: C::Reply<Stats>,
    },
    /// Answers the routing table's contacts that are not bad.
    Contacts {
        /// Where the contacts go.
        reply: C::Reply<Vec<NodeInfo>>,
    },
    /// Adds known contacts (for example restored from disk) as questionable.
    AddContacts {
        /// The contacts to add.
        contacts: Vec<NodeInfo>,
        /// Answered once they are added.
        reply: C::Reply<()>,
    },
    /// Stop the node. The loop handles this one itself: it answers with the node's final
    /// state once it has sent what it could.
    Shutdown {
        /// Where the final state goes.
        reply: C::Reply<Snapshot>,
    },
}
