//! The relay's memory under a buffering attack: the attacker registers an exit that never reads
//! and opens 64 connections x 256 streams that each send a 1.25 MB request to it, while a normal
//! client sends a request every 100 ms through the same relay. Runs `tokengo serve` (relay,
//! exit and proxy in one process) and reports its peak RSS before and during the attack, side
//! by side, and the normal client's success rate and latency.
//!
//! `cargo bench -p tokengo --bench relay_memory` (env: `SECONDS`, default 20; `CONNECTIONS`,
//! 64; `STREAMS`, 256).

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokengo_gateway::frame_io::{read_frame, write_frame, write_header};
use tokengo_gateway::transport::{self, ALPN_CLIENT, ALPN_EXIT, SERVER_NAME, TransportLimits};
use tokengo_gateway_proto::frame::{Frame, MessageType};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;
use tokengo_gateway_proto::publication::{Publication, PublicationSettings};
use tokengo_gateway_proto::registration::proof_message;

const REQUEST: usize = 1_250_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn connect(
    relay: std::net::SocketAddr,
    alpn: &[u8],
    limits: TransportLimits,
) -> quinn::Connection {
    transport::dialer_endpoint(alpn, None, limits, false)
        .expect("endpoint")
        .connect(relay, SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake")
}

/// Registers an exit that never reads what the relay forwards; returns its id and connection.
async fn stalled_exit(relay: std::net::SocketAddr) -> (String, quinn::Connection) {
    let limits = TransportLimits {
        max_streams: 100_000,
        idle_timeout: Duration::from_secs(60),
        keep_alive: Some(Duration::from_secs(2)),
        stream_window: 64 * 1024,
        connection_window: 256 * 1024,
    };
    let conn = connect(relay, ALPN_EXIT, limits).await;
    let relay_id = transport::peer_key(&conn).expect("relay id");
    let identity = Identity::generate().expect("identity");
    let key = OhttpKeyPair::generate().expect("key");
    let now = tokengo_gateway::unix_now();
    let published =
        Publication::new(&identity, key, PublicationSettings::default(), now).expect("descriptor");
    let descriptor = published.descriptor().to_vec();
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    write_frame(
        &mut send,
        &Frame::to_target(MessageType::Register, identity.id(), descriptor.clone()),
    )
    .await
    .expect("register");
    let challenge = read_frame(&mut recv, 4096).await.expect("challenge");
    let nonce: [u8; 32] = challenge.payload[..].try_into().expect("nonce");
    let proof = identity
        .sign(&proof_message(&relay_id, &nonce, &descriptor))
        .expect("sign");
    write_frame(
        &mut send,
        &Frame::new(MessageType::RegisterProof, proof.to_vec()),
    )
    .await
    .expect("proof");
    let ack = read_frame(&mut recv, 4096).await.expect("ack");
    assert_eq!(
        ack.kind,
        MessageType::RegisterAck,
        "the stalled exit registered"
    );
    (identity.id(), conn)
}

async fn normal_client(api: &str, secs: u64) -> (usize, Vec<Duration>) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{api}/v1/chat/completions");
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let end = Instant::now() + Duration::from_secs(secs);
    let (mut sent, mut ok) = (0, Vec::new());
    while Instant::now() < end {
        tick.tick().await;
        sent += 1;
        let t = Instant::now();
        if matches!(http.post(&url).body(body).send().await, Ok(r) if r.status() == 200) {
            ok.push(t.elapsed());
        }
    }
    ok.sort();
    (sent, ok)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn main() {
    let secs = env("SECONDS", 20);
    let connections = env("CONNECTIONS", 64);
    let streams = env("STREAMS", 256);
    transport::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (listener, backend) = tokengo_gateway::echo_backend::bind().await.expect("bind");
        tokio::spawn(tokengo_gateway::echo_backend::serve(listener, std::future::pending()));
        let free = || std::net::UdpSocket::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let (api_port, relay_port) = (free(), free());
        let relay: std::net::SocketAddr = format!("127.0.0.1:{relay_port}").parse().expect("addr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokengo"))
            .args(["serve", "--backend", &format!("http://{backend}")])
            .args(["--listen", &format!("127.0.0.1:{api_port}"), "--relay-listen", &relay.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tokengo serve");
        let stdout = child.stdout.take().expect("stdout");
        let ready = std::io::BufReader::new(stdout).lines().any(|l| l.is_ok_and(|l| l.contains("OpenAI-compatible API")));
        assert!(ready, "tokengo serve did not start");
        let api = format!("http://127.0.0.1:{api_port}");
        let pid = child.id();

        let quiet = normal_client(&api, 5).await;
        let quiet_rss = rss_kib(pid, "VmRSS:");

        let (exit_id, _exit_conn) = stalled_exit(relay).await;
        let pushed = Arc::new(AtomicU64::new(0));
        let mut conns = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let conn = connect(relay, ALPN_CLIENT, TransportLimits::to_relay(0)).await;
            for _ in 0..streams {
                let (conn, exit_id, pushed) = (conn.clone(), exit_id.clone(), pushed.clone());
                tasks.push(tokio::spawn(async move {
                    let Ok((mut send, _recv)) = conn.open_bi().await else { return };
                    if write_header(&mut send, MessageType::Request, &exit_id, REQUEST).await.is_err() {
                        return;
                    }
                    let chunk = vec![0u8; 64 * 1024];
                    let mut left = REQUEST;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        if send.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        pushed.fetch_add(n as u64, Ordering::Relaxed);
                        left -= n;
                    }
                    let _ = _recv;
                    std::future::pending::<()>().await;
                }));
            }
            conns.push(conn);
        }
        let attacked = normal_client(&api, secs).await;
        let attacked_rss = rss_kib(pid, "VmRSS:");
        let peak = rss_kib(pid, "VmHWM:");
        let pushed = pushed.load(Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
        let _ = child.kill();
        let _ = child.wait();

        println!("normal client, one request every 100 ms, through the attacked relay:");
        println!("| phase | sent | succeeded | p50 ms | p99 ms | serve RSS |");
        println!("|---|---|---|---|---|---|");
        for (name, (sent, ok), rss) in [("quiet, 5 s", &quiet, quiet_rss), (&*format!("under attack, {secs} s"), &attacked, attacked_rss)] {
            println!(
                "| {name} | {sent} | {} ({:.1} %) | {:.1} | {:.1} | {} MiB |",
                ok.len(),
                100.0 * ok.len() as f64 / (*sent).max(1) as f64,
                percentile(ok, 0.5),
                percentile(ok, 0.99),
                rss / 1024
            );
        }
        println!(
            "\nattack: {connections} connections x {streams} streams x {REQUEST} bytes offered ({} MiB) to an exit that never reads; the relay took {} MiB of it; peak RSS of serve (relay, exit and proxy) {} MiB",
            connections * streams * REQUEST as u64 / (1024 * 1024),
            pushed / (1024 * 1024),
            peak / 1024
        );
    });
}
