//! Node configuration: every tunable and every bound, with BEP 5's defaults.

use crate::id::Id;
use crate::secure_id::SecureIdPolicy;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

/// Which DHT a node belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The public BitTorrent Mainline DHT: messages carry no tag; tagged messages are dropped.
    Mainline,
    /// A private network: every message carries this tag; messages without it are dropped.
    Tagged(Vec<u8>),
}

impl Network {
    /// The private tokengo network.
    pub fn tokengo() -> Self {
        Network::Tagged(b"tokengo".to_vec())
    }

    /// The tag sent on the wire, if any.
    pub fn tag(&self) -> Option<&[u8]> {
        match self {
            Network::Mainline => None,
            Network::Tagged(tag) => Some(tag),
        }
    }
}

/// Configuration of a [`Node`](crate::Node).
#[derive(Debug, Clone)]
pub struct Config {
    /// Our node id; drawn from the RNG when `None`.
    pub id: Option<Id>,
    /// Seed of the node's randomness (id, transaction ids, token secrets, jitter) when
    /// `secret_seed` is `None`: deterministic, for simulations and tests.
    pub seed: u64,
    /// 32 secret bytes the node's randomness comes from, replacing `seed`; the runtimes fill
    /// it from the OS. Each purpose draws from its own keyed stream, so the node id (public)
    /// tells nothing of the token secrets or transaction ids.
    pub secret_seed: Option<[u8; 32]>,
    /// Which network this node belongs to.
    pub network: Network,
    /// BEP 43 read-only: mark our queries `ro` and answer no queries.
    pub read_only: bool,
    /// Addresses to bootstrap from (routers may answer with any id).
    pub bootstrap: Vec<SocketAddr>,
    /// The runtime carries IPv4 datagrams: IPv4 queries are answered and IPv4 nodes used.
    pub ipv4: bool,
    /// The runtime carries IPv6 datagrams too (BEP 32): a second routing table, `nodes6` in
    /// answers, and lookups over both families. Off, IPv6 datagrams are dropped as before.
    pub ipv6: bool,
    /// Our address as others reach it, if known (the runtime passes its bound address). An
    /// unspecified IP is learned from the `ip` field of answers (BEP 42).
    pub external_addr: Option<SocketAddrV4>,
    /// Client version string sent as `v` (BEP 20 style), if any.
    pub version: Option<[u8; 4]>,
    /// Bucket size K.
    pub k: usize,
    /// The four farthest buckets hold 16, 8, 4 and 2 times K
    /// ([`crate::routing::FAR_BUCKET_FACTORS`]), as libtorrent's extended routing table does:
    /// a lookup's first request lands about four bits nearer its target.
    pub wide_far_buckets: bool,
    /// Requests in flight per lookup.
    pub alpha: usize,
    /// How many nodes an announce or a BEP 44 put stores at: the closest that answered its
    /// lookup (at least k). Twice k puts a key at nodes about one bit farther out, so that a
    /// lookup meets one of them a hop sooner: at 10,000 nodes the median time to a first peer
    /// drops by about 50 ms (docs/BENCHMARKS.md), for k more requests per announce.
    pub replicas: usize,
    /// After the short timeout a lookup request no longer holds a slot (a late reply is still
    /// taken). It follows measured round-trip times: SRTT + 4 RTTVAR (RFC 6298) of the node
    /// asked if the routing table has measured it, else the time by which 98 % of every answer
    /// so far had come. This is its value before anything was measured, and its upper bound.
    pub short_timeout: Duration,
    /// The short timeout's lower bound.
    pub short_timeout_min: Duration,
    /// After this, a request has failed.
    pub full_timeout: Duration,
    /// Extra sends to a node that did not answer a lookup request in time.
    pub retries: u8,
    /// A lookup stops after this many rounds (requests sent, counted per alpha-sized wave).
    pub max_rounds: u32,
    /// Interval between re-announces of a kept announce.
    pub announce_interval: Duration,
    /// Buckets unchanged this long are refreshed.
    pub bucket_refresh: Duration,
    /// A node not heard from in this long is questionable.
    pub node_questionable_after: Duration,
    /// Failed queries in a row after which a node is bad.
    pub node_max_failures: u8,
    /// Token secret rotation period (the previous secret stays valid for one more period).
    pub token_rotation: Duration,
    /// Stored peers expire this long after their last announce.
    pub peer_ttl: Duration,
    /// First re-bootstrap delay when the table is empty; doubles up to `rebootstrap_max`.
    pub rebootstrap_min: Duration,
    /// Largest re-bootstrap delay.
    pub rebootstrap_max: Duration,
    /// Bound: info hashes in the peer store.
    pub max_stored_keys: usize,
    /// Bound: peers per info hash.
    pub max_peers_per_key: usize,
    /// Bound: info hashes holding a peer of one IP address (loopback excepted), so that one
    /// host cannot keep the whole store alive. Each key holds one peer per IP address.
    pub max_stored_keys_per_ip: usize,
    /// Bound: BEP 44 items we store for others.
    pub max_stored_items: usize,
    /// Bound: bytes of BEP 44 values and salts we store for others.
    pub max_stored_item_bytes: usize,
    /// Bound: BEP 44 items last written from one IP address (loopback excepted).
    pub max_stored_items_per_ip: usize,
    /// Stored BEP 44 items expire this long after their last put.
    pub item_ttl: Duration,
    /// BEP 42, on Mainline only: once several responders agree on our external address, take
    /// a secure id derived from it if ours is not one. No effect on a private network. This is
    /// about our own id; which nodes the routing tables keep is `secure_id_policy`.
    pub secure_ids: bool,
    /// BEP 42, on Mainline only: what the routing tables do with nodes whose id is not secure
    /// for the address they were heard from. `Prefer` (the default, as libtorrent): in a full
    /// bucket a secure node that answered us takes the place of a non-secure one (a
    /// questionable one first, then the longest silent), a non-secure node takes a secure
    /// node's place only once that one is bad, and replacement caches keep and promote secure
    /// nodes first. `Enforce`: non-secure nodes never enter (counted in
    /// [`Stats::nodes_refused_insecure`](crate::Stats::nodes_refused_insecure)). `Off`: ids are
    /// not looked at. Local addresses, which BEP 42 exempts, count as secure. A private
    /// network always behaves as `Off` (see [`Config::secure_id_policy_in_force`]).
    pub secure_id_policy: SecureIdPolicy,
    /// BEP 51: the `interval` our `sample_infohashes` answers ask for between queries.
    pub sample_interval: Duration,
    /// Bound: routing-table nodes sharing one IP address.
    pub max_nodes_per_ip: usize,
    /// Bound: our queries awaiting an answer.
    pub max_transactions: usize,
    /// Bound: candidates tracked per lookup.
    pub max_lookup_candidates: usize,
    /// Bound: candidates of one lookup sharing one IP address (loopback excepted), so that one
    /// host with many ports cannot crowd the closest set (libtorrent's `restrict_search_ips`).
    /// `None` follows the network: 1 on Mainline, 2 (the routing table's default per-IP cap)
    /// on a private network.
    pub max_lookup_candidates_per_ip: Option<usize>,
    /// Bound: concurrent lookups (including announces and bootstraps).
    pub max_lookups: usize,
    /// Queries per second accepted from one IP on average (0: unlimited); excess is dropped.
    /// A loopback source is counted per address (IP and port): local nodes share one IP.
    pub query_rate_per_ip: u32,
    /// Burst of queries accepted from one IP (or one loopback address).
    pub query_burst_per_ip: u32,
    /// Whether the query limits apply to loopback sources (per address). `false` exempts
    /// them: for local floods on purpose, or one local socket sending more than
    /// `query_rate_per_ip` (a test client, a benchmark).
    pub rate_limit_loopback: bool,
    /// Queries per second answered, node-wide, from heavy strangers (0: unlimited); beyond
    /// it they are dropped. A stranger is a sender that is not a verified node of the routing
    /// table; a heavy one has spent more than half its `query_burst_per_ip` (or is not
    /// metered: loopback with `rate_limit_loopback` off). Answers to our queries, queries
    /// from nodes that answered us and light senders never count against it, so a flood
    /// from many addresses cannot crowd them out.
    pub unsolicited_query_rate: u32,
    /// Burst of queries from heavy strangers answered at once.
    pub unsolicited_query_burst: u32,
    /// Bound: entries in each bucket's replacement cache.
    pub replacement_cache: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            seed: 0,
            secret_seed: None,
            network: Network::tokengo(),
            read_only: false,
            bootstrap: Vec::new(),
            ipv4: true,
            ipv6: false,
            external_addr: None,
            version: None,
            k: 8,
            wide_far_buckets: true,
            alpha: 3,
            replicas: 16,
            short_timeout: Duration::from_secs(1),
            short_timeout_min: Duration::from_millis(50),
            full_timeout: Duration::from_secs(2),
            retries: 0,
            max_rounds: 20,
            announce_interval: Duration::from_secs(30 * 60),
            bucket_refresh: Duration::from_secs(15 * 60),
            node_questionable_after: Duration::from_secs(15 * 60),
            node_max_failures: 2,
            token_rotation: Duration::from_secs(5 * 60),
            peer_ttl: Duration::from_secs(30 * 60),
            rebootstrap_min: Duration::from_secs(1),
            rebootstrap_max: Duration::from_secs(5 * 60),
            max_stored_keys: 2000,
            max_peers_per_key: 500,
            max_stored_keys_per_ip: 50,
            max_stored_items: 1000,
            max_stored_item_bytes: 1 << 20,
            max_stored_items_per_ip: 50,
            item_ttl: Duration::from_secs(2 * 60 * 60),
            secure_ids: true,
            secure_id_policy: SecureIdPolicy::Prefer,
            sample_interval: Duration::from_secs(6 * 60 * 60),
            max_nodes_per_ip: 2,
            max_transactions: 1024,
            max_lookup_candidates: 64,
            max_lookup_candidates_per_ip: None,
            max_lookups: 64,
            query_rate_per_ip: 20,
            query_burst_per_ip: 50,
            rate_limit_loopback: true,
            unsolicited_query_rate: 1000,
            unsolicited_query_burst: 2000,
            replacement_cache: 8,
        }
    }
}

impl Config {
    /// The per-IP cap on one lookup's candidates in force (see
    /// [`Config::max_lookup_candidates_per_ip`]).
    pub fn lookup_candidates_per_ip(&self) -> usize {
        let by_network = match self.network {
            Network::Mainline => 1,
            Network::Tagged(_) => 2,
        };
        self.max_lookup_candidates_per_ip
            .unwrap_or(by_network)
            .max(1)
    }

    /// The routing tables' secure id policy in force: [`Config::secure_id_policy`] on
    /// Mainline, `Off` on a private network.
    pub fn secure_id_policy_in_force(&self) -> SecureIdPolicy {
        match self.network {
            Network::Mainline => self.secure_id_policy,
            Network::Tagged(_) => SecureIdPolicy::Off,
        }
    }

    /// A public Mainline DHT node with the default settings.
    pub fn mainline() -> Self {
        Config {
            network: Network::Mainline,
            ..Config::default()
        }
    }
}
