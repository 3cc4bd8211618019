//! Gateway overhead: the same small chat request sent straight to a mock backend and through
//! `serve` (proxy → QUIC relay → exit → backend, OHTTP end to end), side by side in one run.
//!
//! `cargo bench -p tokengo --bench gateway` (env: `REQUESTS`, `CONCURRENCY`, `SECONDS`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::stack::{ServeOptions, Stack};

const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const REPLY: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from AI!"},"finish_reason":"stop"}]}"#;

async fn one(http: &reqwest::Client, url: &str) {
    let resp = http.post(url).body(BODY).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.expect("body");
}

async fn throughput(http: &reqwest::Client, url: &str, concurrency: u64, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, done, stop) = (http.clone(), url.to_string(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                one(&http, &url).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    for t in tasks {
        let _ = t.await;
    }
    n as f64 / elapsed.as_secs_f64()
}

fn main() {
    let rt = support::runtime();
    rt.block_on(async {
        tokengo_gateway::transport::install_crypto_provider();
        let app = Router::new().route(
            "/v1/chat/completions",
            post(|| async { ([("content-type", "application/json")], REPLY) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let backend = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut options = ServeOptions::new(BackendOptions::new(backend.clone()));
        options.listen = "127.0.0.1:0".parse().expect("addr");
        let stack = Stack::start(options).await.expect("serve");
        let direct = format!("{backend}/v1/chat/completions");
        let gateway = format!("{}/chat/completions", stack.api_url());
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");

        let n = support::env("REQUESTS", 2000);
        for _ in 0..100 {
            one(&http, &direct).await;
            one(&http, &gateway).await;
        }
        let (mut d, mut g) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let t = Instant::now();
            one(&http, &direct).await;
            d.push(t.elapsed());
            let t = Instant::now();
            one(&http, &gateway).await;
            g.push(t.elapsed());
        }
        d.sort();
        g.sort();
        let us = |x: Duration| x.as_secs_f64() * 1e6;
        println!("sequential latency, {n} requests each, interleaved (µs):");
        println!("| path | p50 | p90 | p99 |");
        println!("|---|---|---|---|");
        for (name, v) in [("direct to backend", &d), ("through serve", &g)] {
            println!(
                "| {name} | {:.0} | {:.0} | {:.0} |",
                us(support::percentile(v, 0.5)),
                us(support::percentile(v, 0.9)),
                us(support::percentile(v, 0.99))
            );
        }
        println!(
            "| added by the gateway | {:.0} | {:.0} | {:.0} |",
            us(support::percentile(&g, 0.5)) - us(support::percentile(&d, 0.5)),
            us(support::percentile(&g, 0.9)) - us(support::percentile(&d, 0.9)),
            us(support::percentile(&g, 0.99)) - us(support::percentile(&d, 0.99))
        );
        let c = support::env("CONCURRENCY", 32);
        let s = support::env("SECONDS", 5);
        let rd = throughput(&http, &direct, c, s).await;
        let rg = throughput(&http, &gateway, c, s).await;
        println!("\nthroughput, {c} concurrent clients, {s} s each:");
        println!("| path | requests/s |");
        println!("|---|---|");
        println!("| direct to backend | {rd:.0} |");
        println!("| through serve | {rg:.0} |");
        stack.stop().await;
    });
}
