//! Helpers shared by the simulator scenarios: seeds, network building and lookup rounds.

#![allow(dead_code)] // Each scenario file uses a different part.

use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle, QueryOutcome, Sim, seed_from_env};
use tokengo_core::{Config, Id, Network, Node};

/// Virtual time allowed for one lookup or announce to finish: generous, because lookups on a
/// lossy network wait out full timeouts; a lookup still running after it is a liveness bug.
pub const LOOKUP_LIMIT: Duration = Duration::from_secs(300);

/// A simulation seeded from `SEED` (or `default`), announcing its seed on stderr so that a log
/// of a passing run also names it.
pub fn sim(default: u64, net: NetConfig) -> Sim<Node> {
    let seed = seed_from_env(default);
    eprintln!("SEED={seed}");
    Sim::new(seed, net)
}

/// A node of the private tokengo network with default settings.
pub fn private() -> Config {
    Config {
        network: Network::tokengo(),
        ..Config::default()
    }
}

/// A random key drawn from the scenario's RNG.
pub fn random_key(sim: &mut Sim<Node>) -> Id {
    Id(sim.rng().bytes20())
}

/// A random running node other than those in `except`.
pub fn random_running(
    sim: &mut Sim<Node>,
    nodes: &[NodeHandle],
    except: &[NodeHandle],
) -> NodeHandle {
    loop {
        let pick = nodes[sim.rng().below(nodes.len() as u64) as usize];
        if sim.is_running(pick) && !except.contains(&pick) {
            return pick;
        }
    }
}

/// Joins `count` nodes made by `config`, each bootstrapping from up to 3 earlier ones, 10 ms
/// apart, then lets the network settle for a minute.
pub fn build(
    sim: &mut Sim<Node>,
    count: usize,
    config: impl FnMut(usize) -> Config,
) -> Vec<NodeHandle> {
    let nodes = sim.join_nodes(count, config, 3, Duration::from_millis(10));
    sim.run_for(Duration::from_secs(60));
    nodes
}

/// One announced key: who announced it, and the peer address others must find.
#[derive(Debug, Clone, Copy)]
pub struct Announced {
    pub key: Id,
    pub by: NodeHandle,
    pub peer: SocketAddr,
}

/// Announces `count` random keys from random running nodes (implied port: the peer is the
/// announcer's own address) and waits for the announces; panics if one is not acknowledged.
pub fn announce_random(sim: &mut Sim<Node>, nodes: &[NodeHandle], count: usize) -> Vec<Announced> {
    let mut announced = Vec::new();
    let mut queries = Vec::new();
    for _ in 0..count {
        let by = random_running(sim, nodes, &[]);
        let key = random_key(sim);
        let query = sim
            .announce(by, key, None, true)
            .expect("announcer is running");
        queries.push((by, query));
        announced.push(Announced {
            key,
            by,
            peer: sim.addr(by),
        });
    }
    let outcomes = sim.wait_all(&queries, LOOKUP_LIMIT);
    for (a, outcome) in announced.iter().zip(&outcomes) {
        let accepted = match &outcome.finished {
            Some(tokengo_core::sim::Finished::Announce { accepted, .. }) => *accepted,
            other => panic!(
                "announce of {} by {} did not finish: {other:?}",
                a.key, a.by
            ),
        };
        assert!(
            accepted > 0,
            "announce of {} by {} reached nobody",
            a.key,
            a.by
        );
    }
    announced
}

/// Result of a round of lookups.
#[derive(Debug)]
pub struct Round {
    pub outcomes: Vec<QueryOutcome>,
    /// Lookups that found the announced peer.
    pub found: usize,
    /// Lookups that did not finish within [`LOOKUP_LIMIT`].
    pub unfinished: usize,
}

/// For each announced key, a get_peers from a random other running node; all at once.
pub fn lookup_round(sim: &mut Sim<Node>, nodes: &[NodeHandle], announced: &[Announced]) -> Round {
    let mut queries = Vec::new();
    for a in announced {
        let asker = random_running(sim, nodes, &[a.by]);
        let query = sim.get_peers(asker, a.key).expect("asker is running");
        queries.push((asker, query));
    }
    let outcomes = sim.wait_all(&queries, LOOKUP_LIMIT);
    let found = outcomes
        .iter()
        .zip(announced)
        .filter(|(o, a)| o.peers.contains(&a.peer))
        .count();
    let unfinished = outcomes.iter().filter(|o| o.finished.is_none()).count();
    Round {
        outcomes,
        found,
        unfinished,
    }
}

/// The `p`-quantile (0.0..=1.0) of `values`, which must not be empty.
pub fn quantile<T: Copy + Ord>(values: &mut [T], p: f64) -> T {
    values.sort_unstable();
    let index = ((values.len() - 1) as f64 * p).round() as usize;
    values[index]
}

/// Checks what must hold of every running node after any scenario: its collections stay within
/// their configured bounds, nothing our own nodes sent was malformed or (in a one-network
/// scenario, `one_network`) from another network, and no node asked to be woken in the past
/// over and over.
pub fn check_health(sim: &Sim<Node>, one_network: bool) {
    assert_eq!(
        sim.stats().stuck_timers,
        0,
        "a node kept a deadline in the past"
    );
    for node in sim.running() {
        let endpoint = sim.endpoint(node).expect("running");
        let (config, stats) = (endpoint.config(), endpoint.stats());
        let contacts = endpoint.contacts().len();
        assert!(
            stats.transactions_in_flight <= config.max_transactions,
            "{node}: {stats:?}"
        );
        assert!(
            stats.active_lookups <= config.max_lookups,
            "{node}: {stats:?}"
        );
        assert!(
            stats.stored_keys <= config.max_stored_keys,
            "{node}: {stats:?}"
        );
        assert!(
            stats.stored_peers <= config.max_stored_keys * config.max_peers_per_key,
            "{node}: {stats:?}"
        );
        assert!(contacts <= 160 * config.k, "{node}: {contacts} contacts");
        assert!(
            stats.nodes_replacement <= 160 * config.replacement_cache,
            "{node}: {stats:?}"
        );
        assert_eq!(
            stats.dropped.malformed, 0,
            "{node} got malformed datagrams from our own nodes: {stats:?}"
        );
        if one_network {
            assert_eq!(stats.dropped.wrong_network, 0, "{node}: {stats:?}");
        }
    }
}

/// The share of the running nodes' 8 closest running nodes (by XOR distance to their ids) that
/// their routing tables hold: a node missing from its neighbours' tables is found by no lookup
/// that passes them, so keys stored near it go to farther nodes. The closest are picked among
/// the 64 nearest in id order, which hold them but where the ids leave a rare wide gap.
pub fn neighbours_known(sim: &Sim<Node>) -> f64 {
    let mut ids: Vec<Id> = sim
        .running()
        .filter_map(|h| Some(sim.endpoint(h)?.id()))
        .collect();
    ids.sort_unstable();
    let (mut known, mut total) = (0usize, 0usize);
    for handle in sim.running() {
        let Some(node) = sim.endpoint(handle) else {
            continue;
        };
        let own = node.id();
        let Ok(at) = ids.binary_search(&own) else {
            continue;
        };
        let window = &ids[at.saturating_sub(32)..(at + 33).min(ids.len())];
        let mut near: Vec<Id> = window.iter().copied().filter(|id| *id != own).collect();
        near.sort_unstable_by_key(|id| id.distance_key(&own));
        near.truncate(8);
        let table = node.routing_table();
        known += near.iter().filter(|id| table.get(id).is_some()).count();
        total += near.len();
    }
    known as f64 / total.max(1) as f64
}
