//! Zero-config discovery, the DHT's share of a client's start: a private network where 30 of the
//! nodes are relays announcing their QUIC port under the relay key, over the WAN of the lying
//! network (20-200 ms RTT, up to 30 ms jitter, 5 % loss, 2 % of datagrams 1-3 s late, 10 % dead
//! nodes). Read-only clients join, each bootstrapping from 3 relays, and look the relay key up
//! in one of three ways, each run over the same seeds: `after_bootstrap`, as `tokengo client`
//! did before (its whole bootstrap first, then get_peers); `after_first_answer`, as it does now
//! (`discovery::join`: the bootstrap runs in the background, the 3 relays are pinged, and once
//! one answered and the others had as long again, get_peers starts from the table); and
//! `at_once`, a one-shot lookup that asks the 3 relays from the start while the bootstrap runs
//! beside it (`Node::get_peers_via`, as `tokengo dht get-peers` does). Measured from the client's start: the virtual time to its
//! first relay and to 3 distinct relays.
//!
//! Asserts only that 99.5 % of the clients found 3 relays; prints `SIM_DISCOVERY {json}` with
//! the figures (p50/p99 of the bootstrap, of the first relay and of 3 relays from the start, and
//! of the first relay from the get_peers' start). `cargo test -p tokengo-core --test sim_discovery -- --nocapture` runs 2,000
//! nodes per seed; the size: `SIM_NODES=10000 cargo test --release -p tokengo-core
//! --test sim_discovery -- --nocapture`. `SIM_CLIENTS=<n>` (over all seeds),
//! `SIM_DEAD_PERCENT=<p>` and `SEED=<n>` (the first of 3 seeds) change the rest.

mod sim_support;

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use sim_support::{LOOKUP_LIMIT, build, check_health, private, quantile};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokengo_core::sim::{NetConfig, NodeHandle, Sim, seed_from_env};
use tokengo_core::{Config, Event, Id, Node, QueryId};

const SEEDS: u64 = 3;
const RELAYS: usize = 30;
/// Relays a client bootstraps from.
const BOOTSTRAP_RELAYS: usize = 3;
/// Distinct relays a client wants before it measures and picks one.
const WANTED: usize = 3;
/// The port relays announce: their QUIC port, not the DHT's.
const QUIC_PORT: u16 = 4433;
/// The name whose SHA-1 is the relay key (the discovery crate's `RELAY_KEY_NAME`; the core
/// depends on no other crate of the workspace).
const RELAY_KEY_NAME: &str = "/tokengo/relay/v1";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn relay_key() -> Id {
    Id::from_slice(digest(&SHA1_FOR_LEGACY_USE_ONLY, RELAY_KEY_NAME.as_bytes()).as_ref())
        .expect("SHA-1 is 20 bytes")
}

fn wan() -> NetConfig {
    NetConfig::default()
        .with_rtt(Duration::from_millis(20), Duration::from_millis(200))
        .with_jitter(Duration::from_millis(30))
        .with_loss(0.05)
        .with_late_tail(0.02, Duration::from_secs(1)..=Duration::from_secs(3))
}

/// When a client starts its relay lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Once a bootstrap filled its table.
    AfterBootstrap,
    /// Once a pinged bootstrap node answered and the others had as long again (at least 20 ms).
    AfterFirstAnswer,
    /// At once, from its bootstrap nodes, beside the bootstrap.
    AtOnce,
}

impl Start {
    fn name(self) -> &'static str {
        match self {
            Start::AfterBootstrap => "after_bootstrap",
            Start::AfterFirstAnswer => "after_first_answer",
            Start::AtOnce => "at_once",
        }
    }
}

/// A client whose lookup found no relay looks again this much later (`tokengo client` waits
/// 1 s, doubling, before it asks its relay source again).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Lookups a client makes at most.
const ATTEMPTS: usize = 3;

/// Where a client is in its start.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting until it may look relays up ([`ready_to_look_up`]).
    Joining,
    LookingUp(QueryId),
    /// Its lookup found no relay; it looks again at this time.
    Retrying(Duration),
}

#[derive(Debug)]
struct Client {
    node: NodeHandle,
    start: Start,
    started: Duration,
    /// From the client's start to its first lookup's.
    lookup_started: Option<Duration>,
    phase: Phase,
    /// Every relay lookup it started.
    lookups: Vec<QueryId>,
}

/// The figures of every client over all seeds.
#[derive(Debug, Default)]
struct Tally {
    clients: usize,
    found_first: usize,
    found_wanted: usize,
    unfinished: usize,
    bootstrap: Vec<Duration>,
    first_relay: Vec<Duration>,
    wanted_relays: Vec<Duration>,
    /// From the start of the client's first relay lookup to its first relay.
    lookup_first_relay: Vec<Duration>,
}

impl Tally {
    /// Reads a finished client's events: when its bootstrap ended and when each distinct relay
    /// arrived, from its start.
    fn add(&mut self, sim: &Sim<Node>, client: &Client, relays: &HashSet<SocketAddr>) {
        self.clients += 1;
        let mut seen: HashSet<SocketAddr> = HashSet::new();
        let mut arrivals: Vec<Duration> = Vec::new();
        let mut bootstrapped = false;
        for (at, event) in sim.events(client.node) {
            match event {
                Event::Bootstrapped { table_size, .. } if *table_size > 0 && !bootstrapped => {
                    bootstrapped = true;
                    self.bootstrap.push(*at - client.started);
                }
                Event::PeerFound { query, peer, .. }
                    if client.lookups.contains(query)
                        && relays.contains(peer)
                        && seen.insert(*peer) =>
                {
                    arrivals.push(*at - client.started);
                }
                _ => {}
            }
        }
        if let Some(&first) = arrivals.first() {
            self.found_first += 1;
            self.first_relay.push(first);
            if let Some(started) = client.lookup_started {
                self.lookup_first_relay.push(first.saturating_sub(started));
            }
        }
        if let Some(&wanted) = arrivals.get(WANTED - 1) {
            self.found_wanted += 1;
            self.wanted_relays.push(wanted);
        }
    }

    fn report(
        &mut self,
        start: Start,
        nodes: usize,
        dead_percent: usize,
        seeds: std::ops::Range<u64>,
    ) {
        let ms = |d: Duration| d.as_millis();
        let quantiles = |values: &mut Vec<Duration>| {
            if values.is_empty() {
                (0, 0)
            } else {
                (ms(quantile(values, 0.5)), ms(quantile(values, 0.99)))
            }
        };
        let (boot_p50, boot_p99) = quantiles(&mut self.bootstrap);
        let (first_p50, first_p99) = quantiles(&mut self.first_relay);
        let (wanted_p50, wanted_p99) = quantiles(&mut self.wanted_relays);
        let (lookup_p50, lookup_p99) = quantiles(&mut self.lookup_first_relay);
        let net = wan();
        let result = serde_json::json!({
            "scenario": "discovery",
            "lookup_start": start.name(),
            "seeds": [seeds.start, seeds.end - 1],
            "nodes": nodes,
            "relays": RELAYS,
            "dead_percent": dead_percent,
            "loss_percent": net.loss * 100.0,
            "jitter_ms": net.jitter.as_millis(),
            "late_percent": net.late * 100.0,
            "clients": self.clients,
            "found_first": self.found_first,
            "found_3": self.found_wanted,
            "unfinished": self.unfinished,
            "success": self.found_wanted as f64 / self.clients.max(1) as f64,
            "bootstrap_p50_ms": boot_p50,
            "bootstrap_p99_ms": boot_p99,
            "first_relay_p50_ms": first_p50,
            "first_relay_p99_ms": first_p99,
            "three_relays_p50_ms": wanted_p50,
            "three_relays_p99_ms": wanted_p99,
            "lookup_first_relay_p50_ms": lookup_p50,
            "lookup_first_relay_p99_ms": lookup_p99,
        });
        println!("SIM_DISCOVERY {result}");
        assert!(
            self.found_wanted * 1000 >= self.clients * 995,
            "only {}/{} clients found {WANTED} relays",
            self.found_wanted,
            self.clients
        );
    }
}

/// Picks `count` distinct running nodes at random.
fn pick_distinct(sim: &mut Sim<Node>, nodes: &[NodeHandle], count: usize) -> Vec<NodeHandle> {
    let mut chosen: Vec<NodeHandle> = Vec::with_capacity(count);
    while chosen.len() < count {
        let pick = nodes[sim.rng().below(nodes.len() as u64) as usize];
        if sim.is_running(pick) && !chosen.contains(&pick) {
            chosen.push(pick);
        }
    }
    chosen
}

/// Runs the clients until each has looked the relay key up (or the limit passed): a client's
/// get_peers starts as soon as it is [`ready_to_look_up`], and a lookup that found no relay is
/// made again [`RETRY_AFTER`] later, up to [`ATTEMPTS`] lookups, as `tokengo client` keeps
/// looking.
fn drive(sim: &mut Sim<Node>, clients: &mut [Client], relays: &HashSet<SocketAddr>) {
    let deadline = sim.elapsed() + LOOKUP_LIMIT;
    loop {
        for client in clients.iter_mut() {
            let look = match client.phase {
                Phase::Joining => ready_to_look_up(sim, client),
                Phase::LookingUp(q) => {
                    if wants_retry(sim, client, q, relays) {
                        client.phase = Phase::Retrying(sim.elapsed() + RETRY_AFTER);
                    }
                    false
                }
                Phase::Retrying(at) => sim.elapsed() >= at,
            };
            if look {
                let lookup = sim.get_peers(client.node, relay_key()).expect("running");
                client.phase = Phase::LookingUp(lookup);
                client.lookups.push(lookup);
                client
                    .lookup_started
                    .get_or_insert(sim.elapsed() - client.started);
            }
        }
        let left = deadline.saturating_sub(sim.elapsed());
        if left.is_zero() || all_done(sim, clients, relays) {
            return;
        }
        let progressed = sim.run_until(left, |sim| {
            all_done(sim, clients, relays)
                || clients.iter().any(|c| match c.phase {
                    Phase::Joining => ready_to_look_up(sim, c),
                    Phase::LookingUp(q) => wants_retry(sim, c, q, relays),
                    Phase::Retrying(at) => sim.elapsed() >= at,
                })
        });
        if !progressed {
            return;
        }
    }
}

/// Whether lookup `q` of `client` ended without a relay and another may be made.
fn wants_retry(sim: &Sim<Node>, client: &Client, q: QueryId, relays: &HashSet<SocketAddr>) -> bool {
    sim.is_finished(client.node, q)
        && client.lookups.len() < ATTEMPTS
        && !found_relay(sim, client, relays)
}

fn found_relay(sim: &Sim<Node>, client: &Client, relays: &HashSet<SocketAddr>) -> bool {
    sim.events(client.node).any(|(_, e)| {
        matches!(e, Event::PeerFound { query, peer, .. }
            if client.lookups.contains(query) && relays.contains(peer))
    })
}

fn all_done(sim: &Sim<Node>, clients: &[Client], relays: &HashSet<SocketAddr>) -> bool {
    clients.iter().all(|c| lookup_done(sim, c, relays))
}

fn lookup_done(sim: &Sim<Node>, client: &Client, relays: &HashSet<SocketAddr>) -> bool {
    match client.phase {
        Phase::LookingUp(q) => {
            sim.is_finished(client.node, q)
                && (client.lookups.len() >= ATTEMPTS || found_relay(sim, client, relays))
        }
        Phase::Joining | Phase::Retrying(_) => false,
    }
}

/// Whether `client` may start its relay lookup now.
fn ready_to_look_up(sim: &Sim<Node>, client: &Client) -> bool {
    match client.start {
        Start::AfterBootstrap => bootstrapped(sim, client.node),
        Start::AfterFirstAnswer => {
            let answers: Vec<Duration> = sim
                .events(client.node)
                .filter_map(|(at, e)| matches!(e, Event::Pong { id: Some(_), .. }).then_some(*at))
                .collect();
            answers.first().is_some_and(|&first| {
                let grace = (first - client.started).max(Duration::from_millis(20));
                answers.len() >= BOOTSTRAP_RELAYS || sim.elapsed() >= first + grace
            })
        }
        Start::AtOnce => true,
    }
}

/// Whether a bootstrap (the client's own or a re-bootstrap) filled the client's table.
fn bootstrapped(sim: &Sim<Node>, node: NodeHandle) -> bool {
    sim.events(node)
        .any(|(_, e)| matches!(e, Event::Bootstrapped { table_size, .. } if *table_size > 0))
}

fn run_seed(
    start: Start,
    seed: u64,
    nodes_count: usize,
    clients_count: usize,
    dead_percent: usize,
) -> Tally {
    let mut sim: Sim<Node> = Sim::new(seed, wan());
    let nodes = build(&mut sim, nodes_count, |_| private());
    let relays = pick_distinct(&mut sim, &nodes, RELAYS);
    let key = relay_key();
    let announces: Vec<(NodeHandle, QueryId)> = relays
        .iter()
        .map(|&r| {
            (
                r,
                sim.announce(r, key, Some(QUIC_PORT), true)
                    .expect("running"),
            )
        })
        .collect();
    for outcome in sim.wait_all(&announces, LOOKUP_LIMIT) {
        assert!(
            outcome.finished.is_some(),
            "a relay's announce: {outcome:?}"
        );
    }
    let relay_addrs: HashSet<SocketAddr> = relays
        .iter()
        .map(|&r| SocketAddr::new(sim.addr(r).ip(), QUIC_PORT))
        .collect();
    let relay_set: HashSet<NodeHandle> = relays.iter().copied().collect();
    let mut dead = 0;
    while dead < nodes_count * dead_percent / 100 {
        let pick = nodes[sim.rng().below(nodes_count as u64) as usize];
        if !relay_set.contains(&pick) && sim.is_running(pick) {
            sim.crash(pick);
            dead += 1;
        }
    }

    let mut clients: Vec<Client> = Vec::with_capacity(clients_count);
    for _ in 0..clients_count {
        let node = sim.add_node(Config {
            read_only: true,
            ..private()
        });
        let contacts = pick_distinct(&mut sim, &relays, BOOTSTRAP_RELAYS);
        let started = sim.elapsed();
        sim.bootstrap(node, &contacts).expect("running");
        let phase = match start {
            Start::AfterBootstrap => Phase::Joining,
            Start::AfterFirstAnswer => {
                for &contact in &contacts {
                    sim.ping(node, contact).expect("running");
                }
                Phase::Joining
            }
            Start::AtOnce => {
                Phase::LookingUp(sim.get_peers_via(node, key, &contacts).expect("running"))
            }
        };
        clients.push(Client {
            node,
            start,
            started,
            lookup_started: (start == Start::AtOnce).then_some(Duration::ZERO),
            phase,
            lookups: match phase {
                Phase::LookingUp(q) => vec![q],
                Phase::Joining | Phase::Retrying(_) => Vec::new(),
            },
        });
    }
    drive(&mut sim, &mut clients, &relay_addrs);

    let mut tally = Tally::default();
    for client in &clients {
        tally.unfinished += usize::from(!lookup_done(&sim, client, &relay_addrs));
        tally.add(&sim, client, &relay_addrs);
    }
    check_health(&sim, true);
    tally
}

fn clients_find_three_relays(start: Start) {
    let nodes_count: usize = env_or("SIM_NODES", 2_000);
    let clients: usize = env_or("SIM_CLIENTS", 210);
    let dead_percent: usize = env_or("SIM_DEAD_PERCENT", 10);
    let first_seed = seed_from_env(13_100);
    let wall = Instant::now();
    let mut all = Tally::default();
    for seed in first_seed..first_seed + SEEDS {
        eprintln!("discovery ({}): SEED={seed}", start.name());
        let tally = run_seed(
            start,
            seed,
            nodes_count,
            clients.div_ceil(SEEDS as usize),
            dead_percent,
        );
        all.clients += tally.clients;
        all.found_first += tally.found_first;
        all.found_wanted += tally.found_wanted;
        all.unfinished += tally.unfinished;
        all.bootstrap.extend(tally.bootstrap);
        all.first_relay.extend(tally.first_relay);
        all.wanted_relays.extend(tally.wanted_relays);
        all.lookup_first_relay.extend(tally.lookup_first_relay);
    }
    eprintln!(
        "discovery: {:.1} s of wall time",
        wall.elapsed().as_secs_f64()
    );
    all.report(
        start,
        nodes_count,
        dead_percent,
        first_seed..first_seed + SEEDS,
    );
}

#[test]
fn read_only_clients_find_three_relays_after_their_bootstrap() {
    clients_find_three_relays(Start::AfterBootstrap);
}

#[test]
fn read_only_clients_find_three_relays_after_the_first_bootstrap_answer() {
    clients_find_three_relays(Start::AfterFirstAnswer);
}

#[test]
fn read_only_clients_find_three_relays_looking_up_at_once() {
    clients_find_three_relays(Start::AtOnce);
}
