//! Properties over seeds and small topologies: on any small network that duplicates and
//! reorders (but loses nothing) every node finds an announced peer, a lossy one never leaves a
//! lookup hanging, and a rerun with the same inputs gives the same trace.
//!
//! The cases are drawn from `SEED` (default fixed), so CI runs the same ones every time.

mod sim_support;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};
use sim_support::{LOOKUP_LIMIT, check_health, private};
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle, Sim, seed_from_env};
use tokengo_core::{Id, Node};

/// Network conditions of one case.
#[derive(Debug, Clone)]
struct Conditions {
    seed: u64,
    nodes: usize,
    rtt_max_ms: u64,
    loss: f64,
    duplicate: f64,
    reorder: f64,
}

fn conditions(max_loss: f64) -> impl Strategy<Value = Conditions> {
    (
        any::<u64>(),
        2usize..=24,
        2u64..=400,
        0.0..=max_loss,
        0.0..0.2f64,
        0.0..0.5f64,
    )
        .prop_map(
            |(seed, nodes, rtt_max_ms, loss, duplicate, reorder)| Conditions {
                seed,
                nodes,
                rtt_max_ms,
                loss,
                duplicate,
                reorder,
            },
        )
}

/// Builds the network, announces one key from one node and looks it up from every other node.
/// Returns the simulation, the peers each asker found (`None`: the lookup never finished) and
/// the announcer's address.
fn scenario(
    c: &Conditions,
) -> (
    Sim<Node>,
    Vec<Option<Vec<std::net::SocketAddr>>>,
    std::net::SocketAddr,
) {
    let net = NetConfig::default()
        .with_rtt(
            Duration::from_millis(1),
            Duration::from_millis(c.rtt_max_ms),
        )
        .with_loss(c.loss)
        .with_duplication(c.duplicate)
        .with_reordering(c.reorder, Duration::from_millis(c.rtt_max_ms));
    let mut sim = Sim::new(c.seed, net);
    let nodes = sim.join_nodes(c.nodes, |_| private(), 3, Duration::from_millis(10));
    sim.run_for(Duration::from_secs(60));
    let announcer = nodes[sim.rng().below(nodes.len() as u64) as usize];
    let key = Id(sim.rng().bytes20());
    let query = sim.announce(announcer, key, None, true).expect("running");
    sim.wait(announcer, query, LOOKUP_LIMIT);
    let askers: Vec<NodeHandle> = nodes.iter().copied().filter(|&n| n != announcer).collect();
    let queries: Vec<_> = askers
        .iter()
        .map(|&n| (n, sim.get_peers(n, key).expect("running")))
        .collect();
    let found = sim
        .wait_all(&queries, LOOKUP_LIMIT)
        .into_iter()
        .map(|o| o.finished.is_some().then_some(o.peers))
        .collect();
    let addr = sim.addr(announcer);
    (sim, found, addr)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        rng_seed: RngSeed::Fixed(seed_from_env(0x5eed)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_node_finds_the_announce_without_loss(c in conditions(0.0)) {
        let (sim, found, announcer) = scenario(&c);
        for (i, peers) in found.iter().enumerate() {
            prop_assert_eq!(peers.as_deref(), Some(&[announcer][..]), "asker #{} of {:?}", i, c);
        }
        check_health(&sim, true);
    }

    #[test]
    fn lossy_lookups_always_finish_and_runs_repeat(c in conditions(0.3)) {
        let (first, found, _) = scenario(&c);
        prop_assert!(found.iter().all(Option::is_some), "a lookup never finished: {:?}", c);
        check_health(&first, true);
        let (second, _, _) = scenario(&c);
        prop_assert_eq!(first.trace().digest(), second.trace().digest());
    }
}
