//! What the exit's gathering of streamed pieces (`--chunk-interval`) costs the first token:
//! time from sending a streamed chat to reading its first event, straight from a mock backend
//! and through `serve` with the interval at 0 (each piece sealed at once) and at its default
//! 20 ms, side by side in one run. The backend sends its first event at once, then one every
//! 50 ms.
//!
//! `cargo bench -p tokengo --bench first_token` (env: `REQUESTS`, default 200).

mod support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use futures_util::StreamExt as _;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::stack::{ServeOptions, Stack};

const BODY: &str = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// Server-sent events: the first at once, then one every 50 ms.
fn events() -> Body {
    let pieces = futures_util::stream::unfold(0u32, |n| async move {
        if n == 5 {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let event = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{n}\"}}}}]}}\n\n");
        Some((Ok::<_, std::io::Error>(Bytes::from(event)), n + 1))
    });
    Body::from_stream(pieces)
}

/// Time until the first event's bytes arrive.
async fn first_event(http: &reqwest::Client, url: &str) -> Duration {
    let t = Instant::now();
    let resp = http.post(url).body(BODY).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    loop {
        let piece = body.next().await.expect("an event").expect("piece");
        if String::from_utf8_lossy(&piece).contains("data:") {
            let took = t.elapsed();
            while body.next().await.is_some() {}
            return took;
        }
    }
}

fn main() {
    let rt = support::runtime();
    rt.block_on(async {
        tokengo_gateway::transport::install_crypto_provider();
        let app = Router::new().route(
            "/v1/chat/completions",
            post(|| async { ([("content-type", "text/event-stream")], events()) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let backend = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut urls = vec![(
            "direct to backend".to_owned(),
            format!("{backend}/v1/chat/completions"),
        )];
        let mut stacks = Vec::new();
        for interval in [0, 20] {
            let mut options = ServeOptions::new(BackendOptions::new(backend.clone()));
            options.listen = "127.0.0.1:0".parse().expect("addr");
            options.chunk_interval = Duration::from_millis(interval);
            let stack = Stack::start(options).await.expect("serve");
            urls.push((
                format!("through serve, --chunk-interval {interval}ms"),
                format!("{}/chat/completions", stack.api_url()),
            ));
            stacks.push(stack);
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        for (_, url) in &urls {
            for _ in 0..10 {
                first_event(&http, url).await;
            }
        }
        let n = support::env("REQUESTS", 200);
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); urls.len()];
        for _ in 0..n {
            for (i, (_, url)) in urls.iter().enumerate() {
                times[i].push(first_event(&http, url).await);
            }
        }
        println!("time to the first event, {n} streamed requests each, interleaved (ms):");
        println!("| path | p50 | p90 | p99 |");
        println!("|---|---|---|---|");
        for ((name, _), v) in urls.iter().zip(times.iter_mut()) {
            v.sort();
            println!(
                "| {name} | {:.2} | {:.2} | {:.2} |",
                support::ms(support::percentile(v, 0.5)),
                support::ms(support::percentile(v, 0.9)),
                support::ms(support::percentile(v, 0.99))
            );
        }
        for stack in stacks {
            stack.stop().await;
        }
    });
}
