//! The requests a `Dht` handle sends to its node's loop.

use crate::channels::Channels;
use crate::report::{AnnounceReport, FindNodeReport, Snapshot};
use std::net::SocketAddr;
use tokengo_core::{Id, NodeInfo, Stats};

/// A request from a `Dht` handle, with the channel its answer goes back through.
#[derive(Debug)]
pub enum Command<C: Channels> {
    /// Join the network through `addrs`; answers the routing table's size.
    Bootstrap {
        addrs: Vec<SocketAddr>,
        reply: C::Reply<usize>,
    },
    FindNode {
        target: Id,
        reply: C::Reply<FindNodeReport>,
    },
    /// Start a get_peers lookup; its peers and its end go to `updates`.
    GetPeers {
        info_hash: Id,
        updates: C::Updates,
    },
    /// Announce `info_hash`; answers how the first round went.
    Announce {
        info_hash: Id,
        port: Option<u16>,
        keep: bool,
        reply: C::Reply<AnnounceReport>,
    },
    StopAnnounce {
        info_hash: Id,
    },
    /// Ping `addr`; answers its id, or `None` when it did not answer in time.
    Ping {
        addr: SocketAddr,
        reply: C::Reply<Option<Id>>,
    },
    Stats {
        reply: C::Reply<Stats>,
    },
    Contacts {
        reply: C::Reply<Vec<NodeInfo>>,
    },
    AddContacts {
        contacts: Vec<NodeInfo>,
        reply: C::Reply<()>,
    },
    /// Stop the node. The loop handles this one itself: it answers with the node's final
    /// state once it has sent what it could.
    Shutdown {
        reply: C::Reply<Snapshot>,
    },
}
