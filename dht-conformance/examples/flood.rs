//! Flood benchmark: one DHT node (in a child process, so that its memory and CPU are its own)
//! under a flood of junk and valid queries from many loopback addresses, while three kinds of
//! traffic that must keep working are measured, each at 10 pings a second:
//!
//! - a stranger: a plain socket on 127.0.0.2 that the node never queried;
//! - a known node: another DHT node (in this process) that answered the node's bootstrap, so
//!   it is a verified entry of the node's routing table;
//! - the node's own queries: the node pings that known node, and counts the answers.
//!
//! Flooders: `--senders` threads share `--addrs` sockets bound to 127.0.1.1, 127.0.1.2, ...
//! and send as fast as they can, in turn: 40 bytes of junk, ping, find_node and get_peers
//! (random targets), and announce_peer with the token the node gave that address (get_peers
//! until it has one). Prints a markdown table: its header and one row.
//!
//! ```sh
//! cargo run --release -p dht-conformance --example flood -- --runtime tokio --secs 15
//! ```
//!
//! Options: `--runtime tokio|mio` (default tokio), `--secs N` (15), `--senders N` (2),
//! `--addrs N` (300); `FLOOD_UNSOLICITED_RATE=N` sets the node's budget for heavy strangers
//! (0: none). Not a test: nothing is asserted, the figures go to docs/BENCHMARKS.md.

use dht_conformance::{MioRuntime, Runtime, TokioRuntime};
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokengo_core::Config;

/// Pings per second of each measured kind.
const PINGS_PER_SEC: u64 = 10;
/// An answer later than this counts as lost.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

struct Options {
    runtime: String,
    secs: u64,
    senders: usize,
    addrs: usize,
}

fn options() -> Options {
    let mut options = Options {
        runtime: "tokio".into(),
        secs: 15,
        senders: 2,
        addrs: 300,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--runtime" => options.runtime = value,
            "--secs" => options.secs = value.parse().expect("--secs N"),
            "--senders" => options.senders = value.parse().expect("--senders N"),
            "--addrs" => options.addrs = value.parse().expect("--addrs N"),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    options
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("node") {
        let known: SocketAddr = args[3].parse().expect("known node address");
        match args[2].as_str() {
            "mio" => node::<MioRuntime>(known),
            _ => node::<TokioRuntime>(known),
        }
        return;
    }
    drive(options());
}

/// Counts answered pings, each sent in its own thread so that slow answers do not slow the rate.
fn ping_loop(
    stop: Arc<AtomicBool>,
    ping: impl Fn() -> Option<Duration> + Send + Sync + 'static,
) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let ping = Arc::new(ping);
        let answered = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        let mut sent = 0;
        let start = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let (ping, answered) = (ping.clone(), answered.clone());
            threads.push(std::thread::spawn(move || {
                if ping().is_some_and(|rtt| rtt <= ANSWER_WITHIN) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }));
            sent += 1;
            let next = start + Duration::from_millis(sent * 1000 / PINGS_PER_SEC);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        for thread in threads {
            let _ = thread.join();
        }
        (answered.load(Ordering::Relaxed), sent)
    })
}

fn timed<R: Runtime>(node: &R, to: SocketAddr) -> Option<Duration> {
    let start = Instant::now();
    node.ping(to).ok().flatten().map(|_| start.elapsed())
}

/// The child: the node under test. Prints its address, pings the known node until stdin
/// closes, then prints its figures.
fn node<R: Runtime + Send + Sync + 'static>(known: SocketAddr) {
    let node = Arc::new(R::start(node_config()));
    let table = node.bootstrap(vec![known]).expect("bootstrap");
    println!("{} {table}", node.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = node.clone();
    let own = ping_loop(stop.clone(), move || timed(&*pinger, known));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let cpu_flood = cpu_secs();
    stop.store(true, Ordering::Relaxed);
    let (answered, sent) = own.join().expect("pinger");
    let stats = node.stats().expect("stats");
    let (rss, hwm) = memory();
    println!(
        "own {answered} {sent} in {} out {} over_limit {} malformed {} rss_kib {rss} hwm_kib {hwm} cpu_s {cpu_flood:.1}",
        stats.queries_in.ping
            + stats.queries_in.find_node
            + stats.queries_in.get_peers
            + stats.queries_in.announce_peer
            + stats.queries_in.other,
        stats.responses_out + stats.errors_out,
        stats.dropped.over_limit,
        stats.dropped.malformed,
    );
    let _ = std::io::stdout().flush();
}

/// The node's config: the default, with `FLOOD_UNSOLICITED_RATE` (queries per second from
/// senders outside the routing table, 0 for no limit) when set.
fn node_config() -> Config {
    let mut config = Config::default();
    if let Some(rate) = std::env::var("FLOOD_UNSOLICITED_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.unsolicited_query_rate = rate;
        config.unsolicited_query_burst = rate.saturating_mul(2);
    }
    config
}

/// (VmRSS, VmHWM) of this process in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User plus system CPU time of this process, assuming 100 clock ticks a second.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Datagrams the kernel dropped for full UDP receive buffers, machine-wide.
fn rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let (Some(names), Some(values)) = (udp.first(), udp.get(1)) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn drive(options: Options) {
    let known = Arc::new(TokioRuntime::start(Config {
        seed: 7,
        ..Config::default()
    }));
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["node", &options.runtime, &known.addr().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the node");
    let mut child_out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    child_out.read_line(&mut first).expect("node address");
    let target: SocketAddr = first
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .expect("node address");

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let sockets: Vec<UdpSocket> = (0..options.addrs)
        .map(|i| {
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 1, 1)) + i as u32);
            let socket = UdpSocket::bind((ip, 0)).expect("bind a flood address");
            socket.set_nonblocking(true).expect("nonblocking");
            socket
        })
        .collect();
    let mut shares: Vec<Vec<UdpSocket>> = (0..options.senders).map(|_| Vec::new()).collect();
    for (i, socket) in sockets.into_iter().enumerate() {
        shares[i % options.senders].push(socket);
    }
    let rcvbuf_before = rcvbuf_errors();
    let started = Instant::now();
    let flooders: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(n, share)| {
            let (stop, sent, received) = (stop.clone(), sent.clone(), received.clone());
            std::thread::spawn(move || flood(n as u64, share, target, &stop, &sent, &received))
        })
        .collect();

    // Each of the stranger's pings comes from a fresh port of 127.0.0.2.
    let stranger = ping_loop(stop.clone(), move || {
        let socket = UdpSocket::bind("127.0.0.2:0").ok()?;
        socket.set_read_timeout(Some(ANSWER_WITHIN)).ok()?;
        let start = Instant::now();
        socket.send_to(&ping(&[0x22; 20], b"ping"), target).ok()?;
        let mut buf = [0u8; 1500];
        socket.recv_from(&mut buf).ok()?;
        Some(start.elapsed())
    });
    let known_pinger = known.clone();
    let from_known = ping_loop(stop.clone(), move || timed(&*known_pinger, target));

    std::thread::sleep(Duration::from_secs(options.secs));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for flooder in flooders {
        let _ = flooder.join();
    }
    let dropped_by_kernel = rcvbuf_errors() - rcvbuf_before;
    let (stranger_ok, stranger_sent) = stranger.join().expect("stranger");
    let (known_ok, known_sent) = from_known.join().expect("known");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"stop\n");
    drop(stdin);
    let mut rest = String::new();
    let _ = child_out.read_to_string(&mut rest);
    let _ = child.wait();
    let figures: HashMap<&str, &str> = {
        let words: Vec<&str> = rest.split_whitespace().collect();
        words
            .get(3..)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|p| Some((*p.first()?, *p.get(1)?)))
            .collect()
    };
    let own: Vec<&str> = rest.split_whitespace().skip(1).take(2).collect();
    let pct = |ok: u64, all: u64| 100.0 * ok as f64 / all.max(1) as f64;
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "| runtime | secs | flood sent (per s) | flood answers received | node: queries in / answers out / over limit / junk | kernel drops (all UDP) | stranger pings | known node's pings | node's own pings | node RSS / peak | node CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.1} | {} ({:.0}/s) | {} | {} / {} / {} / {} | {} | {:.0} % ({}/{}) | {:.0} % ({}/{}) | {} | {} / {} MiB | {} s |",
        options.runtime,
        elapsed.as_secs_f64(),
        sent,
        sent as f64 / elapsed.as_secs_f64(),
        received.load(Ordering::Relaxed),
        figures.get("in").unwrap_or(&"?"),
        figures.get("out").unwrap_or(&"?"),
        figures.get("over_limit").unwrap_or(&"?"),
        figures.get("malformed").unwrap_or(&"?"),
        dropped_by_kernel,
        pct(stranger_ok, stranger_sent),
        stranger_ok,
        stranger_sent,
        pct(known_ok, known_sent),
        known_ok,
        known_sent,
        match own.as_slice() {
            [ok, all] => format!(
                "{:.0} % ({ok}/{all})",
                pct(ok.parse().unwrap_or(0), all.parse().unwrap_or(0))
            ),
            _ => "?".into(),
        },
        kib_to_mib(figures.get("rss_kib")),
        kib_to_mib(figures.get("hwm_kib")),
        figures.get("cpu_s").unwrap_or(&"?"),
    );
}

fn kib_to_mib(kib: Option<&&str>) -> String {
    kib.and_then(|k| k.parse::<f64>().ok())
        .map_or("?".into(), |k| format!("{:.1}", k / 1024.0))
}

/// One flood thread: every socket in turn sends the next kind of datagram; answers are read
/// between rounds (for tokens, and to count them).
fn flood(
    seed: u64,
    sockets: Vec<UdpSocket>,
    target: SocketAddr,
    stop: &AtomicBool,
    sent: &AtomicU64,
    received: &AtomicU64,
) {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut random = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let ids: Vec<[u8; 20]> = sockets.iter().map(|_| bytes20(&mut random)).collect();
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; sockets.len()];
    let mut buf = [0u8; 1500];
    let mut round = 0u64;
    let mut count = 0;
    while !stop.load(Ordering::Relaxed) {
        for (i, socket) in sockets.iter().enumerate() {
            let tid = (round as u32).to_be_bytes();
            let datagram = match (round + i as u64) % 5 {
                0 => (0..40).map(|_| random() as u8).collect(),
                1 => ping(&ids[i], &tid),
                2 => query(
                    &ids[i],
                    &tid,
                    "find_node",
                    "6:target",
                    &bytes20(&mut random),
                ),
                3 => query(
                    &ids[i],
                    &tid,
                    "get_peers",
                    "9:info_hash",
                    &bytes20(&mut random),
                ),
                _ => match &tokens[i] {
                    Some(token) => announce(&ids[i], &tid, &bytes20(&mut random), token),
                    None => query(&ids[i], &tid, "get_peers", "9:info_hash", &[7; 20]),
                },
            };
            if socket.send_to(&datagram, target).is_ok() {
                count += 1;
            }
        }
        sent.fetch_add(count, Ordering::Relaxed);
        count = 0;
        for (i, socket) in sockets.iter().enumerate() {
            while let Ok((len, _)) = socket.recv_from(&mut buf) {
                received.fetch_add(1, Ordering::Relaxed);
                if let Some(token) = token_of(&buf[..len]) {
                    tokens[i] = Some(token);
                }
            }
        }
        round += 1;
    }
}

fn bytes20(random: &mut impl FnMut() -> u64) -> [u8; 20] {
    let mut out = [0u8; 20];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&random().to_be_bytes()[..chunk.len()]);
    }
    out
}

fn ping(id: &[u8; 20], tid: &[u8; 4]) -> Vec<u8> {
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(b"e3:net7:tokengo1:q4:ping1:t4:");
    out.extend_from_slice(tid);
    out.extend_from_slice(b"1:y1:qe");
    out
}

fn query(id: &[u8; 20], tid: &[u8; 4], method: &str, key: &str, value: &[u8; 20]) -> Vec<u8> {
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"20:");
    out.extend_from_slice(value);
    out.extend_from_slice(format!("e3:net7:tokengo1:q{}:{method}1:t4:", method.len()).as_bytes());
    out.extend_from_slice(tid);
    out.extend_from_slice(b"1:y1:qe");
    out
}

fn announce(id: &[u8; 20], tid: &[u8; 4], info_hash: &[u8; 20], token: &[u8]) -> Vec<u8> {
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(b"12:implied_porti1e9:info_hash20:");
    out.extend_from_slice(info_hash);
    out.extend_from_slice(format!("4:porti6881e5:token{}:", token.len()).as_bytes());
    out.extend_from_slice(token);
    out.extend_from_slice(b"e3:net7:tokengo1:q13:announce_peer1:t4:");
    out.extend_from_slice(tid);
    out.extend_from_slice(b"1:y1:qe");
    out
}

/// The `token` string of an answer, found by its key.
fn token_of(datagram: &[u8]) -> Option<Vec<u8>> {
    let at = datagram.windows(7).position(|w| w == b"5:token")? + 7;
    let rest = datagram.get(at..)?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    rest.get(colon + 1..colon + 1 + len).map(<[u8]>::to_vec)
}
