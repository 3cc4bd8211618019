//! The application's commands: bootstrap, find_node, get_peers, announce (and stopping it),
//! ping.

use super::{Node, OwnAnnounce};
use crate::event::{Event, LookupKind, QueryId};
use crate::id::Id;
use crate::krpc::Query;
use crate::lookup::AnnouncePhase;
use crate::transaction::Purpose;
use std::net::SocketAddr;
use std::time::Instant;

impl Node {
    /// Joins the network through `addrs` plus the configured bootstrap addresses and the
    /// routing table's nodes: a lookup of our own id. Ends with [`Event::Bootstrapped`].
    /// The addresses are kept for re-bootstraps whenever the table empties.
    pub fn bootstrap(&mut self, now: Instant, addrs: &[SocketAddr]) -> QueryId {
        let usable: Vec<SocketAddr> = addrs.iter().filter_map(|a| self.usable(a)).collect();
        for addr in usable {
            if !self.routers.contains(&addr) {
                self.routers.push(addr);
            }
        }
        let query = self.next_query_id();
        self.start_bootstrap(now, query);
        query
    }

    /// Starts an iterative find_node lookup for `target`; ends with [`Event::LookupDone`].
    pub fn find_node(&mut self, now: Instant, target: Id) -> QueryId {
        let query = self.next_query_id();
        self.start_lookup(now, query, LookupKind::FindNode, target, &[]);
        query
    }

    /// Starts an iterative get_peers lookup for `info_hash`. Every distinct peer is an
    /// [`Event::PeerFound`] as soon as it arrives (peers we store ourselves come first); the
    /// lookup ends with [`Event::LookupDone`].
    pub fn get_peers(&mut self, now: Instant, info_hash: Id) -> QueryId {
        self.get_peers_via(now, info_hash, &[])
    }

    /// [`Node::get_peers`] that also asks `via` (addresses of nodes whose ids we do not know,
    /// such as bootstrap nodes; those of a family we do not speak are skipped) from the start:
    /// a one-shot lookup needs no bootstrap first, and its first answers fill the routing
    /// table as they come.
    pub fn get_peers_via(&mut self, now: Instant, info_hash: Id, via: &[SocketAddr]) -> QueryId {
        let via: Vec<SocketAddr> = via.iter().filter_map(|a| self.usable(a)).collect();
        let query = self.next_query_id();
        self.start_lookup(now, query, LookupKind::GetPeers, info_hash, &via);
        query
    }

    /// Announces that we serve `info_hash` on `port` (`None`: our datagrams' source port, sent
    /// as `implied_port`): a get_peers lookup, then announce_peer to the closest nodes that gave
    /// a token; ends with [`Event::AnnounceDone`]. We also serve the announce ourselves. With
    /// `keep`, re-announces every `announce_interval` until [`Node::stop_announce`].
    pub fn announce(
        &mut self,
        now: Instant,
        info_hash: Id,
        port: Option<u16>,
        keep: bool,
    ) -> QueryId {
        let next = keep.then(|| now + self.config.announce_interval);
        self.announced.insert(info_hash, OwnAnnounce { port, next });
        let query = self.next_query_id();
        self.start_announce(now, query, info_hash, port);
        query
    }

    pub(super) fn start_announce(
        &mut self,
        now: Instant,
        query: QueryId,
        info_hash: Id,
        port: Option<u16>,
    ) {
        self.start_lookup(now, query, LookupKind::Announce, info_hash, &[]);
        if let Some(lookup) = self.lookups.get_mut(&query) {
            lookup.announce = Some(AnnouncePhase {
                port,
                outstanding: 0,
                accepted: 0,
                started: false,
            });
        }
        // A lookup with nobody to ask finishes at once; now that the announce phase is
        // attached, let it conclude as an announce.
        self.advance(now, query);
    }

    /// Stops re-announcing `info_hash` and serving it ourselves.
    pub fn stop_announce(&mut self, info_hash: Id) {
        self.announced.remove(&info_hash);
    }

    /// Asks the node at `addr` for a BEP 51 sample of the info hashes it stores (and its nodes
    /// closest to `target`); ends with [`Event::Sampled`].
    pub fn sample_infohashes(&mut self, now: Instant, addr: SocketAddr, target: Id) -> QueryId {
        let query = self.next_query_id();
        let q = Query::SampleInfohashes {
            id: self.id,
            target,
            want: self.query_want(),
        };
        let sent = self
            .usable(&addr)
            .and_then(|to| self.send_query(now, to, None, q, Purpose::Sample(query)));
        if sent.is_none() {
            self.events.push_back(Event::Sampled {
                query,
                addr,
                sample: None,
            });
        }
        query
    }

    /// Pings one address; ends with [`Event::Pong`].
    pub fn ping(&mut self, now: Instant, addr: SocketAddr) -> QueryId {
        let query = self.next_query_id();
        let sent = self.usable(&addr).and_then(|to| {
            self.send_query(
                now,
                to,
                None,
                Query::Ping { id: self.id },
                Purpose::Ping(query),
            )
        });
        if sent.is_none() {
            self.events.push_back(Event::Pong {
                query,
                addr,
                id: None,
            });
        }
        query
    }
}
