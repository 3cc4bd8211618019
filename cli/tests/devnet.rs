//! `tokengo devnet` in one process: relays, an exit its own authority admitted, and a client
//! that trusts only that authority; a chat request through it reaches the echo backend.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tokengo_discovery::devnet::{self, DevnetOptions};
use tokengo_discovery::progress::NoProgress;

/// A devnet running in this process.
struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    net: tokio::task::JoinHandle<Result<(), devnet::DevnetError>>,
}

impl Running {
    /// Starts the devnet and waits until its proxy listens.
    async fn start(options: DevnetOptions) -> Self {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
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
        Self { addr, stop, net }
    }

    /// Stops it and checks it ran without error.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.net)
            .await
            .expect("devnet stops")
            .expect("task")
            .expect("devnet ran");
    }
}

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
    let running = Running::start(options).await;
    let addr = running.addr;
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
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devnet_of_three_exits_serves_each_model_to_the_openai_sdk() {
    tokengo_gateway::transport::install_crypto_provider();
    let options = DevnetOptions {
        relays: 2,
        exits: 3,
        backend: None,
        listen: "127.0.0.1:0".parse().expect("addr"),
        seed: 77,
    };
    let running = Running::start(options).await;
    let addr = running.addr;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_models.py");
    let out = tokio::task::spawn_blocking(move || {
        common::python::sdk_python()
            .args([script, &format!("http://{addr}/v1")])
            .output()
            .expect("python")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // Every exit's echo backend serves `tokengo-echo` and its own model, and refuses others
    // (404): each own model answered proves the request reached the one exit serving it.
    assert_eq!(
        parsed["models"],
        serde_json::json!([
            "tokengo-echo",
            "tokengo-echo-1",
            "tokengo-echo-2",
            "tokengo-echo-3"
        ]),
        "{parsed}"
    );
    for n in 1..=3 {
        let model = format!("tokengo-echo-{n}");
        assert_eq!(parsed["answered_by"][&model], model.as_str(), "{parsed}");
    }
    running.stop().await;
}
