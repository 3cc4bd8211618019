//! Benchmark: `tokengo dht get-peers` against the `mainline` crate's get_peers, side by side
//! on one loopback network of our nodes (Mainline protocol), with the same single bootstrap
//! node and the same announced info hashes.
//!
//! ```sh
//! cargo build --release -p tokengo
//! cargo run --release -p tokengo-interop --example dht_bench -- target/release/tokengo 32 64 128
//! ```
//!
//! For each network size it prints one row per client: over the info hashes, the median and
//! 90th percentile of the time to the first peer and to completion (both from the client's
//! start, bootstrap included), and the median number of datagrams the client sent, counted as
//! the queries the network's nodes received while it ran (both clients are read-only, so they
//! send nothing but queries; background traffic between the nodes is counted too).

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};
use tokengo_core::{Config, Id, Stats};
use tokengo_tokio::Dht;

/// Announced info hashes per network size; each is looked up once by each client.
const INFO_HASHES: usize = 16;

fn main() {
    let mut args = std::env::args().skip(1);
    let tokengo = args
        .next()
        .expect("usage: dht_bench PATH-TO-tokengo [NODES...]");
    let mut sizes: Vec<usize> = args.map(|a| a.parse().expect("a node count")).collect();
    if sizes.is_empty() {
        sizes = vec![32];
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "| nodes | network joined by | client | first peer ms (median / p90) | completion ms (median / p90) \
         | datagrams sent (median) | lookups that found the peer |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (size, join) in sizes
        .iter()
        .flat_map(|&size| [(size, Join::Bootstrap), (size, Join::Refresh)])
    {
        let nodes = runtime.block_on(network(size, join));
        let seed = nodes[0].local_addr();
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for i in 0..INFO_HASHES {
            let info_hash = Id([0x60 + i as u8; 20]);
            let port = 20000 + i as u16;
            let announcer = &nodes[(i * 7 + 3) % size];
            let accepted = runtime
                .block_on(announcer.announce(info_hash, Some(port), false))
                .expect("announce")
                .accepted;
            assert!(accepted > 0, "announce accepted");
            // Alternate which client goes first.
            let mut run_ours = || {
                let before = runtime.block_on(network_queries(&nodes));
                let sample = run_tokengo(&tokengo, info_hash, seed);
                let after = runtime.block_on(network_queries(&nodes));
                ours.push(Sample {
                    queries: after - before,
                    ..sample
                });
            };
            let mut run_theirs = || {
                let before = runtime.block_on(network_queries(&nodes));
                let sample = run_mainline(info_hash, seed);
                let after = runtime.block_on(network_queries(&nodes));
                theirs.push(Sample {
                    queries: after - before,
                    ..sample
                });
            };
            if i % 2 == 0 {
                run_ours();
                run_theirs();
            } else {
                run_theirs();
                run_ours();
            }
        }
        report(size, join, "tokengo dht get-peers", &ours);
        report(size, join, "mainline 8 get_peers", &theirs);
        runtime.block_on(async {
            for node in &nodes {
                let _ = node.shutdown().await;
            }
        });
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    first_peer: Option<Duration>,
    completion: Duration,
    queries: u64,
    peers: usize,
}

/// How the network's nodes joined.
#[derive(Debug, Clone, Copy)]
enum Join {
    /// What the core does on its own: a bootstrap (self-lookup) through the seed, then a
    /// second one once every node is up.
    Bootstrap,
    /// The same, then a Kademlia join's bucket refresh: a find_node into each of the four
    /// buckets farthest from the node's id, so no node is left without far contacts.
    Refresh,
}

impl Join {
    fn label(self) -> &'static str {
        match self {
            Join::Bootstrap => "bootstrap",
            Join::Refresh => "bootstrap + refresh",
        }
    }
}

/// `size` of our nodes on loopback; node 0 is the seed, the others join through it.
async fn network(size: usize, join: Join) -> Vec<Dht> {
    let mut nodes = Vec::with_capacity(size);
    for i in 0..size {
        let config = Config {
            seed: 1000 + i as u64,
            ..Config::mainline()
        };
        let node = Dht::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .await
            .expect("bind");
        nodes.push(node);
    }
    let seed = nodes[0].local_addr();
    for node in &nodes[1..] {
        node.bootstrap_addrs(vec![seed]).await.expect("bootstrap");
    }
    for node in &nodes {
        node.bootstrap_addrs(Vec::new())
            .await
            .expect("second bootstrap");
    }
    if let Join::Refresh = join {
        for node in &nodes {
            for bit in 0..4 {
                let mut target = node.id();
                target.0[0] ^= 0x80 >> bit;
                node.find_node(target).await.expect("refresh");
            }
        }
    }
    nodes
}

fn queries(stats: &Stats) -> u64 {
    let q = &stats.queries_in;
    q.ping + q.find_node + q.get_peers + q.announce_peer + q.other
}

async fn network_queries(nodes: &[Dht]) -> u64 {
    let mut total = 0;
    for node in nodes {
        total += queries(&node.stats().await.expect("stats"));
    }
    total
}

fn run_tokengo(binary: &str, info_hash: Id, seed: SocketAddr) -> Sample {
    let out = Command::new(binary)
        .args([
            "dht",
            "get-peers",
            &info_hash.to_string(),
            "--network",
            "mainline",
        ])
        .args([
            "--bootstrap",
            &seed.to_string(),
            "--json",
            "--timeout",
            "60",
        ])
        .output()
        .expect("run tokengo");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let ms = |v: &serde_json::Value| v.as_f64().map(|ms| Duration::from_secs_f64(ms / 1e3));
    Sample {
        first_peer: ms(&json["first_peer_ms"]),
        completion: ms(&json["elapsed_ms"]).expect("elapsed"),
        queries: 0,
        peers: json["peers"].as_array().map_or(0, Vec::len),
    }
}

fn run_mainline(info_hash: Id, seed: SocketAddr) -> Sample {
    let started = Instant::now();
    let dht = mainline::Dht::builder()
        .bootstrap(&[seed])
        .bind_address(Ipv4Addr::LOCALHOST)
        .port(0)
        .build()
        .expect("mainline client");
    let target = mainline::Id::from_bytes(info_hash.0).expect("20 bytes");
    let mut first_peer = None;
    let mut peers = std::collections::HashSet::new();
    for batch in dht.get_peers(target) {
        if !batch.is_empty() {
            first_peer.get_or_insert_with(|| started.elapsed());
        }
        peers.extend(batch);
    }
    Sample {
        first_peer,
        completion: started.elapsed(),
        queries: 0,
        peers: peers.len(),
    }
}

/// The value at quantile `q` (0.5: median) of `values`, nearest rank.
fn quantile<T: Ord + Copy>(mut values: Vec<T>, q: f64) -> Option<T> {
    values.sort();
    let last = values.len().checked_sub(1)?;
    values.get(((last as f64) * q).round() as usize).copied()
}

fn report(size: usize, join: Join, client: &str, samples: &[Sample]) {
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
    };
    let firsts: Vec<Duration> = samples.iter().filter_map(|s| s.first_peer).collect();
    let completions: Vec<Duration> = samples.iter().map(|s| s.completion).collect();
    println!(
        "| {size} | {} | {client} | {} / {} | {} / {} | {} | {}/{} |",
        join.label(),
        ms(quantile(firsts.clone(), 0.5)),
        ms(quantile(firsts.clone(), 0.9)),
        ms(quantile(completions.clone(), 0.5)),
        ms(quantile(completions, 0.9)),
        quantile(samples.iter().map(|s| s.queries).collect(), 0.5).unwrap_or(0),
        samples.iter().filter(|s| s.peers > 0).count(),
        samples.len()
    );
}
