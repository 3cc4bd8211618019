//! The DHT node: one state machine that owns the routing tables (one per address family,
//! BEP 32), the transactions, the lookups,
//! the token secrets and the peer store. This file holds the [`Node`] type, its constructor and
//! its drive-loop API (`handle_*`, `poll_*`) and accessors; the commands, the lookups it runs,
//! joining the network, maintenance, the replies to its own queries and sending queries each
//! live in their own file. Answering queries lives in `server.rs`.

mod commands;
mod external_vote;
mod items;
mod join;
mod local_peers;
mod lookups;
mod maintenance;
mod outgoing;
mod replies;

pub(crate) use outgoing::{MAX_DATAGRAM, count_method, push_encoded};

use crate::config::Config;
use crate::event::{Event, QueryId};
use crate::id::Id;
use crate::krpc::{self, Body, Family, NodeInfo, Want};
use crate::lookup::Lookup;
use crate::peer_store::{PeerStore, StoreLimits};
use crate::rate_limit::{Budget, RateLimiter};
use crate::rng::{KeyedStream, Rng, expand_seed};
use crate::routing::{RoutingTable, TableConfig};
use crate::rtt::RttQuantile;
use crate::stats::Stats;
use crate::storage::{ItemStore, StorageLimits};
use crate::token::Tokens;
use crate::transaction::{Deadline, Purpose, Transactions};
use crate::vote::AddressVotes;
use maintenance::MAINTENANCE_INTERVAL;
use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// A datagram for the runtime to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub to: SocketAddr,
    /// The encoded KRPC message, at most one datagram.
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
    /// What needs no secrecy: jitter, refresh targets, peer-list offsets.
    pub(crate) rng: Rng,
    /// Token secrets.
    pub(crate) secrets: KeyedStream,
    /// Transaction ids, which must not be guessable by whoever sees some of them.
    pub(crate) tids: KeyedStream,
    /// The IPv4 routing table.
    pub(crate) table: RoutingTable,
    /// The IPv6 routing table (BEP 32): the same id space, other nodes.
    pub(crate) table6: RoutingTable,
    pub(crate) transactions: Transactions,
    pub(crate) lookups: BTreeMap<QueryId, Lookup>,
    pub(crate) tokens: Tokens,
    pub(crate) limiter: RateLimiter,
    /// Queries from senders that are not verified nodes of the table, all sources together.
    pub(crate) unsolicited: Budget,
    pub(crate) store: PeerStore,
    /// BEP 44 items stored for others.
    pub(crate) items: ItemStore,
    pub(crate) announced: BTreeMap<Id, OwnAnnounce>,
    /// BEP 44 gets and puts in progress, by their lookup's query (at most one per lookup).
    pub(crate) item_ops: BTreeMap<QueryId, items::ItemOp>,
    /// Our address as others see it: from the config, or learned from BEP 42 `ip` fields.
    pub(crate) external: Option<SocketAddrV4>,
    pub(crate) routers: Vec<SocketAddr>,
    /// A high quantile of the round-trip times of every answer to our queries: the short
    /// timeout of nodes not measured.
    pub(crate) rtt: Option<RttQuantile>,
    /// Recent BEP 42 reports of our address, from which `external` is voted.
    pub(crate) address_votes: AddressVotes,
    bootstrap_running: Option<QueryId>,
    /// Far-bucket lookups a bootstrap waits for, with the bootstrap they belong to.
    join_refreshes: BTreeMap<QueryId, QueryId>,
    rebootstrap_at: Option<Instant>,
    /// When to look up our own id again after a bootstrap (see [`join::NEIGHBOURHOOD_RECHECK`]).
    neighbourhood_check_at: Option<Instant>,
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
        let seed = config
            .secret_seed
            .unwrap_or_else(|| expand_seed(config.seed));
        let id = config
            .id
            .unwrap_or_else(|| Id(KeyedStream::derive(&seed, b"node id").bytes20()));
        let mut secrets = KeyedStream::derive(&seed, b"token secrets");
        let tids = KeyedStream::derive(&seed, b"transaction ids");
        let rng = KeyedStream::derive(&seed, b"jitter").rng();
        let table = RoutingTable::new(id, table_config(&config), now);
        let table6 = RoutingTable::new(id, table_config(&config), now);
        let tokens = Tokens::new(&mut secrets, config.token_rotation, now);
        let limiter_key = [secrets.next_u64(), secrets.next_u64()];
        let limiter = RateLimiter::new(
            limiter_key,
            config.query_rate_per_ip,
            config.query_burst_per_ip,
            config.rate_limit_loopback,
        );
        let unsolicited = Budget::new(
            config.unsolicited_query_rate,
            config.unsolicited_query_burst,
        );
        let store = PeerStore::new(StoreLimits {
            max_keys: config.max_stored_keys,
            max_peers_per_key: config.max_peers_per_key,
            max_keys_per_ip: config.max_stored_keys_per_ip.max(1),
            ttl: config.peer_ttl,
        });
        let items = ItemStore::new(StorageLimits {
            max_items: config.max_stored_items,
            max_bytes: config.max_stored_item_bytes,
            max_items_per_ip: config.max_stored_items_per_ip.max(1),
            ttl: config.item_ttl,
        });
        let routers = config
            .bootstrap
            .iter()
            .map(normalize)
            .filter(|a| family_enabled(&config, Family::of(a)))
            .collect();
        Node {
            external: config.external_addr,
            rebootstrap_delay: config.rebootstrap_min,
            next_maintenance: now + MAINTENANCE_INTERVAL,
            config,
            id,
            rng,
            secrets,
            tids,
            table,
            table6,
            transactions: Transactions::default(),
            lookups: BTreeMap::new(),
            tokens,
            limiter,
            unsolicited,
            store,
            items,
            announced: BTreeMap::new(),
            item_ops: BTreeMap::new(),
            routers,
            rtt: None,
            address_votes: AddressVotes::default(),
            bootstrap_running: None,
            join_refreshes: BTreeMap::new(),
            rebootstrap_at: None,
            neighbourhood_check_at: None,
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
        let from = normalize(&from);
        if !self.has_family(Family::of(&from)) {
            self.stats.dropped.unsupported_address += 1;
            return;
        }
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
                        if let Some(id) = pending.node_id {
                            self.table_of_mut(&pending.to)
                                .set_overdue(&id, &pending.to, true);
                        }
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
            self.tokens.handle_timeout(&mut self.secrets, now);
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
        if self.neighbourhood_check_at.is_some_and(|t| t <= now) {
            self.neighbourhood_check_at = None;
            self.check_neighbourhood(now);
        }
        if now >= self.next_maintenance {
            self.maintain(now);
        }
    }

    /// The next datagram to send.
    #[must_use = "a datagram taken from the queue and dropped is never sent"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    #[must_use = "an event taken from the queue and dropped is lost"]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    #[must_use = "the deadline says when to call `handle_timeout`"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let announces = self.announced.values().filter_map(|a| a.next).min();
        [
            Some(self.next_maintenance),
            Some(self.tokens.next_rotation()),
            self.transactions.next_deadline(),
            announces,
            self.rebootstrap_at,
            self.neighbourhood_check_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn next_query_id(&mut self) -> QueryId {
        self.next_query += 1;
        QueryId(self.next_query)
    }

    /// Adds a known contact (for example restored from disk) as questionable: it must answer a
    /// query before it counts as good.
    pub fn add_contact(&mut self, now: Instant, contact: NodeInfo) {
        let contact = NodeInfo {
            addr: normalize(&contact.addr),
            ..contact
        };
        if self.has_family(Family::of(&contact.addr)) {
            self.table_of_mut(&contact.addr).on_query(contact, now);
        }
    }

    /// The routing tables' contacts that are not bad (IPv4 first), for persistence.
    pub fn contacts(&self) -> Vec<NodeInfo> {
        let mut out = self.table.closest(&self.id, usize::MAX);
        out.extend(self.table6.closest(&self.id, usize::MAX));
        out
    }

    /// The IPv4 routing table (read-only), for diagnostics and tests.
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// The IPv6 routing table (read-only), for diagnostics and tests.
    pub fn routing_table6(&self) -> &RoutingTable {
        &self.table6
    }

    /// Whether the runtime carries datagrams of `family` (see [`Config::ipv4`] and
    /// [`Config::ipv6`]).
    pub(crate) fn has_family(&self, family: Family) -> bool {
        family_enabled(&self.config, family)
    }

    /// The families this node speaks, as a `want` (BEP 32).
    pub(crate) fn families(&self) -> Want {
        Want {
            n4: self.has_family(Family::V4),
            n6: self.has_family(Family::V6),
        }
    }

    /// The routing table of `addr`'s family.
    pub(crate) fn table_of(&self, addr: &SocketAddr) -> &RoutingTable {
        match Family::of(addr) {
            Family::V4 => &self.table,
            Family::V6 => &self.table6,
        }
    }

    /// The routing table of `addr`'s family, to change.
    pub(crate) fn table_of_mut(&mut self, addr: &SocketAddr) -> &mut RoutingTable {
        match Family::of(addr) {
            Family::V4 => &mut self.table,
            Family::V6 => &mut self.table6,
        }
    }

    /// `addr` normalized, if this node speaks its family.
    pub(crate) fn usable(&self, addr: &SocketAddr) -> Option<SocketAddr> {
        let addr = normalize(addr);
        self.has_family(Family::of(&addr)).then_some(addr)
    }

    /// Whether every routing table is empty.
    pub(crate) fn tables_empty(&self) -> bool {
        self.table.is_empty() && self.table6.is_empty()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let (good4, questionable4, bad4) = self.table.counts(self.last_now);
        let (good6, questionable6, bad6) = self.table6.counts(self.last_now);
        let (good, questionable, bad) = (good4 + good6, questionable4 + questionable6, bad4 + bad6);
        Stats {
            nodes_good: good,
            nodes_questionable: questionable + bad,
            nodes_replacement: self.table.replacement_count() + self.table6.replacement_count(),
            nodes_v6: self.table6.len(),
            stored_keys: self.store.key_count(),
            stored_peers: self.store.peer_count(),
            store: self.store.counts(),
            stored_items: self.items.len(),
            stored_item_bytes: self.items.bytes(),
            nodes_secure: self
                .table
                .entries()
                .chain(self.table6.entries())
                .filter(|e| e.secure)
                .count(),
            nodes_refused_insecure: self.stats.nodes_refused_insecure
                + self.table.refused_insecure()
                + self.table6.refused_insecure(),
            active_lookups: self.lookups.len(),
            transactions_in_flight: self.transactions.len(),
            ..self.stats
        }
    }
}

/// The routing table's settings from the node's config.
pub(crate) fn table_config(config: &Config) -> TableConfig {
    TableConfig {
        k: config.k.max(1),
        replacement_cache: config.replacement_cache,
        max_nodes_per_ip: config.max_nodes_per_ip.max(1),
        stale_after: config.node_questionable_after,
        max_failures: config.node_max_failures.max(1),
        secure_ids: config.secure_id_policy_in_force(),
        wide_far_buckets: config.wide_far_buckets,
    }
}

/// `addr` in its own family: an IPv4-mapped IPv6 address is the IPv4 address it maps, and
/// an IPv6 address loses its flow info and scope (they are not part of a node's identity).
pub(crate) fn normalize(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => *addr,
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::V4(SocketAddrV4::new(ip, a.port())),
            None => SocketAddr::new(std::net::IpAddr::V6(*a.ip()), a.port()),
        },
    }
}

/// Whether a node with `config` speaks `family`.
fn family_enabled(config: &Config, family: Family) -> bool {
    match family {
        Family::V4 => config.ipv4,
        Family::V6 => config.ipv6,
    }
}
