//! Routing by model over real QUIC on loopback: exits read their models from their backends
//! (echo backends that serve only their own models and answer any other with 404), list them
//! in their signed descriptors, and the client sends each request to an exit serving its model.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{RunningExit, RunningRelay};
use tokengo_gateway::client::{ClientOptions, GatewayClient};
use tokengo_gateway::echo_backend;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway_proto::identity::parse_relay_id;
use tokengo_gateway_proto::keys::OhttpKeyPair;

/// An echo backend serving `models`; its base URL.
async fn echo(models: &[&str]) -> String {
    let (listener, addr) = echo_backend::bind().await.expect("bind");
    let models = models.iter().map(|m| m.to_string()).collect();
    tokio::spawn(echo_backend::serve(
        listener,
        models,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// An exit on `relay` that asks `backend` for its models.
async fn exit_for(relay: &RunningRelay, backend: String) -> RunningExit {
    let key = OhttpKeyPair::generate().expect("key");
    let mut exit = common::exit_with(relay, key, BackendOptions::new(backend), |o| {
        o.models_refresh = Some(Duration::from_secs(300));
    })
    .await;
    exit.registered(1).await;
    exit
}

/// A client of `relay` trusting exactly `exits` (by id).
fn client_trusting(relay: &RunningRelay, exits: &[&RunningExit]) -> Arc<GatewayClient> {
    let ids = exits
        .iter()
        .map(|e| parse_relay_id(&e.id).expect("hex id"))
        .collect();
    common::client_with(
        relay,
        ClientOptions {
            trusted_exits: ids,
            ..ClientOptions::default()
        },
    )
}

async fn chat(url: &str, model: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("hi {model}")}],
    });
    let resp = common::http()
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_goes_to_an_exit_serving_its_model_and_models_lists_their_union() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let alpha = exit_for(&relay, echo(&["alpha"]).await).await;
    let beta = exit_for(&relay, echo(&["beta", "shared"]).await).await;
    let client = client_trusting(&relay, &[&alpha, &beta]);
    let url = common::proxy(client).await;

    let listed: serde_json::Value = common::http()
        .get(format!("{url}/v1/models"))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["object"], "list");
    let mut ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["alpha", "beta", "shared"]);

    // Each backend answers only its own models (404 otherwise): twenty requests alternating
    // between the two models all succeed only if every one reached the right exit.
    for i in 0..20 {
        let model = if i % 2 == 0 { "alpha" } else { "beta" };
        let (status, body) = chat(&url, model).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["model"], model);
        assert_eq!(
            body["choices"][0]["message"]["content"],
            format!("hi {model}")
        );
    }

    let (status, body) = chat(&url, "gamma").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["param"], "model");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no trusted exit serves it")),
        "the client, not a backend, must answer: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_whose_exit_is_gone_moves_to_another_exit_serving_it() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let first = exit_for(&relay, echo(&["alpha"]).await).await;
    let second = exit_for(&relay, echo(&["alpha"]).await).await;
    let client = client_trusting(&relay, &[&first, &second]);
    let url = common::proxy(client).await;
    assert_eq!(chat(&url, "alpha").await.0, 200);
    // Whichever exit the model stuck to, stop it; the relay then refuses requests for it
    // before forwarding them, and the client must send them to the other exit.
    first.stop().await;
    for _ in 0..6 {
        let (status, body) = chat(&url, "alpha").await;
        assert_eq!(status, 200, "{body}");
    }
    second.stop().await;
    let (status, _) = chat(&url, "alpha").await;
    assert_eq!(status, 503, "no exit is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_that_joins_later_serves_its_model_without_a_restart() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let _alpha = exit_for(&relay, echo(&["alpha"]).await).await;
    let client = common::client(&relay);
    let url = common::proxy(client).await;
    assert_eq!(chat(&url, "alpha").await.0, 200);
    let _beta = exit_for(&relay, echo(&["beta"]).await).await;
    // The client read the relay's list before beta registered; an unknown model makes it read
    // the list again (at most once a second) before it answers 404.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = chat(&url, "beta").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "beta");
}
