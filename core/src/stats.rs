//! Counters a node exposes.

/// Per-method message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodCounts {
    pub ping: u64,
    pub find_node: u64,
    pub get_peers: u64,
    pub announce_peer: u64,
    /// Unknown methods.
    pub other: u64,
}

/// Why datagrams were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts {
    /// Not a well-formed KRPC message.
    pub malformed: u64,
    /// Wrong (or missing) network tag.
    pub wrong_network: u64,
    /// A bound was reached (transactions, lookups, store).
    pub over_limit: u64,
    /// A response or error matching no transaction of ours.
    pub unexpected: u64,
    /// From an address family we do not serve (IPv6).
    pub unsupported_address: u64,
}

/// A snapshot of a node's counters and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub queries_in: MethodCounts,
    pub queries_out: MethodCounts,
    pub responses_in: u64,
    pub responses_out: u64,
    pub errors_in: u64,
    pub errors_out: u64,
    pub dropped: DropCounts,
    pub nodes_good: usize,
    pub nodes_questionable: usize,
    /// Nodes waiting in replacement caches.
    pub nodes_replacement: usize,
    pub stored_keys: usize,
    pub stored_peers: usize,
    pub active_lookups: usize,
    pub transactions_in_flight: usize,
}
