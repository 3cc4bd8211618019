//! The local proxy under slowloris: `tokengo serve` (a real process, started with a soft limit
//! of 1,024 open files as services often are) while 2,000 connections send partial headers a
//! byte at a time and 200 trickle request bodies, and a normal client sends a request every
//! 100 ms. Reports the normal client's success rate and latency before and during the attack,
//! side by side, how fast the attackers' connections are closed, and the process's peak RSS.
//!
//! `cargo bench -p tokengo --bench proxy_flood` (env: `SECONDS`, default 30; `PARTIAL`, 2000;
//! `TRICKLE`, 200).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Requests every 100 ms for `secs`; returns (sent, succeeded, sorted latencies of successes).
async fn normal_client(api: &str, secs: u64) -> (usize, usize, Vec<Duration>) {
    // A fresh connection per request, as a short-lived tool would make: it must get a slot.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{api}/v1/chat/completions");
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = matches!(http.post(url).body(body).send().await, Ok(r) if r.status() == 200);
            ok.then(|| t.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    let sent = tasks.len();
    for t in tasks {
        if let Ok(Some(l)) = t.await {
            latencies.push(l);
        }
    }
    latencies.sort();
    (sent, latencies.len(), latencies)
}

#[derive(Default)]
struct AttackStats {
    connections: AtomicU64,
    closed_by_server: AtomicU64,
    partial_closed: AtomicU64,
    /// Sum and max of how long the server held a partial-header connection (ms).
    held_ms_sum: AtomicU64,
    held_ms_max: AtomicU64,
}

/// One attacker: connects, sends `head` a byte at a time (then, for a trickle, a body byte a
/// second), and reconnects whenever the server closes; until `stop`.
async fn attacker(
    addr: String,
    head: &'static [u8],
    partial: bool,
    stats: Arc<AttackStats>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut sent = 0;
        let mut buf = [0u8; 256];
        let closed = loop {
            if stop.load(Ordering::Relaxed) {
                break false;
            }
            let byte: &[u8] = if sent < head.len() {
                &head[sent..=sent]
            } else {
                b"x"
            };
            if s.write_all(byte).await.is_err() {
                break true;
            }
            sent += 1;
            let wait = if partial || sent < head.len() {
                500
            } else {
                1000
            };
            match tokio::time::timeout(Duration::from_millis(wait), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => {}
                Err(_) => {}
            }
        };
        if closed {
            stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
            if partial {
                stats.partial_closed.fetch_add(1, Ordering::Relaxed);
                let ms = started.elapsed().as_millis() as u64;
                stats.held_ms_sum.fetch_add(ms, Ordering::Relaxed);
                stats.held_ms_max.fetch_max(ms, Ordering::Relaxed);
            }
        }
    }
}

fn main() {
    let secs = support::env("SECONDS", 30);
    let partial = support::env("PARTIAL", 2000);
    let trickle = support::env("TRICKLE", 200);
    tokengo_gateway::transport::install_crypto_provider();
    // The attackers need their own descriptors.
    tokengo_gateway::fd_limit::raise_open_file_limit();
    let rt = support::runtime();
    rt.block_on(async {
        let (listener, backend) = tokengo_gateway::echo_backend::bind().await.expect("bind");
        tokio::spawn(tokengo_gateway::echo_backend::serve(
            listener,
            vec!["m".into()],
            std::future::pending(),
        ));
        let listen = format!("127.0.0.1:{}", support::free_port());
        let backend = format!("http://{backend}");
        let mut child =
            support::start_serve(&["--backend", &backend, "--listen", &listen], Some(1024));
        let api = format!("http://{listen}");

        let quiet = normal_client(&api, 10).await;

        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(AttackStats::default());
        let mut attackers = Vec::new();
        for i in 0..partial + trickle {
            let is_partial = i < partial;
            let head: &'static [u8] = if is_partial {
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nx-slow: "
            } else {
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n\
                  content-length: 1000000\r\n\r\n"
            };
            attackers.push(tokio::spawn(attacker(
                listen.clone(),
                head,
                is_partial,
                stats.clone(),
                stop.clone(),
            )));
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let attacked = normal_client(&api, secs).await;
        stop.store(true, Ordering::Relaxed);
        for a in attackers {
            let _ = a.await;
        }
        let rss = support::status_kib(child.id(), "VmHWM:");
        let _ = child.kill();
        let _ = child.wait();

        println!("normal client, one request every 100 ms (fresh connection each):");
        println!("| phase | sent | succeeded | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|");
        for (name, (sent, ok, lat)) in [
            ("quiet, 10 s", &quiet),
            (&*format!("under attack, {secs} s"), &attacked),
        ] {
            println!(
                "| {name} | {sent} | {ok} ({:.1} %) | {:.1} | {:.1} |",
                100.0 * *ok as f64 / (*sent).max(1) as f64,
                support::ms(support::percentile(lat, 0.5)),
                support::ms(support::percentile(lat, 0.99))
            );
        }
        let closed = stats.closed_by_server.load(Ordering::Relaxed);
        println!(
            "\nattack: {partial} partial-header + {trickle} trickling connections, {} connects, \
             {closed} closed by the proxy; partial headers held {:.1} s on average, {:.1} s at \
             most; proxy peak RSS {} MiB (soft limit 1,024 open files at start)",
            stats.connections.load(Ordering::Relaxed),
            stats.held_ms_sum.load(Ordering::Relaxed) as f64
                / 1e3
                / stats.partial_closed.load(Ordering::Relaxed).max(1) as f64,
            stats.held_ms_max.load(Ordering::Relaxed) as f64 / 1e3,
            rss / 1024
        );
    });
}
