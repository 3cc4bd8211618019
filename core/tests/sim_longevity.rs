//! Kept announces over hours: re-announces, token rotation and peer expiry must leave no
//! window in which a key cannot be found.

mod sim_support;

use sim_support::{announce_random, build, check_health, lookup_round, private, sim};
use std::time::Duration;
use tokengo_core::sim::NetConfig;

#[test]
fn kept_announces_stay_findable_for_hours() {
    let net = NetConfig::default().with_rtt(Duration::from_millis(20), Duration::from_millis(200));
    let mut sim = sim(3600, net);
    let nodes = build(&mut sim, 200, |_| private());
    let announced = announce_random(&mut sim, &nodes, 10);
    let mut misses = Vec::new();
    // Every 20 s for three hours: six re-announce periods, 36 token rotations.
    for round in 0..540 {
        let result = lookup_round(&mut sim, &nodes, &announced);
        if result.found < announced.len() {
            misses.push((
                round,
                sim.elapsed().as_secs(),
                announced.len() - result.found,
            ));
        }
        sim.run_for(Duration::from_secs(20));
    }
    assert!(
        misses.is_empty(),
        "rounds with misses (round, virtual s, missed): {misses:?}"
    );
    check_health(&sim, true);
}
