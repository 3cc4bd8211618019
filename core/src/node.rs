//! The DHT node: one state machine that owns the routing table, lookups, the server side and
//! the peer store. Skeleton: the API is final, the behaviour is being filled in.

use crate::config::Config;
use crate::event::{Event, QueryId};
use crate::id::Id;
use crate::krpc::NodeInfo;
use crate::stats::Stats;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// A datagram for the runtime to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

/// A sans-IO BEP 5 DHT node. See the crate docs for the drive loop.
#[derive(Debug)]
pub struct Node {
    config: Config,
    id: Id,
    next_query: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Node {
    /// Creates a node. `now` starts its clocks; nothing is sent until a command or bootstrap.
    pub fn new(config: Config, now: Instant) -> Self {
        let _ = now;
        let mut rng = crate::rng::Rng::new(config.seed);
        let id = config.id.unwrap_or_else(|| Id(rng.bytes20()));
        Node { config, id, next_query: 0, transmits: VecDeque::new(), events: VecDeque::new() }
    }

    /// Our node id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds one received datagram.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let _ = (now, from, datagram);
    }

    /// Advances timers; call when `poll_timeout` passes (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn next_query_id(&mut self) -> QueryId {
        self.next_query += 1;
        QueryId(self.next_query)
    }

    /// Joins the network through `addrs` (plus the configured bootstrap addresses).
    pub fn bootstrap(&mut self, now: Instant, addrs: &[SocketAddr]) -> QueryId {
        let _ = (now, addrs);
        self.next_query_id()
    }

    /// Starts an iterative find_node lookup for `target`.
    pub fn find_node(&mut self, now: Instant, target: Id) -> QueryId {
        let _ = (now, target);
        self.next_query_id()
    }

    /// Starts an iterative get_peers lookup for `info_hash`; peers arrive as events.
    pub fn get_peers(&mut self, now: Instant, info_hash: Id) -> QueryId {
        let _ = (now, info_hash);
        self.next_query_id()
    }

    /// Announces that we serve `info_hash` on `port` (`None`: the source port, `implied_port`).
    /// With `keep`, re-announces every `announce_interval` until [`Node::stop_announce`].
    pub fn announce(&mut self, now: Instant, info_hash: Id, port: Option<u16>, keep: bool) -> QueryId {
        let _ = (now, info_hash, port, keep);
        self.next_query_id()
    }

    /// Stops re-announcing `info_hash`.
    pub fn stop_announce(&mut self, info_hash: Id) {
        let _ = info_hash;
    }

    /// Pings one address.
    pub fn ping(&mut self, now: Instant, addr: SocketAddr) -> QueryId {
        let _ = (now, addr);
        self.next_query_id()
    }

    /// Adds a known contact (for example restored from disk) as questionable: it must answer a
    /// query before it counts as good.
    pub fn add_contact(&mut self, now: Instant, contact: NodeInfo) {
        let _ = (now, contact);
    }

    /// The routing table's good and questionable contacts, for persistence.
    pub fn contacts(&self) -> Vec<NodeInfo> {
        Vec::new()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        Stats::default()
    }
}
