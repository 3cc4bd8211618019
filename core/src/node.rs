//! The DHT node: one state machine that owns the routing table, the transactions, the lookups,
//! the token secrets and the peer store. Answering queries lives in `server.rs`.

use crate::config::Config;
use crate::event::{Event, LookupKind, QueryId};
use crate::id::Id;
use crate::krpc::{self, Body, ErrorBody, Message, NodeInfo, Query, Response};
use crate::lookup::{AnnouncePhase, Lookup, LookupConfig};
use crate::peer_store::PeerStore;
use crate::rate_limit::RateLimiter;
use crate::rng::Rng;
use crate::routing::{Insert, RoutingTable, TableConfig};
use crate::stats::{MethodCounts, Stats};
use crate::token::Tokens;
use crate::transaction::{Deadline, Pending, Purpose, Transactions};
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// Largest datagram we build.
pub(crate) const MAX_DATAGRAM: usize = 1500;
/// How often maintenance runs (liveness pings, bucket refresh, expiry, re-bootstrap).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// Liveness pings per maintenance tick.
const PINGS_PER_TICK: usize = 4;
/// Bucket refreshes started per maintenance tick.
const REFRESHES_PER_TICK: usize = 2;

/// A datagram for the runtime to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

/// Something we announce ourselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnAnnounce {
    /// `None`: the port our datagrams come from.
    pub port: Option<u16>,
    /// When to announce again, if kept.
    pub next: Option<Instant>,
}

/// A sans-IO BEP 5 DHT node. See the crate docs for the drive loop.
#[derive(Debug)]
pub struct Node {
    pub(crate) config: Config,
    pub(crate) id: Id,
    pub(crate) rng: Rng,
    pub(crate) table: RoutingTable,
    pub(crate) transactions: Transactions,
    pub(crate) lookups: BTreeMap<QueryId, Lookup>,
    pub(crate) tokens: Tokens,
    pub(crate) limiter: RateLimiter,
    pub(crate) store: PeerStore,
    pub(crate) announced: BTreeMap<Id, OwnAnnounce>,
    /// Our address as others see it: from the config, or learned from BEP 42 `ip` fields.
    pub(crate) external: Option<SocketAddrV4>,
    pub(crate) routers: Vec<SocketAddrV4>,
    bootstrap_running: Option<QueryId>,
    /// Far-bucket lookups a bootstrap waits for, with the bootstrap they belong to.
    join_refreshes: BTreeMap<QueryId, QueryId>,
    rebootstrap_at: Option<Instant>,
    rebootstrap_delay: Duration,
    next_maintenance: Instant,
    next_query: u64,
    /// The latest `now` we were given, for snapshots taken between calls.
    last_now: Instant,
    pub(crate) stats: Stats,
    pub(crate) transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Node {
    /// Creates a node. `now` starts its clocks; nothing is sent until a command.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut rng = Rng::new(config.seed);
        let id = config.id.unwrap_or_else(|| Id(rng.bytes20()));
        let table = RoutingTable::new(
            id,
            TableConfig {
                k: config.k.max(1),
                replacement_cache: config.replacement_cache,
                max_nodes_per_ip: config.max_nodes_per_ip.max(1),
                stale_after: config.node_questionable_after,
                max_failures: config.node_max_failures.max(1),
            },
            now,
        );
        let tokens = Tokens::new(&mut rng, config.token_rotation, now);
        let limiter_key = [rng.next_u64(), rng.next_u64()];
        let limiter = RateLimiter::new(
            limiter_key,
            config.query_rate_per_ip,
            config.query_burst_per_ip,
        );
        let store = PeerStore::new(
            config.max_stored_keys,
            config.max_peers_per_key,
            config.peer_ttl,
        );
        let routers = config.bootstrap.iter().filter_map(v4).collect();
        Node {
            external: config.external_addr,
            rebootstrap_delay: config.rebootstrap_min,
            next_maintenance: now + MAINTENANCE_INTERVAL,
            config,
            id,
            rng,
            table,
            transactions: Transactions::default(),
            lookups: BTreeMap::new(),
            tokens,
            limiter,
            store,
            announced: BTreeMap::new(),
            routers,
            bootstrap_running: None,
            join_refreshes: BTreeMap::new(),
            rebootstrap_at: None,
            next_query: 0,
            last_now: now,
            stats: Stats::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our node id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Our address as others see it, when known.
    pub fn external_addr(&self) -> Option<SocketAddrV4> {
        self.external
    }

    /// Feeds one received datagram.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.last_now = self.last_now.max(now);
        let Some(from) = v4(&from) else {
            self.stats.dropped.unsupported_address += 1;
            return;
        };
        let Ok(msg) = krpc::decode(datagram) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        if msg.network != self.config.network.tag() {
            self.stats.dropped.wrong_network += 1;
            return;
        }
        match &msg.body {
            Body::Query(query) => self.handle_query(now, from, &msg, query),
            Body::Response(response) => self.handle_response(now, from, &msg, response),
            Body::Error(error) => self.handle_error(now, from, &msg, error),
        }
    }

    /// Advances timers; call when `poll_timeout` passes (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some((deadline, pending)) = self.transactions.pop_expired(now) {
            match deadline {
                Deadline::Short => {
                    if let Purpose::Lookup(query) = pending.purpose {
                        if let Some(lookup) = self.lookups.get_mut(&query) {
                            lookup.on_short_timeout(pending.to);
                        }
                        self.advance(now, query);
                    }
                }
                Deadline::Full => self.on_request_timeout(now, pending),
            }
        }
        if now >= self.tokens.next_rotation() {
            self.tokens.handle_timeout(&mut self.rng, now);
        }
        let due: Vec<Id> = self
            .announced
            .iter()
            .filter(|(_, a)| a.next.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for info_hash in due {
            if let Some(a) = self.announced.get_mut(&info_hash) {
                a.next = Some(now + self.config.announce_interval);
                let port = a.port;
                let query = self.next_query_id();
                self.start_announce(now, query, info_hash, port);
            }
        }
        if self.rebootstrap_at.is_some_and(|t| t <= now) {
            self.rebootstrap_at = None;
            if self.bootstrap_running.is_none() {
                let query = self.next_query_id();
                self.start_bootstrap(now, query);
            }
        }
        if now >= self.next_maintenance {
            self.maintain(now);
        }
    }

    fn maintain(&mut self, now: Instant) {
        // Jitter keeps a fleet that restarted together from ticking in lockstep.
        let jitter = Duration::from_millis(self.rng.below(1000));
        self.next_maintenance = now + MAINTENANCE_INTERVAL + jitter;
        self.store.expire(now);
        for info in self.table.due_for_ping(now, PINGS_PER_TICK) {
            let query = Query::Ping { id: self.id };
            if self
                .send_query(now, info.addr, Some(info.id), query, Purpose::TablePing)
                .is_none()
            {
                self.table.ping_done(&info.id);
            }
        }
        if let Some(before) = now.checked_sub(self.config.bucket_refresh) {
            let rng = &mut self.rng;
            let targets = self.table.stale_buckets(before, &mut || rng.bytes20());
            for target in targets.into_iter().take(REFRESHES_PER_TICK) {
                self.table.touch_bucket(&target, now);
                if !self.table.is_empty() && self.lookups.len() < self.config.max_lookups {
                    let query = self.next_query_id();
                    self.start_lookup(now, query, LookupKind::Refresh, target, &[]);
                }
            }
        }
        self.schedule_rebootstrap_if_empty(now);
    }

    fn schedule_rebootstrap_if_empty(&mut self, now: Instant) {
        if self.table.is_empty()
            && !self.routers.is_empty()
            && self.bootstrap_running.is_none()
            && self.rebootstrap_at.is_none()
        {
            self.rebootstrap_at = Some(now + self.rebootstrap_delay);
            self.rebootstrap_delay = (self.rebootstrap_delay * 2).min(self.config.rebootstrap_max);
        }
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
        let announces = self.announced.values().filter_map(|a| a.next).min();
        [
            Some(self.next_maintenance),
            Some(self.tokens.next_rotation()),
            self.transactions.next_deadline(),
            announces,
            self.rebootstrap_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn next_query_id(&mut self) -> QueryId {
        self.next_query += 1;
        QueryId(self.next_query)
    }

    /// Joins the network through `addrs` plus the configured bootstrap addresses and the
    /// routing table's nodes: a lookup of our own id. Ends with [`Event::Bootstrapped`].
    /// The addresses are kept for re-bootstraps whenever the table empties.
    pub fn bootstrap(&mut self, now: Instant, addrs: &[SocketAddr]) -> QueryId {
        for addr in addrs.iter().filter_map(v4) {
            if !self.routers.contains(&addr) {
                self.routers.push(addr);
            }
        }
        let query = self.next_query_id();
        self.start_bootstrap(now, query);
        query
    }

    fn start_bootstrap(&mut self, now: Instant, query: QueryId) {
        self.bootstrap_running = Some(query);
        self.rebootstrap_at = None;
        let routers = self.routers.clone();
        let target = self.id;
        self.start_lookup(now, query, LookupKind::Bootstrap, target, &routers);
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
        let query = self.next_query_id();
        self.start_lookup(now, query, LookupKind::GetPeers, info_hash, &[]);
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

    fn start_announce(&mut self, now: Instant, query: QueryId, info_hash: Id, port: Option<u16>) {
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

    /// Pings one address; ends with [`Event::Pong`].
    pub fn ping(&mut self, now: Instant, addr: SocketAddr) -> QueryId {
        let query = self.next_query_id();
        let sent = v4(&addr).and_then(|to| {
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

    /// Adds a known contact (for example restored from disk) as questionable: it must answer a
    /// query before it counts as good.
    pub fn add_contact(&mut self, now: Instant, contact: NodeInfo) {
        self.table.on_query(contact, now);
    }

    /// The routing table's contacts that are not bad, for persistence.
    pub fn contacts(&self) -> Vec<NodeInfo> {
        self.table.closest(&self.id, usize::MAX)
    }

    /// The routing table (read-only), for diagnostics and tests.
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let (good, questionable, bad) = self.table.counts(self.last_now);
        Stats {
            nodes_good: good,
            nodes_questionable: questionable + bad,
            nodes_replacement: self.table.replacement_count(),
            stored_keys: self.store.key_count(),
            stored_peers: self.store.peer_count(),
            active_lookups: self.lookups.len(),
            transactions_in_flight: self.transactions.len(),
            ..self.stats
        }
    }

    fn start_lookup(
        &mut self,
        now: Instant,
        query: QueryId,
        kind: LookupKind,
        target: Id,
        routers: &[SocketAddrV4],
    ) {
        if self.lookups.len() >= self.config.max_lookups {
            self.stats.dropped.over_limit += 1;
            let lookup = Lookup::new(
                query,
                kind,
                target,
                self.id,
                self.lookup_config(),
                &[],
                &[],
                now,
            );
            self.finish(now, lookup);
            return;
        }
        let seeds = self.table.closest(&target, self.config.k * 2);
        let mut lookup = Lookup::new(
            query,
            kind,
            target,
            self.id,
            self.lookup_config(),
            &seeds,
            routers,
            now,
        );
        if matches!(kind, LookupKind::GetPeers | LookupKind::Announce) {
            let local = self.local_peers(&target, now);
            for peer in lookup.add_peers(local.into_iter(), now) {
                self.events.push_back(Event::PeerFound {
                    query,
                    info_hash: target,
                    peer: SocketAddr::V4(peer),
                });
            }
        }
        self.lookups.insert(query, lookup);
        self.advance(now, query);
    }

    fn lookup_config(&self) -> LookupConfig {
        LookupConfig {
            k: self.config.k.max(1),
            alpha: self.config.alpha.max(1),
            retries: self.config.retries,
            max_rounds: self.config.max_rounds,
            max_candidates: self.config.max_lookup_candidates.max(self.config.k.max(1)),
        }
    }

    /// Sends what a lookup wants sent, and finishes it when it is done.
    fn advance(&mut self, now: Instant, query: QueryId) {
        let Some(lookup) = self.lookups.get_mut(&query) else {
            return;
        };
        if lookup.announce.is_some_and(|a| a.started) {
            if lookup.announce.is_some_and(|a| a.outstanding == 0)
                && let Some(lookup) = self.lookups.remove(&query)
            {
                self.finish(now, lookup);
            }
            return;
        }
        let method_get_peers = matches!(lookup.kind, LookupKind::GetPeers | LookupKind::Announce);
        let target = lookup.target;
        loop {
            let Some(lookup) = self.lookups.get_mut(&query) else {
                return;
            };
            let requests = lookup.next_requests();
            if requests.is_empty() {
                break;
            }
            for request in requests {
                let q = if method_get_peers {
                    Query::GetPeers {
                        id: self.id,
                        info_hash: target,
                    }
                } else {
                    Query::FindNode {
                        id: self.id,
                        target,
                    }
                };
                if self
                    .send_query(now, request.addr, request.id, q, Purpose::Lookup(query))
                    .is_none()
                    && let Some(lookup) = self.lookups.get_mut(&query)
                {
                    lookup.on_error(request.addr);
                }
            }
        }
        let done = self.lookups.get(&query).is_some_and(Lookup::is_done);
        if !done {
            return;
        }
        let announcing = self.lookups.get(&query).and_then(|l| l.announce);
        match announcing {
            Some(phase) if !phase.started => self.send_announces(now, query, phase),
            _ => {
                if let Some(lookup) = self.lookups.remove(&query) {
                    self.finish(now, lookup);
                }
            }
        }
    }

    fn send_announces(&mut self, now: Instant, query: QueryId, phase: AnnouncePhase) {
        let Some(lookup) = self.lookups.get_mut(&query) else {
            return;
        };
        let targets = lookup.closest_with_tokens();
        let info_hash = lookup.target;
        let mut outstanding = 0;
        for (node, token) in targets {
            let q = Query::AnnouncePeer {
                id: self.id,
                info_hash,
                port: phase.port.unwrap_or(0),
                token: &token,
                implied_port: phase.port.is_none(),
            };
            if self
                .send_query(now, node.addr, Some(node.id), q, Purpose::Announce(query))
                .is_some()
            {
                outstanding += 1;
            }
        }
        if let Some(lookup) = self.lookups.get_mut(&query) {
            lookup.announce = Some(AnnouncePhase {
                outstanding,
                started: true,
                ..phase
            });
        }
        self.advance(now, query);
    }

    fn finish(&mut self, now: Instant, mut lookup: Lookup) {
        lookup.stats.duration = now.saturating_duration_since(lookup.started);
        let query = lookup.query;
        match lookup.kind {
            LookupKind::Bootstrap => {
                if self.table.is_empty() {
                    self.bootstrap_done(now, query);
                } else {
                    self.refresh_far_buckets(now, query);
                }
            }
            LookupKind::Refresh => {
                if let Some(bootstrap) = self.join_refreshes.remove(&query)
                    && !self.join_refreshes.values().any(|b| *b == bootstrap)
                {
                    self.bootstrap_done(now, bootstrap);
                }
            }
            LookupKind::Announce => {
                let accepted = lookup.announce.map_or(0, |a| a.accepted);
                self.events.push_back(Event::AnnounceDone {
                    query,
                    info_hash: lookup.target,
                    accepted,
                    stats: lookup.stats,
                });
            }
            LookupKind::FindNode | LookupKind::GetPeers => {
                self.events.push_back(Event::LookupDone {
                    query,
                    kind: lookup.kind,
                    target: lookup.target,
                    stats: lookup.stats,
                    closest: lookup.closest(),
                });
            }
        }
    }

    /// Second step of a bootstrap: lookups into the far buckets the self-lookup left unfilled.
    /// The bootstrap ends when they all have.
    fn refresh_far_buckets(&mut self, now: Instant, bootstrap: QueryId) {
        let rng = &mut self.rng;
        let targets = self.table.unfilled_buckets(&mut || rng.bytes20());
        let room = self.config.max_lookups.saturating_sub(self.lookups.len());
        let queries: Vec<(QueryId, Id)> = targets
            .into_iter()
            .take(room)
            .map(|target| (self.next_query_id(), target))
            .collect();
        if queries.is_empty() {
            self.bootstrap_done(now, bootstrap);
            return;
        }
        for (query, _) in &queries {
            self.join_refreshes.insert(*query, bootstrap);
        }
        for (query, target) in queries {
            self.table.touch_bucket(&target, now);
            self.start_lookup(now, query, LookupKind::Refresh, target, &[]);
        }
    }

    fn bootstrap_done(&mut self, now: Instant, query: QueryId) {
        if self.bootstrap_running == Some(query) {
            self.bootstrap_running = None;
        }
        let table_size = self.table.len();
        if table_size > 0 {
            self.rebootstrap_delay = self.config.rebootstrap_min;
        } else {
            self.schedule_rebootstrap_if_empty(now);
        }
        self.events
            .push_back(Event::Bootstrapped { query, table_size });
    }

    /// Peers we can vouch for locally: those announced to us, and ourselves for what we announce.
    pub(crate) fn local_peers(&mut self, info_hash: &Id, now: Instant) -> Vec<SocketAddrV4> {
        let start = self.rng.next_u64();
        let mut peers = self.store.peers(info_hash, now, usize::MAX, start);
        if let Some(mut me) = self.self_peer(info_hash) {
            if me.ip().is_unspecified() {
                // We do not know how others reach us, but this host reaches us on loopback.
                me.set_ip(Ipv4Addr::LOCALHOST);
            }
            if !peers.contains(&me) {
                peers.insert(0, me);
            }
        }
        peers
    }

    /// Our own entry for an info hash we announce. The IP is unspecified when we do not know
    /// it; in a tagged network the requester reads that as "the node that answered".
    pub(crate) fn self_peer(&self, info_hash: &Id) -> Option<SocketAddrV4> {
        let own = self.announced.get(info_hash)?;
        let port = own
            .port
            .or(self.external.map(|e| e.port()))
            .filter(|p| *p != 0)?;
        let ip = self.external.map_or(Ipv4Addr::UNSPECIFIED, |e| *e.ip());
        Some(SocketAddrV4::new(ip, port))
    }

    fn on_request_timeout(&mut self, now: Instant, pending: Pending) {
        if let Some(id) = pending.node_id {
            self.table.on_failure(&id, &pending.to, now);
        }
        match pending.purpose {
            Purpose::Lookup(query) => {
                let retry = self
                    .lookups
                    .get_mut(&query)
                    .is_some_and(|l| l.on_timeout(pending.to));
                if retry {
                    let target = self.lookups.get(&query).map(|l| (l.kind, l.target));
                    if let Some((kind, target)) = target {
                        let q = if matches!(kind, LookupKind::GetPeers | LookupKind::Announce) {
                            Query::GetPeers {
                                id: self.id,
                                info_hash: target,
                            }
                        } else {
                            Query::FindNode {
                                id: self.id,
                                target,
                            }
                        };
                        let sent =
                            self.send_query(now, pending.to, pending.node_id, q, pending.purpose);
                        if sent.is_none()
                            && let Some(l) = self.lookups.get_mut(&query)
                        {
                            l.on_error(pending.to);
                        }
                    }
                }
                self.advance(now, query);
            }
            Purpose::Announce(query) => self.announce_answered(now, query, false),
            Purpose::Ping(query) => self.events.push_back(Event::Pong {
                query,
                addr: SocketAddr::V4(pending.to),
                id: None,
            }),
            Purpose::TablePing => {}
        }
        self.schedule_rebootstrap_if_empty(now);
    }

    fn announce_answered(&mut self, now: Instant, query: QueryId, accepted: bool) {
        if let Some(phase) = self
            .lookups
            .get_mut(&query)
            .and_then(|l| l.announce.as_mut())
        {
            phase.outstanding = phase.outstanding.saturating_sub(1);
            phase.accepted += usize::from(accepted);
        }
        self.advance(now, query);
    }

    fn handle_response(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        msg: &Message<'_>,
        r: &Response<'_>,
    ) {
        let Some(pending) = self.transactions.take(msg.transaction_id, from) else {
            self.stats.dropped.unexpected += 1;
            return;
        };
        self.stats.responses_in += 1;
        if let Some(ip) = msg.requester_ip {
            self.learn_external(ip);
        }
        if !msg.read_only
            && let Insert::Parked { ping: Some(stale) } = self.table.on_response(
                NodeInfo {
                    id: r.id,
                    addr: from,
                },
                now,
            )
        {
            let q = Query::Ping { id: self.id };
            if self
                .send_query(now, stale.addr, Some(stale.id), q, Purpose::TablePing)
                .is_none()
            {
                self.table.ping_done(&stale.id);
            }
        }
        match pending.purpose {
            Purpose::Lookup(query) => {
                let tagged = self.config.network.tag().is_some();
                let Some(lookup) = self.lookups.get_mut(&query) else {
                    return;
                };
                let nodes = r.nodes.iter().flat_map(|n| n.iter());
                lookup.on_response(from, r.id, nodes, r.token);
                if let Some(values) = &r.values {
                    let peers = values.iter().map(|peer| {
                        if tagged && peer.ip().is_unspecified() {
                            // Our private network's way to say "me": the responder's own IP.
                            SocketAddrV4::new(*from.ip(), peer.port())
                        } else {
                            peer
                        }
                    });
                    let target = lookup.target;
                    for peer in lookup.add_peers(peers, now) {
                        self.events.push_back(Event::PeerFound {
                            query,
                            info_hash: target,
                            peer: SocketAddr::V4(peer),
                        });
                    }
                }
                self.advance(now, query);
            }
            Purpose::Announce(query) => self.announce_answered(now, query, true),
            Purpose::Ping(query) => self.events.push_back(Event::Pong {
                query,
                addr: SocketAddr::V4(from),
                id: Some(r.id),
            }),
            Purpose::TablePing => {}
        }
    }

    fn handle_error(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        msg: &Message<'_>,
        _e: &ErrorBody<'_>,
    ) {
        let Some(pending) = self.transactions.take(msg.transaction_id, from) else {
            self.stats.dropped.unexpected += 1;
            return;
        };
        self.stats.errors_in += 1;
        if let Some(id) = pending.node_id {
            self.table.ping_done(&id);
        }
        match pending.purpose {
            Purpose::Lookup(query) => {
                if let Some(lookup) = self.lookups.get_mut(&query) {
                    lookup.on_error(from);
                }
                self.advance(now, query);
            }
            Purpose::Announce(query) => self.announce_answered(now, query, false),
            Purpose::Ping(query) => self.events.push_back(Event::Pong {
                query,
                addr: SocketAddr::V4(from),
                id: None,
            }),
            Purpose::TablePing => {}
        }
    }

    fn learn_external(&mut self, seen: SocketAddrV4) {
        let configured = self
            .config
            .external_addr
            .is_some_and(|a| !a.ip().is_unspecified());
        if !configured && !seen.ip().is_unspecified() {
            self.external = Some(seen);
        }
    }

    /// Encodes and queues a query; records the transaction. `None` when a bound or the
    /// encoder refused.
    pub(crate) fn send_query(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        node_id: Option<Id>,
        query: Query<'_>,
        purpose: Purpose,
    ) -> Option<u32> {
        if self.transactions.len() >= self.config.max_transactions {
            self.stats.dropped.over_limit += 1;
            return None;
        }
        let mut tid = self.rng.next_u64() as u32;
        while self.transactions.contains(tid) {
            tid = tid.wrapping_add(1);
        }
        let tid_bytes = tid.to_be_bytes();
        count_method(&mut self.stats.queries_out, &query);
        let msg = Message {
            transaction_id: &tid_bytes,
            version: self.config.version.as_ref().map(|v| &v[..]),
            requester_ip: None,
            read_only: self.config.read_only,
            network: self.config.network.tag(),
            body: Body::Query(query),
        };
        if !push_encoded(&mut self.transmits, SocketAddr::V4(to), &msg, MAX_DATAGRAM) {
            return None;
        }
        let short_deadline =
            matches!(purpose, Purpose::Lookup(_)).then(|| now + self.config.short_timeout);
        self.transactions.insert(
            tid,
            Pending {
                to,
                node_id,
                purpose,
                sent_at: now,
                short_deadline,
                deadline: now + self.config.full_timeout,
            },
        );
        Some(tid)
    }
}

/// Encodes `msg` (at most `limit` bytes) and queues it for `to`; `false` if it does not fit.
pub(crate) fn push_encoded(
    out: &mut VecDeque<Transmit>,
    to: SocketAddr,
    msg: &Message<'_>,
    limit: usize,
) -> bool {
    let mut buf = [0u8; MAX_DATAGRAM];
    let limit = limit.min(MAX_DATAGRAM);
    match msg.encode(&mut buf[..limit]) {
        Ok(len) => {
            out.push_back(Transmit {
                to,
                payload: buf[..len].to_vec(),
            });
            true
        }
        Err(_) => false,
    }
}

/// Counts a query under its method.
pub(crate) fn count_method(counts: &mut MethodCounts, query: &Query<'_>) {
    match query {
        Query::Ping { .. } => counts.ping += 1,
        Query::FindNode { .. } => counts.find_node += 1,
        Query::GetPeers { .. } => counts.get_peers += 1,
        Query::AnnouncePeer { .. } => counts.announce_peer += 1,
        Query::Unknown { .. } | Query::Malformed { .. } => counts.other += 1,
    }
}

/// The IPv4 form of an address (IPv4-mapped IPv6 included); `None` for real IPv6.
pub(crate) fn v4(addr: &SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Some(*a),
        SocketAddr::V6(a) => a
            .ip()
            .to_ipv4_mapped()
            .map(|ip| SocketAddrV4::new(ip, a.port())),
    }
}
