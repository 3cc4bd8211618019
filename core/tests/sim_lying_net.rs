//! Lookups on a network that lies as real ones do: WAN round trips (20-200 ms) with per-datagram
//! jitter, 5 % loss, a heavy tail of late datagrams (2 % delayed 1-3 s) and 10 % dead nodes
//! left in everyone's table; then, one at a time, slow nodes, nodes behind NAT, churn while
//! the lookups run, and a second round after maintenance has run for 20 minutes.
//!
//! Each scenario runs at least 1,000 lookups over 3 seeds, asserts that 99.5 % find the
//! announced peer, and prints one line for collecting the figures, `SIM_RESULT {json}` (scenario,
//! nodes, loss, jitter, lookups, found, completion and first-peer p50/p99 in ms, requests per
//! lookup, short and full timeouts): `cargo test -p tokengo-core --test sim_lying_net --
//! --nocapture`.
//! `SIM_NODES=<n>` and `SIM_LOOKUPS=<n>` change the network's size and the lookups per
//! scenario; `SEED=<n>` sets the first seed.

mod sim_support;

use sim_support::{
    Announced, LOOKUP_LIMIT, announce_random, build, check_health, lookup_round, private, quantile,
    random_running,
};
use std::collections::HashSet;
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle, QueryOutcome, Sim, seed_from_env};
use tokengo_core::{Node, QueryId};

const SEEDS: u64 = 3;
/// Share of the nodes that die after the network formed (they stay in others' tables).
const DEAD_PERCENT: usize = 10;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a scenario adds to the common network.
#[derive(Debug, Clone, Copy, Default)]
struct Twist {
    slow: bool,
    nat: bool,
    churn: bool,
    after_maintenance: bool,
}

fn wan() -> NetConfig {
    NetConfig::default()
        .with_rtt(Duration::from_millis(20), Duration::from_millis(200))
        .with_jitter(Duration::from_millis(30))
        .with_loss(0.05)
        .with_late_tail(0.02, Duration::from_secs(1)..=Duration::from_secs(3))
}

/// The figures of every lookup of a scenario.
#[derive(Debug, Default)]
struct Tally {
    lookups: usize,
    found: usize,
    unfinished: usize,
    durations: Vec<Duration>,
    first_peer: Vec<Duration>,
    short_timeouts: u64,
    full_timeouts: u64,
    requests: u64,
}

impl Tally {
    fn add(&mut self, outcomes: &[QueryOutcome], announced: &[Announced]) {
        for (outcome, a) in outcomes.iter().zip(announced) {
            self.lookups += 1;
            self.found += usize::from(outcome.peers.contains(&a.peer));
            match outcome.finished.as_ref().and_then(|f| f.stats()) {
                Some(stats) => {
                    self.durations.push(stats.duration);
                    self.first_peer.extend(stats.time_to_first_peer);
                    self.short_timeouts += u64::from(stats.short_timeouts);
                    self.full_timeouts += u64::from(stats.timed_out);
                    self.requests += u64::from(stats.queried);
                }
                None => self.unfinished += 1,
            }
        }
    }

    fn report(&mut self, scenario: &str, nodes: usize, seeds: std::ops::Range<u64>) {
        let ms = |d: Duration| d.as_millis();
        let quantiles = |values: &mut Vec<Duration>| {
            if values.is_empty() {
                (0, 0)
            } else {
                (ms(quantile(values, 0.5)), ms(quantile(values, 0.99)))
            }
        };
        let (p50, p99) = quantiles(&mut self.durations);
        let (first_p50, first_p99) = quantiles(&mut self.first_peer);
        let net = wan();
        let result = serde_json::json!({
            "scenario": scenario,
            "seeds": [seeds.start, seeds.end - 1],
            "nodes": nodes,
            "loss_percent": net.loss * 100.0,
            "dead_percent": DEAD_PERCENT,
            "jitter_ms": net.jitter.as_millis(),
            "late_percent": net.late * 100.0,
            "lookups": self.lookups,
            "found": self.found,
            "unfinished": self.unfinished,
            "success": self.found as f64 / self.lookups.max(1) as f64,
            "completion_p50_ms": p50,
            "completion_p99_ms": p99,
            "first_peer_p50_ms": first_p50,
            "first_peer_p99_ms": first_p99,
            "requests_per_lookup": self.requests as f64 / self.lookups.max(1) as f64,
            "short_timeouts": self.short_timeouts,
            "full_timeouts": self.full_timeouts,
        });
        println!("SIM_RESULT {result}");
        assert_eq!(self.unfinished, 0, "{scenario}: lookups did not finish");
        assert!(
            self.found * 1000 >= self.lookups * 995,
            "{scenario}: only {}/{} lookups found the peer",
            self.found,
            self.lookups
        );
    }
}

/// A get_peers for each announced key from a random running node, all at once, with a node
/// crashing and a newcomer joining every 50 ms until they all end.
fn lookup_round_with_churn(
    sim: &mut Sim<Node>,
    nodes: &mut Vec<NodeHandle>,
    announced: &[Announced],
) -> Vec<QueryOutcome> {
    let mut keep: HashSet<NodeHandle> = announced.iter().map(|a| a.by).collect();
    let mut queries: Vec<(NodeHandle, QueryId)> = Vec::new();
    for a in announced {
        let asker = random_running(sim, nodes, &[a.by]);
        keep.insert(asker);
        queries.push((asker, sim.get_peers(asker, a.key).expect("running")));
    }
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < LOOKUP_LIMIT && queries.iter().any(|&(n, q)| !sim.is_finished(n, q)) {
        let victim = nodes[sim.rng().below(nodes.len() as u64) as usize];
        if !keep.contains(&victim) {
            sim.crash(victim);
        }
        let contacts: Vec<NodeHandle> = (0..3).map(|_| random_running(sim, nodes, &[])).collect();
        let newcomer = sim.add_node(private());
        sim.bootstrap(newcomer, &contacts);
        nodes.push(newcomer);
        sim.run_for(step);
        waited += step;
    }
    queries.iter().map(|&(n, q)| sim.outcome(n, q)).collect()
}

fn run_seed(seed: u64, twist: Twist, nodes_count: usize, lookups: usize, tally: &mut Tally) {
    let mut net = wan();
    if twist.slow {
        net = net.with_slow_nodes(0.1, Duration::from_millis(400));
    }
    let mut sim: Sim<Node> = Sim::new(seed, net);
    let mut nodes = build(&mut sim, nodes_count, |_| private());
    if twist.nat {
        // A fifth of the nodes turn out to sit behind NAT: they stay in others' tables and
        // keep querying, but nobody can reach them first.
        for &node in nodes.iter().step_by(5) {
            sim.put_behind_nat(node);
        }
    }
    let announced = announce_random(&mut sim, &nodes, lookups);
    let announcers: HashSet<_> = announced.iter().map(|a| a.by).collect();
    let mut dead = 0;
    while dead < nodes_count * DEAD_PERCENT / 100 {
        let pick = nodes[sim.rng().below(nodes_count as u64) as usize];
        if !announcers.contains(&pick) && sim.is_running(pick) {
            sim.crash(pick);
            dead += 1;
        }
    }
    if twist.after_maintenance {
        let first = lookup_round(&mut sim, &nodes, &announced);
        tally.add(&first.outcomes, &announced);
        sim.run_for(Duration::from_secs(20 * 60));
    }
    let outcomes = if twist.churn {
        lookup_round_with_churn(&mut sim, &mut nodes, &announced)
    } else {
        lookup_round(&mut sim, &nodes, &announced).outcomes
    };
    tally.add(&outcomes, &announced);
    check_health(&sim, true);
}

fn scenario(name: &str, twist: Twist) {
    let nodes_count: usize = env_or("SIM_NODES", 1_000);
    let total: usize = env_or("SIM_LOOKUPS", 1_002);
    let rounds = if twist.after_maintenance { 2 } else { 1 };
    let per_seed = total.div_ceil(SEEDS as usize * rounds);
    let first_seed = seed_from_env(13_000);
    let mut tally = Tally::default();
    for seed in first_seed..first_seed + SEEDS {
        eprintln!("{name}: SEED={seed}");
        run_seed(seed, twist, nodes_count, per_seed, &mut tally);
    }
    tally.report(name, nodes_count, first_seed..first_seed + SEEDS);
}

#[test]
fn jitter_loss_dead_nodes_and_a_late_tail() {
    scenario("tail", Twist::default());
}

#[test]
fn slow_nodes() {
    scenario(
        "slow",
        Twist {
            slow: true,
            ..Twist::default()
        },
    );
}

#[test]
fn nodes_behind_nat() {
    scenario(
        "nat",
        Twist {
            nat: true,
            ..Twist::default()
        },
    );
}

#[test]
fn churn_during_lookups() {
    scenario(
        "churn",
        Twist {
            churn: true,
            ..Twist::default()
        },
    );
}

#[test]
fn a_second_round_after_maintenance() {
    scenario(
        "after_maintenance",
        Twist {
            after_maintenance: true,
            ..Twist::default()
        },
    );
}
