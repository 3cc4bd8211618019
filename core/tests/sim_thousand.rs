//! A thousand-node private network: lookups after announces succeed on a clean and on a lossy
//! network, the nodes know their closest neighbours though they all joined within seconds, and
//! lookups recover after 30 % of the nodes crash at once.

mod sim_support;

use sim_support::{
    announce_random, build, check_health, lookup_round, neighbours_known, private, sim,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::Node;
use tokengo_core::sim::{NetConfig, NodeHandle, Sim};

const NODES: usize = 1000;
const LOOKUPS: usize = 100;

fn lossy(loss: f64) -> NetConfig {
    NetConfig::default()
        .with_rtt(Duration::from_millis(20), Duration::from_millis(200))
        .with_jitter(Duration::from_millis(5))
        .with_loss(loss)
}

fn lookups_succeed(seed: u64, loss: f64) {
    let mut sim = sim(seed, lossy(loss));
    let nodes = build(&mut sim, NODES, |_| private());
    let neighbours = neighbours_known(&sim);
    let announced = announce_random(&mut sim, &nodes, LOOKUPS);
    let round = lookup_round(&mut sim, &nodes, &announced);
    eprintln!(
        "{NODES} nodes, loss {loss}: {:.1} % of the 8 closest known, {}/{LOOKUPS} found, {} unfinished, {:?}",
        neighbours * 100.0,
        round.found,
        round.unfinished,
        sim.stats()
    );
    // The nodes join 10 ms apart, so each one's closest neighbours join within seconds of it;
    // a third of them were known when a newcomer waited its turn for the ping that lets others
    // hand it out, 98-99 % once it is pinged at once and a second self-lookup follows.
    assert!(
        neighbours >= 0.9,
        "the nodes know {:.1} % of their 8 closest",
        neighbours * 100.0
    );
    assert_eq!(round.unfinished, 0);
    assert!(
        round.found >= 99,
        "only {}/{LOOKUPS} lookups found the peer",
        round.found
    );
    check_health(&sim, true);
}

#[test]
fn thousand_nodes_clean_network() {
    lookups_succeed(1000, 0.0);
}

#[test]
fn thousand_nodes_five_percent_loss() {
    lookups_succeed(1005, 0.05);
}

/// Share of the survivors' routing-table contacts that point at crashed nodes.
fn dead_share(sim: &Sim<Node>, survivors: &[NodeHandle], dead: &HashSet<SocketAddr>) -> f64 {
    let (mut total, mut stale) = (0usize, 0usize);
    for &node in survivors {
        for contact in sim.endpoint(node).expect("running").contacts() {
            total += 1;
            stale += usize::from(dead.contains(&contact.addr));
        }
    }
    stale as f64 / total.max(1) as f64
}

#[test]
fn lookups_recover_after_thirty_percent_crash() {
    let mut sim = sim(1030, lossy(0.0));
    let nodes = build(&mut sim, NODES, |_| private());
    let announced = announce_random(&mut sim, &nodes, LOOKUPS);
    let announcers: HashSet<NodeHandle> = announced.iter().map(|a| a.by).collect();

    // Crash 30 % of the nodes at once, never an announcer (its peer must stay findable).
    let mut crashed = HashSet::new();
    while crashed.len() < NODES * 3 / 10 {
        let pick = nodes[sim.rng().below(NODES as u64) as usize];
        if !announcers.contains(&pick) && crashed.insert(pick) {
            sim.crash(pick);
        }
    }
    let dead: HashSet<SocketAddr> = crashed.iter().map(|&n| sim.addr(n)).collect();
    let survivors: Vec<NodeHandle> = nodes
        .iter()
        .copied()
        .filter(|n| !crashed.contains(n))
        .collect();
    let share_at_crash = dead_share(&sim, &survivors, &dead);
    let right_after = lookup_round(&mut sim, &survivors, &announced);

    // A bucket refresh period (15 min by default) plus margin: stale contacts get pinged and
    // replaced, and kept announces go out again to the new closest nodes.
    sim.run_for(Duration::from_secs(20 * 60));
    let share_after_refresh = dead_share(&sim, &survivors, &dead);
    let recovered = lookup_round(&mut sim, &survivors, &announced);
    eprintln!(
        "crash of {} nodes: dead contacts {:.1} % -> {:.1} %; found {} right after, {} after refresh",
        crashed.len(),
        share_at_crash * 100.0,
        share_after_refresh * 100.0,
        right_after.found,
        recovered.found
    );
    assert!(
        share_at_crash > 0.1,
        "the crash should have hit the tables: {share_at_crash}"
    );
    assert!(
        share_after_refresh < share_at_crash / 2.0,
        "dead contacts not evicted: {share_at_crash} -> {share_after_refresh}"
    );
    assert_eq!(recovered.unfinished, 0);
    assert!(
        recovered.found >= 99,
        "only {}/{LOOKUPS} recovered",
        recovered.found
    );
    check_health(&sim, true);
}
