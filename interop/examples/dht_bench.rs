//! Benchmark: `tokengo dht get-peers` against the `mainline` crate's get_peers and a one-shot
//! libtorrent get_peers, side by side on one loopback network (Mainline protocol) of our nodes,
//! of libtorrent nodes, or of both, with the same single bootstrap node and the same announced
//! info hashes.
//!
//! ```sh
//! cargo build --release -p tokengo   # the binary (`--example` below builds only the example)
//! cargo build --release -p tokengo-interop --example dht_bench
//! target/release/examples/dht_bench target/release/tokengo 32 64 128
//! target/release/examples/dht_bench target/release/tokengo --networks libtorrent,mixed 32
//! ```
//!
//! Networks (`--networks`, comma-separated; all four by default):
//! - `ours`: our nodes, joined by a bootstrap through the seed, then a second one once all are
//!   up;
//! - `ours-refresh`: the same, then a Kademlia join's refresh of the four farthest buckets;
//! - `libtorrent`: libtorrent 2.0 sessions (`scripts/libtorrent_swarm.py`, all in one Python
//!   process), bootstrapped through the first one as their router, then a second bootstrap
//!   (a lookup of each session's own id) once all are up;
//! - `mixed`: half our nodes (the seed among them), half libtorrent sessions bootstrapped
//!   through our seed, joined as above.
//!
//! The info hashes are announced by nodes spread over the network (ours announce a port of
//! their own, libtorrent sessions their listen port). Each is then looked up once by each
//! client, the order rotating key by key: our client (the `tokengo` binary), the `mainline`
//! crate (a fresh read-only client) and libtorrent (`scripts/libtorrent_lookup.py`: a fresh
//! session whose only router is the seed). All three are bounded by a timeout.
//!
//! For each network it prints one row per client: over the info hashes, the median and 90th
//! percentile of the time to the first peer and to completion (both from the client's start,
//! bootstrap included; libtorrent's completion is its traversal log's "COMPLETED" line, as it
//! posts no alert at the end of a get_peers lookup), the median of the lookup's own part
//! where the client reports it (ours: the lookup's stats; libtorrent: from the `dht_get_peers`
//! call, once its DHT runs; the `mainline` crate reports none), the median number of datagrams the client
//! sent, counted the same way for all three as the queries the network's nodes received while
//! it ran (the clients are read-only or, libtorrent's, answer rather than ask; background
//! queries between the nodes are counted too: our nodes' `queries_in` stats and libtorrent's
//! `dht_*_in` counters), and the median of the client's own count of the queries it sent
//! where the client reports one (ours: `datagrams_sent`; libtorrent: its `dht_*_out`
//! counters; the `mainline` crate reports none). A last table gives our client's medians as
//! ratios of the others' on each network, against the targets of issue 13 (completion at most
//! 0.3x of both, datagrams no more than libtorrent's).

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokengo_core::{Config, Id, Stats};
use tokengo_interop::{LibtorrentSwarm, hex, libtorrent_lookup};
use tokengo_tokio::Dht;

/// Announced info hashes per network; each is looked up once by each client.
const INFO_HASHES: usize = 16;

/// How long a client's lookup may run: each client is told to stop after it, and is abandoned
/// (its process killed, or its thread left behind) 10 s later.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

const CLIENTS: [&str; 3] = [
    "tokengo dht get-peers",
    "mainline 8 get_peers",
    "libtorrent 2.0 dht_get_peers",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: dht_bench PATH-TO-tokengo [--networks ours,ours-refresh,libtorrent,mixed] [NODES...]";
    let tokengo = args.next().expect(usage);
    let mut kinds = vec![Kind::Ours, Kind::OursRefresh, Kind::Libtorrent, Kind::Mixed];
    let mut sizes = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--networks" {
            let list = args.next().expect(usage);
            kinds = list
                .split(',')
                .map(|name| Kind::parse(name).expect(usage))
                .collect();
        } else {
            sizes.push(arg.parse::<usize>().expect(usage));
        }
    }
    if sizes.is_empty() {
        sizes = vec![32];
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "| nodes | network | client | first peer ms (median / p90) | completion ms (median / p90) \
         | lookup alone ms (median) | datagrams sent (median; queries the network received) | queries sent, client's own count (median) \
         | lookups that found the peer (completed) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for &size in &sizes {
        for &kind in &kinds {
            let mut network = runtime.block_on(Network::build(kind, size));
            let seed = network.seed;
            let mut samples: [Vec<Sample>; 3] = Default::default();
            for i in 0..INFO_HASHES {
                let info_hash = Id([0x60 + i as u8; 20]);
                let announcer = (i * 7 + 3) % size;
                runtime.block_on(network.announce(announcer, info_hash, 20000 + i as u16));
                // Rotate which client goes first.
                for turn in 0..CLIENTS.len() {
                    let client = (turn + i) % CLIENTS.len();
                    // Python's libtorrent binding now and then crashes (SIGSEGV) before it
                    // reports anything: such a run is measured again, from a fresh count.
                    for attempt in 1.. {
                        let before = runtime.block_on(network.queries());
                        let sample = match client {
                            0 => Ok(run_tokengo(&tokengo, info_hash, seed)),
                            1 => Ok(run_mainline(info_hash, seed)),
                            _ => run_libtorrent(info_hash, seed),
                        };
                        let after = runtime.block_on(network.queries());
                        let sample = match sample {
                            Ok(sample) => sample,
                            Err(why) if attempt < 3 => {
                                eprintln!("dht_bench: {why}; measuring again");
                                continue;
                            }
                            Err(why) => Sample::failed(&why),
                        };
                        samples[client].push(Sample {
                            queries: after - before,
                            ..sample
                        });
                        break;
                    }
                }
            }
            for (client, samples) in CLIENTS.iter().zip(&samples) {
                report(size, kind, client, samples);
            }
            ratios.push((size, kind, Summary::of(&samples)));
            runtime.block_on(network.shutdown());
        }
    }
    println!();
    println!(
        "| nodes | network | completion: ours / mainline | completion: ours / libtorrent \
         | lookup alone: ours / libtorrent | datagrams: ours / libtorrent | completion ≤ 0.3x of both \
         | datagrams ≤ libtorrent's |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (size, kind, summary) in ratios {
        println!(
            "| {size} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            kind.label(),
            summary.ours_vs_mainline,
            summary.ours_vs_libtorrent,
            summary.lookup_vs_libtorrent,
            summary.datagrams_vs_libtorrent,
            yes_no(summary.ours_vs_mainline <= 0.3 && summary.ours_vs_libtorrent <= 0.3),
            yes_no(summary.datagrams_vs_libtorrent <= 1.0),
        );
    }
}

fn yes_no(met: bool) -> &'static str {
    if met { "yes" } else { "no" }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    first_peer: Option<Duration>,
    completion: Duration,
    /// The lookup's own part of `completion`, where the client reports it.
    lookup: Option<Duration>,
    /// Queries the network's nodes received while the client ran.
    queries: u64,
    /// The client's own count of the queries it sent, if it reports one.
    sent: Option<u64>,
    peers: usize,
    complete: bool,
}

impl Sample {
    /// A lookup that failed to report: counted as not found and not completed, its completion
    /// the whole timeout.
    fn failed(why: &str) -> Sample {
        eprintln!("dht_bench: {why}");
        Sample {
            first_peer: None,
            completion: LOOKUP_TIMEOUT,
            lookup: None,
            queries: 0,
            sent: None,
            peers: 0,
            complete: false,
        }
    }
}

/// Which nodes make up the network, and how they joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Ours: what the core does on its own, a bootstrap (self-lookup) through the seed, then a
    /// second one once every node is up.
    Ours,
    /// Ours, as above, then a Kademlia join's bucket refresh: a find_node into each of the
    /// four buckets farthest from the node's id, so no node is left without far contacts.
    OursRefresh,
    /// libtorrent sessions only.
    Libtorrent,
    /// Half ours (joined as [`Kind::Ours`]), half libtorrent sessions.
    Mixed,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "ours" => Kind::Ours,
            "ours-refresh" => Kind::OursRefresh,
            "libtorrent" => Kind::Libtorrent,
            "mixed" => Kind::Mixed,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Ours => "ours, bootstrap",
            Kind::OursRefresh => "ours, bootstrap + refresh",
            Kind::Libtorrent => "libtorrent",
            Kind::Mixed => "mixed, half ours half libtorrent",
        }
    }
}

/// A loopback network: our nodes first (node 0 the seed when there are any), then the
/// libtorrent sessions.
struct Network {
    ours: Vec<Dht>,
    swarm: Option<LibtorrentSwarm>,
    seed: SocketAddr,
}

impl Network {
    async fn build(kind: Kind, size: usize) -> Network {
        let our_count = match kind {
            Kind::Ours | Kind::OursRefresh => size,
            Kind::Libtorrent => 0,
            Kind::Mixed => size / 2,
        };
        let mut ours = Vec::with_capacity(our_count);
        for i in 0..our_count {
            let config = Config {
                seed: 1000 + i as u64,
                ..Config::mainline()
            };
            let node = Dht::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
                .await
                .expect("bind");
            ours.push(node);
        }
        let mut seed = ours.first().map(Dht::local_addr);
        if let Some(seed) = seed {
            for node in &ours[1..] {
                node.bootstrap_addrs(vec![seed]).await.expect("bootstrap");
            }
        }
        let mut swarm = None;
        if our_count < size {
            let started = LibtorrentSwarm::start(size - our_count, seed).expect("libtorrent");
            let expected = size - our_count - usize::from(seed.is_none());
            if started.bootstrapped < expected as u64 {
                eprintln!(
                    "dht_bench: {} of {expected} libtorrent sessions bootstrapped",
                    started.bootstrapped
                );
            }
            seed = seed.or(Some(started.addr(0)));
            swarm = Some(started);
        }
        for node in &ours {
            node.bootstrap_addrs(Vec::new())
                .await
                .expect("second bootstrap");
        }
        if let Some(swarm) = &mut swarm {
            let busy = swarm.rejoin().expect("libtorrent rejoin");
            if busy > 0 {
                eprintln!("dht_bench: {busy} libtorrent sessions still joining");
            }
        }
        if kind == Kind::OursRefresh {
            for node in &ours {
                for bit in 0..4 {
                    let mut target = node.id();
                    target.0[0] ^= 0x80 >> bit;
                    node.find_node(target).await.expect("refresh");
                }
            }
        }
        Network {
            ours,
            swarm,
            seed: seed.expect("a network of at least one node"),
        }
    }

    /// Node `index` announces `info_hash` (ours with `port`, libtorrent its listen port).
    async fn announce(&mut self, index: usize, info_hash: Id, port: u16) {
        if let Some(node) = self.ours.get(index) {
            let accepted = node
                .announce(info_hash, Some(port), false)
                .await
                .expect("announce")
                .accepted;
            assert!(accepted > 0, "announce accepted");
        } else {
            let swarm = self.swarm.as_mut().expect("a libtorrent node");
            let (_, sent) = swarm
                .announce(index - self.ours.len(), &hex(&info_hash.0))
                .expect("libtorrent announce");
            assert!(sent > 0, "libtorrent sent its announces");
        }
    }

    /// The queries all nodes have received so far.
    async fn queries(&mut self) -> u64 {
        let mut total = 0;
        for node in &self.ours {
            total += queries(&node.stats().await.expect("stats"));
        }
        if let Some(swarm) = &mut self.swarm {
            total += swarm.queries_in().expect("libtorrent stats");
        }
        total
    }

    async fn shutdown(self) {
        for node in &self.ours {
            let _ = node.shutdown().await;
        }
        drop(self.swarm);
    }
}

fn queries(stats: &Stats) -> u64 {
    let q = &stats.queries_in;
    q.ping + q.find_node + q.get_peers + q.announce_peer + q.other
}

fn run_tokengo(binary: &str, info_hash: Id, seed: SocketAddr) -> Sample {
    let spawned = Command::new(binary)
        .args([
            "dht",
            "get-peers",
            &info_hash.to_string(),
            "--network",
            "mainline",
        ])
        .args(["--bootstrap", &seed.to_string(), "--json", "--timeout"])
        .arg(LOOKUP_TIMEOUT.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Sample::failed(&format!("cannot run {binary}: {e}")),
    };
    let mut stdout = child.stdout.take().expect("stdout");
    let (sender, output) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        let _ = sender.send(text);
    });
    let text = output.recv_timeout(LOOKUP_TIMEOUT + Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let Ok(text) = text else {
        return Sample::failed("tokengo did not answer in time");
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Sample::failed("tokengo printed no JSON report");
    };
    let ms = |v: &serde_json::Value| v.as_f64().map(|ms| Duration::from_secs_f64(ms / 1e3));
    if json["peers"].as_array().is_none_or(Vec::is_empty) {
        eprintln!(
            "dht_bench: tokengo found no peer for {info_hash}: {}",
            json["stats"]
        );
    }
    Sample {
        first_peer: ms(&json["first_peer_ms"]),
        completion: ms(&json["elapsed_ms"]).unwrap_or(LOOKUP_TIMEOUT),
        lookup: ms(&json["stats"]["duration_ms"]),
        queries: 0,
        sent: json["datagrams_sent"].as_u64(),
        peers: json["peers"].as_array().map_or(0, Vec::len),
        complete: json["complete"].as_bool().unwrap_or(false),
    }
}

fn run_mainline(info_hash: Id, seed: SocketAddr) -> Sample {
    let (sender, result) = mpsc::channel();
    // On its own thread, so a lookup that never ends can be left behind.
    std::thread::spawn(move || {
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
        let _ = sender.send(Sample {
            first_peer,
            completion: started.elapsed(),
            lookup: None,
            queries: 0,
            sent: None,
            peers: peers.len(),
            complete: true,
        });
    });
    result
        .recv_timeout(LOOKUP_TIMEOUT + Duration::from_secs(10))
        .unwrap_or_else(|_| Sample::failed("the mainline lookup did not end in time"))
}

/// A libtorrent lookup, or why its process reported nothing.
fn run_libtorrent(info_hash: Id, seed: SocketAddr) -> Result<Sample, String> {
    let lookup = libtorrent_lookup(seed, &hex(&info_hash.0), LOOKUP_TIMEOUT)?;
    Ok(Sample {
        first_peer: lookup.first_peer,
        completion: lookup.elapsed,
        lookup: Some(lookup.lookup),
        queries: 0,
        sent: Some(lookup.queries_sent),
        peers: lookup.peers.len(),
        complete: lookup.complete,
    })
}

/// The value at quantile `q` (0.5: median) of `values`, nearest rank.
fn quantile<T: Ord + Copy>(mut values: Vec<T>, q: f64) -> Option<T> {
    values.sort();
    let last = values.len().checked_sub(1)?;
    values.get(((last as f64) * q).round() as usize).copied()
}

fn median_completion(samples: &[Sample]) -> f64 {
    quantile(samples.iter().map(|s| s.completion).collect(), 0.5)
        .map_or(f64::NAN, |d| d.as_secs_f64())
}

fn median_lookup(samples: &[Sample]) -> f64 {
    quantile(samples.iter().filter_map(|s| s.lookup).collect(), 0.5)
        .map_or(f64::NAN, |d| d.as_secs_f64())
}

fn median_queries(samples: &[Sample]) -> f64 {
    quantile(samples.iter().map(|s| s.queries).collect(), 0.5).map_or(f64::NAN, |q| q as f64)
}

/// Our client's medians over the others' on one network.
struct Summary {
    ours_vs_mainline: f64,
    ours_vs_libtorrent: f64,
    /// The lookups' own parts, without either client's start.
    lookup_vs_libtorrent: f64,
    datagrams_vs_libtorrent: f64,
}

impl Summary {
    fn of([ours, mainline, libtorrent]: &[Vec<Sample>; 3]) -> Summary {
        Summary {
            ours_vs_mainline: median_completion(ours) / median_completion(mainline),
            ours_vs_libtorrent: median_completion(ours) / median_completion(libtorrent),
            lookup_vs_libtorrent: median_lookup(ours) / median_lookup(libtorrent),
            datagrams_vs_libtorrent: median_queries(ours) / median_queries(libtorrent),
        }
    }
}

fn report(size: usize, kind: Kind, client: &str, samples: &[Sample]) {
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
    };
    let firsts: Vec<Duration> = samples.iter().filter_map(|s| s.first_peer).collect();
    let completions: Vec<Duration> = samples.iter().map(|s| s.completion).collect();
    let sent: Vec<u64> = samples.iter().filter_map(|s| s.sent).collect();
    let lookups: Vec<Duration> = samples.iter().filter_map(|s| s.lookup).collect();
    println!(
        "| {size} | {} | {client} | {} / {} | {} / {} | {} | {} | {} | {}/{} ({}) |",
        kind.label(),
        ms(quantile(firsts.clone(), 0.5)),
        ms(quantile(firsts, 0.9)),
        ms(quantile(completions.clone(), 0.5)),
        ms(quantile(completions, 0.9)),
        ms(quantile(lookups, 0.5)),
        quantile(samples.iter().map(|s| s.queries).collect(), 0.5).unwrap_or(0),
        quantile(sent, 0.5).map_or("-".to_string(), |n| n.to_string()),
        samples.iter().filter(|s| s.peers > 0).count(),
        samples.len(),
        samples.iter().filter(|s| s.complete).count(),
    );
}
