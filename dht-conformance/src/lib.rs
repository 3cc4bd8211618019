//! The conformance suite both runtimes must pass: the same scenarios and the same assertions,
//! on real loopback sockets. [`Runtime`] is the small blocking surface the scenarios drive;
//! `tests/tokio.rs` and `tests/mio.rs` instantiate every scenario with [`conformance_tests!`].

#![warn(missing_docs)]

mod runtimes;
pub mod scenarios;

pub use runtimes::{MioRuntime, TokioRuntime};

use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::item::Item;
use tokengo_core::{Config, Id, LookupStats, Network, NodeInfo, Stats};
pub use tokengo_tokio::ItemRequest;

/// What a node left behind at shutdown.
#[derive(Debug, Clone)]
pub struct Final {
    /// The node's id.
    pub id: Id,
    /// The routing table's contacts that were not bad.
    pub contacts: Vec<NodeInfo>,
}

/// A DHT node on some runtime, driven through a blocking API. Errors are strings: the
/// scenarios only need to know that, and why, a call failed.
pub trait Runtime: Sized {
    /// Starts a node on `127.0.0.1:0` with `config`.
    fn start(config: Config) -> Self;
    /// Starts a node with one socket per address of `listen` (BEP 32 dual stack).
    fn start_on(listen: &[SocketAddr], config: Config) -> Self;
    /// The address the node's (first) socket is bound to.
    fn addr(&self) -> SocketAddr;
    /// The addresses of all its sockets, one per family.
    fn addrs(&self) -> Vec<SocketAddr>;
    /// The node's id.
    fn id(&self) -> Id;
    /// Bootstraps through socket addresses; returns the routing table's size.
    fn bootstrap(&self, addrs: Vec<SocketAddr>) -> Result<usize, String>;
    /// Bootstraps through `host:port` strings the adapter resolves; returns the table's size.
    fn bootstrap_hosts(&self, hosts: &[String]) -> Result<usize, String>;
    /// Runs a find_node lookup; returns the closest nodes that answered.
    fn find_node(&self, target: Id) -> Result<Vec<NodeInfo>, String>;
    /// Announces once (not kept); returns how many nodes accepted it.
    fn announce(&self, info_hash: Id, port: Option<u16>) -> Result<usize, String>;
    /// Runs a get_peers lookup to its end; returns the peers and the lookup's stats.
    fn get_peers(&self, info_hash: Id) -> Result<(Vec<SocketAddr>, LookupStats), String>;
    /// Runs a BEP 44 get; returns the item found.
    fn get_item(&self, request: ItemRequest) -> Result<Option<Item>, String>;
    /// Runs a BEP 44 put; returns how many nodes stored it and the codes of those that refused.
    fn put_item(&self, item: Item, cas: Option<i64>) -> Result<(usize, Vec<i64>), String>;
    /// Pings `addr`; returns its id, or `None` on timeout.
    fn ping(&self, addr: SocketAddr) -> Result<Option<Id>, String>;
    /// The node's counters and sizes.
    fn stats(&self) -> Result<Stats, String>;
    /// The routing table's contacts that are not bad.
    fn contacts(&self) -> Result<Vec<NodeInfo>, String>;
    /// Adds contacts to the routing table as questionable.
    fn add_contacts(&self, contacts: Vec<NodeInfo>) -> Result<(), String>;
    /// Stops the node; returns what it left behind.
    fn shutdown(&self) -> Result<Final, String>;
    /// Another handle to the same node.
    fn handle(&self) -> Self;
    /// Starts a get_peers lookup without waiting for it.
    fn start_get_peers(&self, info_hash: Id) -> Result<Box<dyn StartedLookup>, String>;
    /// The adapter's bound on commands waiting for the node.
    fn max_pending() -> usize;
}

/// A get_peers lookup started by [`Runtime::start_get_peers`].
pub trait StartedLookup {
    /// Waits for the lookup's end; returns the peers it found.
    fn finish(self: Box<Self>) -> Result<Vec<SocketAddr>, String>;
}

/// A private-network config for loopback tests: short timeouts so silent peers fail fast.
pub fn test_config(seed: u64) -> Config {
    Config {
        seed,
        network: Network::tokengo(),
        short_timeout: Duration::from_millis(200),
        full_timeout: Duration::from_millis(400),
        ..Config::default()
    }
}

/// Instantiates every scenario of [`scenarios`] as a `#[test]` for one runtime.
#[macro_export]
macro_rules! conformance_tests {
    ($runtime:ty) => {
        $crate::conformance_tests!(@each $runtime;
            bootstrap_builds_tables,
            bootstrap_resolves_host_names,
            find_node_reaches_a_known_node,
            announce_then_get_peers_across_nodes,
            announce_with_implied_port,
            get_peers_without_peers_reports_none,
            ping_answers_with_the_id,
            silent_address_times_out,
            restored_contacts_start_questionable,
            commands_beyond_the_pending_bound_are_refused,
            burst_of_queries_is_fully_answered,
            loopback_flood_is_limited_per_address,
            items_put_through_one_node_are_got_through_another,
            dual_stack_nodes_serve_each_family,
        );
        #[test]
        fn announced_keys_are_found_in_a_large_network() {
            $crate::scenarios::announced_keys_are_found_in_a_large_network::<$runtime>();
        }
        #[test]
        fn shutdown_returns_state_and_frees_the_socket() {
            $crate::scenarios::shutdown_returns_state_and_frees_the_socket::<$runtime>();
        }
    };
    (@each $runtime:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::scenarios::$name::<$runtime>();
            }
        )*
    };
}
