//! Chaos over real QUIC on loopback: two relays, two exits each registered with both, and 50
//! streaming requests in flight when the client's relay dies, then when its exit dies. Every
//! request ends with a clean error within 10 s (none hangs, nothing panics), and the next
//! requests succeed through what is left.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures_util::StreamExt as _;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::{ClientOptions, GatewayClient, RelayCandidate, StaticRelays};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;

const STREAMS: usize = 50;

fn candidates(relays: &[&common::RunningRelay]) -> Arc<StaticRelays> {
    Arc::new(StaticRelays(
        relays
            .iter()
            .map(|r| RelayCandidate {
                addr: r.addr.to_string(),
                pin: Some(r.pin),
            })
            .collect(),
    ))
}

/// Starts [`STREAMS`] streaming chats, lets one event through each, and returns their bodies.
async fn open_streams(
    url: &str,
    backend: &mut common::Backend,
) -> Vec<impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin> {
    let mut pending = Vec::new();
    for _ in 0..STREAMS {
        let url = format!("{url}/v1/chat/completions");
        pending.push(tokio::spawn(async move {
            common::http()
                .post(url)
                .body(r#"{"model":"m","stream":true}"#)
                .send()
                .await
                .expect("send")
        }));
    }
    for _ in 0..STREAMS {
        let events = tokio::time::timeout(Duration::from_secs(30), backend.streams.recv())
            .await
            .expect("the backend got every stream")
            .expect("sender");
        events
            .send(Ok(Bytes::from_static(b"data: first\n\n")))
            .await
            .expect("event");
        // Kept open: the stream goes on until the chaos ends it.
        std::mem::forget(events);
    }
    let mut bodies = Vec::new();
    for p in pending {
        let resp = p.await.expect("join");
        assert_eq!(resp.status(), 200);
        let mut body = resp.bytes_stream();
        let first = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("first event in time")
            .expect("open")
            .expect("piece");
        assert!(String::from_utf8_lossy(&first).contains("first"));
        bodies.push(body);
    }
    bodies
}

/// Every body ends (with an error or an early end) within 10 s.
async fn all_end_within_10s(
    bodies: Vec<impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin>,
) {
    let ends = bodies.into_iter().map(|mut body| async move {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match body.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return,
                }
            }
        })
        .await
        .is_ok()
    });
    let ended = futures_util::future::join_all(ends).await;
    let hung = ended.iter().filter(|e| !**e).count();
    assert_eq!(
        hung, 0,
        "{hung} of {STREAMS} streams still open 10 s after the failure"
    );
}

async fn ok_within_20s(url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let resp = common::http()
            .post(format!("{url}/v1/chat/completions"))
            .body(r#"{"model":"m"}"#)
            .send()
            .await
            .expect("send");
        if resp.status() == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no success after the failure: {}",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_cleanly_when_the_relay_then_the_exit_dies_and_requests_fail_over() {
    tokengo_gateway::transport::install_crypto_provider();
    let mut backend = common::backend().await;
    let first_relay = common::relay().await;
    let second_relay = common::relay().await;
    let both = candidates(&[&first_relay, &second_relay]);
    let ids = [
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    ];
    let mut exits = Vec::new();
    for id in &ids {
        let (id, relays) = (id.clone(), both.clone());
        let mut exit = common::exit_with(
            &first_relay,
            OhttpKeyPair::generate().expect("key"),
            BackendOptions::new(backend.url.clone()),
            move |o| {
                o.identity = Some(id);
                o.relays = relays;
            },
        )
        .await;
        exit.registered(2).await;
        exits.push(exit);
    }
    let client = Arc::new(GatewayClient::new(
        both.clone(),
        ClientOptions {
            trusted_exits: ids.iter().map(Identity::public_key).collect(),
            ..ClientOptions::default()
        },
    ));
    let url = common::proxy(client.clone()).await;
    ok_within_20s(&url).await;

    // The client uses the first relay (the source's order); it dies with 50 streams open.
    let bodies = open_streams(&url, &mut backend).await;
    first_relay.stop().await;
    all_end_within_10s(bodies).await;
    ok_within_20s(&url).await;

    // Now the exit in use dies with 50 streams open.
    let used = client.ready().await.expect("an exit");
    let bodies = open_streams(&url, &mut backend).await;
    let at = exits
        .iter()
        .position(|e| e.id == used)
        .expect("a known exit");
    exits.remove(at).stop().await;
    all_end_within_10s(bodies).await;
    ok_within_20s(&url).await;
    assert_ne!(
        client.ready().await.expect("an exit"),
        used,
        "moved to the other exit"
    );
}
