//! Counters a node exposes.

/// Per-method message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodCounts {
    /// `ping` queries.
    pub ping: u64,
    /// `find_node` queries.
    pub find_node: u64,
    /// `get_peers` queries.
    pub get_peers: u64,
    /// `announce_peer` queries.
    pub announce_peer: u64,
    /// BEP 44 `get` queries.
    pub get: u64,
    /// BEP 44 `put` queries.
    pub put: u64,
    /// BEP 51 `sample_infohashes` queries.
    pub sample_infohashes: u64,
    /// Unknown methods, and known ones with malformed arguments.
    pub other: u64,
}

/// Why datagrams were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts {
    /// Not a well-formed KRPC message.
    pub malformed: u64,
    /// Wrong (or missing) network tag.
    pub wrong_network: u64,
    /// A bound was reached (transactions, lookups, store, query limits).
    pub over_limit: u64,
    /// A response or error matching no transaction of ours.
    pub unexpected: u64,
    /// From an address family we do not serve (IPv6).
    pub unsupported_address: u64,
}

/// What the peer store's bounds did to announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    /// Announces from an IP that already had a peer under the key, which took its place.
    pub replaced_port: u64,
    /// Announces refused because their IP already holds peers under its share of keys.
    pub refused_keys_per_ip: u64,
    /// Announces of a new key refused because the store holds its most keys.
    pub refused_full: u64,
}

/// A snapshot of a node's counters and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Queries received and let through the per-IP rate limit, by method.
    pub queries_in: MethodCounts,
    /// Queries sent, by method.
    pub queries_out: MethodCounts,
    /// Responses received that matched one of our transactions.
    pub responses_in: u64,
    /// Responses sent.
    pub responses_out: u64,
    /// KRPC errors received that matched one of our transactions.
    pub errors_in: u64,
    /// KRPC errors sent.
    pub errors_out: u64,
    /// Datagrams dropped, by reason.
    pub dropped: DropCounts,
    /// Routing-table nodes currently good.
    pub nodes_good: usize,
    /// Routing-table nodes currently questionable (bad ones not yet replaced included).
    pub nodes_questionable: usize,
    /// Routing-table nodes, of both families, whose id is BEP 42-secure for their address
    /// (local addresses, which BEP 42 exempts, count as secure).
    pub nodes_secure: usize,
    /// Times a node was kept out of the routing tables because its id is not BEP 42-secure
    /// for its address (only with `SecureIdPolicy::Enforce`, on Mainline).
    pub nodes_refused_insecure: u64,
    /// Times the node took a new (BEP 42 secure) id after a vote on its external address.
    pub id_changes: u64,
    /// Nodes waiting in replacement caches.
    pub nodes_replacement: usize,
    /// Of the table's nodes, those in the IPv6 table (BEP 32).
    pub nodes_v6: usize,
    /// Info hashes with announced peers in the peer store.
    pub stored_keys: usize,
    /// Peers in the peer store, over all info hashes.
    pub stored_peers: usize,
    /// What the peer store's bounds did to announces.
    pub store: StoreCounts,
    /// BEP 44 items stored.
    pub stored_items: usize,
    /// Bytes of BEP 44 values stored.
    pub stored_item_bytes: usize,
    /// Lookups running.
    pub active_lookups: usize,
    /// Queries sent and awaiting an answer or their timeout.
    pub transactions_in_flight: usize,
}
