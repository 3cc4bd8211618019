//! `tokengo devnet` in one process: relays, an exit its own authority admitted, and a client
//! that trusts only that authority; a chat request through it reaches the echo backend.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tokengo_discovery::devnet::{self, DevnetOptions};
use tokengo_discovery::progress::NoProgress;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_serves_a_request_through_its_admitted_exit() {
    tokengo_gateway::transport::install_crypto_provider();
    let options = DevnetOptions {
        relays: 2,
        exits: 1,
        backend: None,
        listen: "127.0.0.1:0".parse().expect("addr"),
        seed: 42,
    };
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let net = tokio::spawn(devnet::run(
        options,
        Arc::new(NoProgress),
        move |addr| {
            let _ = ready_tx.send(addr);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .expect("devnet ready in time")
        .expect("devnet ready");
    let resp = common::http()
        .post(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(r#"{"model":"tokengo-echo","messages":[{"role":"user","content":"through the devnet"}]}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.expect("body");
    assert!(body.contains("through the devnet"), "{body}");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(30), net)
        .await
        .expect("devnet stops")
        .expect("task")
        .expect("devnet ran");
}
