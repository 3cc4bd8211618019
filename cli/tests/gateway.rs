//! End to end through proxy → relay → exit → mock backend, over real QUIC and HTTP on loopback.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use futures_util::StreamExt as _;

const CHAT: &str = "/v1/chat/completions";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_stream_request_keeps_status_headers_body_and_query() {
    let net = common::net().await;
    let resp = common::http()
        .post(format!("{}{CHAT}?api-version=2024-01&x=a%20b", net.url))
        .header("content-type", "application/json")
        .body(r#"{"model":"m1","stream":false}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-backend"], "mock");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["model"], "m1");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from AI!");
    assert_eq!(
        body["path"],
        "/v1/chat/completions?api-version=2024-01&x=a%20b"
    );
    let seen = net.backend.mock.seen.lock().expect("lock")[0].clone();
    assert_eq!(
        seen.path_and_query,
        "/v1/chat/completions?api-version=2024-01&x=a%20b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_arrive_before_the_backend_finishes() {
    let mut net = common::net().await;
    let http = common::http();
    let url = format!("{}{CHAT}", net.url);
    let request = tokio::spawn(async move {
        http.post(url)
            .body(r#"{"model":"m","stream":true}"#)
            .send()
            .await
            .expect("send")
    });
    let events = tokio::time::timeout(Duration::from_secs(30), net.backend.streams.recv())
        .await
        .expect("backend got the request")
        .expect("stream sender");
    events
        .send(Ok(Bytes::from_static(b"data: {\"n\":0}\n\n")))
        .await
        .expect("event 0");
    let resp = request.await.expect("join");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-backend"], "mock");
    let mut body = resp.bytes_stream();
    let mut received = Vec::new();
    for n in 0..3 {
        let want = format!("data: {{\"n\":{n}}}\n\n");
        // The backend cannot finish before we release the next event, so each event we read here
        // was delivered while the backend was still streaming.
        while !String::from_utf8_lossy(&received).contains(&want) {
            let piece = tokio::time::timeout(Duration::from_secs(30), body.next())
                .await
                .expect("event in time")
                .expect("stream open")
                .expect("piece");
            received.extend_from_slice(&piece);
        }
        assert!(!events.is_closed(), "backend still streaming at event {n}");
        if n < 2 {
            let next = format!("data: {{\"n\":{}}}\n\n", n + 1);
            events
                .send(Ok(Bytes::from(next)))
                .await
                .expect("next event");
        }
    }
    events
        .send(Ok(Bytes::from_static(b"data: [DONE]\n\n")))
        .await
        .expect("done");
    drop(events);
    while let Some(piece) = body.next().await {
        received.extend_from_slice(&piece.expect("piece"));
    }
    assert_eq!(
        String::from_utf8(received).expect("utf8"),
        "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_sequential_requests() {
    let net = common::net().await;
    let http = common::http();
    for i in 0..10 {
        let resp = http
            .post(format!("{}{CHAT}", net.url))
            .body(format!(r#"{{"model":"m{i}"}}"#))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["model"], format!("m{i}"));
    }
    assert_eq!(net.backend.mock.count.load(Ordering::SeqCst), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests() {
    let net = common::net().await;
    let http = common::http();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let http = http.clone();
        let url = format!("{}{CHAT}", net.url);
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .body(format!(r#"{{"model":"c{i}"}}"#))
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 200);
            let body: serde_json::Value = resp.json().await.expect("json");
            assert_eq!(body["model"], format!("c{i}"));
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(net.backend.mock.count.load(Ordering::SeqCst), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabyte_bodies_both_ways_are_byte_exact() {
    let net = common::net().await;
    let payload: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let resp = common::http()
        .post(format!("{}/v1/echo", net.url))
        .body(payload.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let got = resp.bytes().await.expect("body");
    assert_eq!(got.len(), payload.len());
    assert!(got[..] == payload[..], "echoed bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_401_reaches_the_client_with_its_body() {
    let net = common::net().await;
    let resp = common::http()
        .post(format!("{}/v1/unauthorized", net.url))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.text().await.expect("body"),
        r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_injected_and_headers_override() {
    let net = common::net_with(|b| {
        b.api_key = Some("sk-exit".into());
        b.headers = vec![("x-org".into(), "org-1".into())];
    })
    .await;
    let resp = common::http()
        .post(format!("{}{CHAT}", net.url))
        .header("authorization", "Bearer sk-from-app")
        .header("x-org", "app-org")
        .header("x-app", "kept")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let seen = net.backend.mock.seen.lock().expect("lock")[0].clone();
    assert_eq!(seen.headers["authorization"], "Bearer sk-exit");
    assert_eq!(seen.headers["x-org"], "org-1");
    assert_eq!(seen.headers["x-app"], "kept");

    let net = common::net_with(|b| {
        b.api_key = Some("sk-exit".into());
        b.headers = vec![("authorization".into(), "Token t".into())];
    })
    .await;
    common::http()
        .post(format!("{}{CHAT}", net.url))
        .body("{}")
        .send()
        .await
        .expect("send");
    let seen = net.backend.mock.seen.lock().expect("lock")[0].clone();
    assert_eq!(seen.headers["authorization"], "Token t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_and_unterminated_sse_are_delivered_whole() {
    let net = common::net().await;
    let http = common::http();
    let resp = http
        .get(format!("{}/v1/ndjson", net.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        resp.text().await.expect("body"),
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}"
    );
    let resp = http
        .get(format!("{}/v1/sse-tail", net.url))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("send");
    let text = resp.text().await.expect("body");
    assert_eq!(text.len(), "data: \n\ndata: last".len() + 200 * 1024);
    assert!(text.ends_with("\n\ndata: last"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_rfc9458_exchange_through_the_relay() {
    let net = common::net().await;
    let req = tokengo_gateway_proto::http_message::InnerRequest {
        method: "POST".into(),
        path_and_query: "/v1/chat/completions?single=1".into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"model":"single"}"#.to_vec(),
    };
    let resp = net.client.send_single(&req).await.expect("exchange");
    assert_eq!(resp.head.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
    assert_eq!(body["model"], "single");
    assert_eq!(body["path"], "/v1/chat/completions?single=1");
    let keys = net.client.exit_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].exit_id, net.exit.id);
    let offered = tokengo_gateway_proto::trust::admit_exit(
        &keys[0],
        &tokengo_gateway_proto::trust::TrustPolicy::default(),
        tokengo_gateway::unix_now(),
    )
    .expect("a verified descriptor");
    assert_eq!(offered.key(), net.key.public());
}
