//! The relay's memory under a buffering attack: the attacker registers an exit that never reads
//! and opens 64 connections x 256 streams that each send a 1.25 MB request to it, while a normal
//! client sends a request every 100 ms through the same relay. Runs `tokengo serve` (relay,
//! exit and proxy in one process) and reports its peak RSS before and during the attack, side
//! by side, and the normal client's success rate and latency.
//!
//! `cargo bench -p tokengo --bench relay_memory` (env: `SECONDS`, default 20; `CONNECTIONS`,
//! 64; `STREAMS`, 256).

#[path = "../tests/common/hand_register.rs"]
mod hand_register;
mod support;

use hand_register::register_by_hand;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokengo_gateway::frame_io::write_header;
use tokengo_gateway::transport::{self, ALPN_CLIENT, ALPN_EXIT, SERVER_NAME, TransportLimits};
use tokengo_gateway_proto::frame::MessageType;
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;
use tokengo_gateway_proto::publication::{Publication, PublicationSettings};

const REQUEST: usize = 1_250_000;

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
    let ack = register_by_hand(
        &conn,
        &relay_id,
        &identity.id(),
        &descriptor,
        Some(&identity),
    )
    .await;
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

fn main() {
    let secs = support::env("SECONDS", 20);
    let connections = support::env("CONNECTIONS", 64);
    let streams = support::env("STREAMS", 256);
    transport::install_crypto_provider();
    let rt = support::runtime();
    rt.block_on(async {
        let (listener, backend) = tokengo_gateway::echo_backend::bind().await.expect("bind");
        tokio::spawn(tokengo_gateway::echo_backend::serve(
            listener,
            vec!["m".into()],
            std::future::pending(),
        ));
        let (api_port, relay_port) = (support::free_port(), support::free_port());
        let relay: std::net::SocketAddr = format!("127.0.0.1:{relay_port}").parse().expect("addr");
        let (backend, api_listen) = (format!("http://{backend}"), format!("127.0.0.1:{api_port}"));
        let relay_listen = relay.to_string();
        let args = [
            "--backend",
            &backend,
            "--listen",
            &api_listen,
            "--relay-listen",
            &relay_listen,
        ];
        let mut child = support::start_serve(&args, None);
        let api = format!("http://127.0.0.1:{api_port}");
        let pid = child.id();

        let quiet = normal_client(&api, 5).await;
        let quiet_rss = support::status_kib(pid, "VmRSS:");

        let (exit_id, _exit_conn) = stalled_exit(relay).await;
        let pushed = Arc::new(AtomicU64::new(0));
        let mut conns = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let conn = connect(relay, ALPN_CLIENT, TransportLimits::to_relay(0)).await;
            for _ in 0..streams {
                let (conn, exit_id, pushed) = (conn.clone(), exit_id.clone(), pushed.clone());
                tasks.push(tokio::spawn(async move {
                    let Ok((mut send, _recv)) = conn.open_bi().await else {
                        return;
                    };
                    if write_header(&mut send, MessageType::Request, &exit_id, REQUEST)
                        .await
                        .is_err()
                    {
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
        let attacked_rss = support::status_kib(pid, "VmRSS:");
        let peak = support::status_kib(pid, "VmHWM:");
        let pushed = pushed.load(Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
        let _ = child.kill();
        let _ = child.wait();

        println!("normal client, one request every 100 ms, through the attacked relay:");
        println!("| phase | sent | succeeded | p50 ms | p99 ms | serve RSS |");
        println!("|---|---|---|---|---|---|");
        for (name, (sent, ok), rss) in [
            ("quiet, 5 s", &quiet, quiet_rss),
            (&*format!("under attack, {secs} s"), &attacked, attacked_rss),
        ] {
            println!(
                "| {name} | {sent} | {} ({:.1} %) | {:.1} | {:.1} | {} MiB |",
                ok.len(),
                100.0 * ok.len() as f64 / (*sent).max(1) as f64,
                support::ms(support::percentile(ok, 0.5)),
                support::ms(support::percentile(ok, 0.99)),
                rss / 1024
            );
        }
        println!(
            "\nattack: {connections} connections x {streams} streams x {REQUEST} bytes offered \
             ({} MiB) to an exit that never reads; the relay took {} MiB of it; \
             peak RSS of serve (relay, exit and proxy) {} MiB",
            connections * streams * REQUEST as u64 / (1024 * 1024),
            pushed / (1024 * 1024),
            peak / 1024
        );
    });
}
