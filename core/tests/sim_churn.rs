//! Harsh conditions on a few hundred nodes: a network that loses, duplicates and reorders
//! heavily, and continuous churn (joins, graceful leaves and crashes) while announces are kept.

mod sim_support;

use sim_support::{
    announce_random, build, check_health, lookup_round, private, random_running, sim,
};
use std::collections::HashSet;
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle};

const NODES: usize = 300;
const KEYS: usize = 50;

#[test]
fn lookups_succeed_through_loss_duplication_and_reordering() {
    let net = NetConfig::default()
        .with_rtt(Duration::from_millis(20), Duration::from_millis(300))
        .with_jitter(Duration::from_millis(20))
        .with_loss(0.10)
        .with_duplication(0.10)
        .with_reordering(0.30, Duration::from_millis(300));
    let mut sim = sim(301, net);
    let nodes = build(&mut sim, NODES, |_| private());
    let announced = announce_random(&mut sim, &nodes, KEYS);
    let round = lookup_round(&mut sim, &nodes, &announced);
    let stats = sim.stats();
    eprintln!("hostile network: {}/{KEYS} found; {stats:?}", round.found);
    assert!(stats.duplicated > 0 && stats.reordered > 0 && stats.lost > 0);
    assert_eq!(round.unfinished, 0);
    assert!(
        round.found >= KEYS - 1,
        "only {}/{KEYS} found the peer",
        round.found
    );
    check_health(&sim, true);
}

#[test]
fn lookups_succeed_under_continuous_churn() {
    let net = NetConfig::default().with_rtt(Duration::from_millis(20), Duration::from_millis(200));
    let mut sim = sim(302, net.with_loss(0.02));
    let mut nodes = build(&mut sim, NODES, |_| private());
    let announced = announce_random(&mut sim, &nodes, KEYS);
    let announcers: HashSet<NodeHandle> = announced.iter().map(|a| a.by).collect();

    // For 40 virtual minutes, every 4 s one node leaves (or crashes, every other time) and a
    // newcomer joins through three running nodes: 600 departures, twice the network's size.
    let mut departed = 0;
    for turn in 0..600 {
        let victim = random_running(
            &mut sim,
            &nodes,
            &announcers.iter().copied().collect::<Vec<_>>(),
        );
        if turn % 2 == 0 {
            sim.crash(victim);
        } else {
            sim.leave(victim);
        }
        departed += 1;
        let newcomer = sim.add_node(private());
        let contacts: Vec<NodeHandle> = (0..3)
            .map(|_| random_running(&mut sim, &nodes, &[]))
            .collect();
        sim.bootstrap(newcomer, &contacts);
        nodes.push(newcomer);
        sim.run_for(Duration::from_secs(4));
    }
    // Announces are kept (re-announced every 30 min), so every key reached the current nodes.
    let round = lookup_round(&mut sim, &nodes, &announced);
    let stats = sim.stats();
    eprintln!(
        "churn: {departed} departed; {}/{KEYS} found; {stats:?}",
        round.found
    );
    assert_eq!(round.unfinished, 0);
    assert!(
        round.found >= KEYS - 1,
        "only {}/{KEYS} found the peer",
        round.found
    );
    check_health(&sim, true);
}
