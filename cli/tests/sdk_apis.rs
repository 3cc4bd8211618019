//! Every API users send, through `tokengo serve` (a process) to the echo backend (in this
//! process), driven by the official SDKs: openai (chat completions, Responses, embeddings),
//! anthropic (Messages) and ollama (chat, model list). Each test asserts on what the SDK parsed,
//! that streams arrived as several pieces, that a model nobody serves raises the SDK's
//! not-found error, that the backend saw the API's own path, and that the app's API key never
//! reached the backend (only the exit's own).

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use common::serve_process::{EXIT_KEY, ServeProcess, run};
use serde_json::Value;
use tokengo_gateway::echo_backend;

/// The key every script gives its SDK; the proxy must strip it.
const APP_KEY: &str = "sk-from-app";

/// What the echo backend saw of one request: its path and every header.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
}

struct Stack {
    serve: ServeProcess,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Stack {
    /// The echo backend, recording what it sees, behind `tokengo serve`.
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = echo_backend::router(vec![echo_backend::MODEL.to_owned()]).layer(
            axum::middleware::map_request(move |request: Request| {
                let record = record.clone();
                async move {
                    let headers = request
                        .headers()
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect();
                    record.lock().expect("lock").push(Seen {
                        path: request.uri().path().to_owned(),
                        headers,
                    });
                    request
                }
            }),
        );
        let (listener, addr) = echo_backend::bind().await.expect("bind echo");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let backend = format!("http://{addr}");
        let serve = tokio::task::spawn_blocking(move || ServeProcess::start(&backend))
            .await
            .expect("start serve");
        Self {
            serve,
            seen,
            stop: Some(stop),
        }
    }

    /// Runs `script` from `tests/sdk/` with `base` and the echo model; the JSON it printed.
    async fn sdk(&self, script: &str, base: String) -> Value {
        let path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
        let out = tokio::task::spawn_blocking(move || {
            run(common::python::sdk_python().args([&path, &base, echo_backend::MODEL]))
        })
        .await
        .expect("sdk");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{script} printed {out:?}: {e}"))
    }

    /// Asserts the backend saw requests for `path` (and more than zero), each carrying the
    /// exit's key and none carrying the app's.
    fn assert_backend_saw(&self, path: &str, at_least: usize) {
        let seen = self.seen.lock().expect("lock").clone();
        let calls = seen.iter().filter(|s| s.path == path).count();
        assert!(calls >= at_least, "{path}: {calls} calls in {seen:?}");
        for s in &seen {
            assert!(
                s.headers.iter().all(|(_, v)| !v.contains(APP_KEY)),
                "the app's key reached the backend: {s:?}"
            );
            assert!(
                !s.headers.iter().any(|(n, _)| n == "x-api-key"),
                "x-api-key reached the backend: {s:?}"
            );
            if s.path != "/v1/models" && s.path != "/api/tags" {
                let auth = s.headers.iter().find(|(n, _)| n == "authorization");
                assert_eq!(
                    auth.map(|(_, v)| v.as_str()),
                    Some(format!("Bearer {EXIT_KEY}").as_str()),
                    "{s:?}"
                );
            }
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// Asserts `pieces` are several and join to `text`.
fn assert_streamed(pieces: &Value, text: &str) {
    let pieces = strings(pieces);
    assert!(pieces.len() > 1, "one piece only: {pieces:?}");
    assert_eq!(pieces.concat(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_completions_plain_and_streamed() {
    let stack = Stack::start().await;
    let got = stack.sdk("openai_chat.py", stack.serve.api.clone()).await;
    assert_eq!(got["plain"], "Hello through tokengo");
    assert_streamed(&got["pieces"], "Hello through tokengo");
    assert_eq!(got["finish"], "stop");
    assert_eq!(got["unknown"], "model_not_found");
    stack.assert_backend_saw("/v1/chat/completions", 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_responses_plain_and_streamed() {
    let stack = Stack::start().await;
    let got = stack
        .sdk("openai_responses.py", stack.serve.api.clone())
        .await;
    assert_eq!(got["plain"], "Hello through tokengo");
    assert_eq!(got["status"], "completed");
    let events = strings(&got["events"]);
    assert_eq!(events.first().map(String::as_str), Some("response.created"));
    assert_eq!(
        events.last().map(String::as_str),
        Some("response.completed")
    );
    assert_streamed(&got["pieces"], "Streamed through tokengo");
    assert_eq!(got["completed"], "Streamed through tokengo");
    stack.assert_backend_saw("/v1/responses", 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_embeddings_as_base64_and_floats() {
    let stack = Stack::start().await;
    let got = stack
        .sdk("openai_embeddings.py", stack.serve.api.clone())
        .await;
    assert_eq!(got["lengths"], serde_json::json!([64, 64]));
    assert_eq!(got["indices"], serde_json::json!([0, 1]));
    assert_eq!(got["base64_matches_float"], true);
    assert_eq!(got["deterministic"], true);
    assert_eq!(got["distinct"], true);
    stack.assert_backend_saw("/v1/embeddings", 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_messages_plain_and_streamed() {
    let stack = Stack::start().await;
    let got = stack.sdk("anthropic_messages.py", stack.serve.root()).await;
    assert_eq!(got["plain"], "Hello through tokengo");
    assert_eq!(got["stop_reason"], "end_turn");
    let events = strings(&got["events"]);
    assert_eq!(
        events.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_streamed(&got["pieces"], "Hello through tokengo");
    assert_streamed(&got["helper_pieces"], "Hello through tokengo");
    assert_eq!(got["final"], "Hello through tokengo");
    assert_eq!(got["final_stop_reason"], "end_turn");
    assert_eq!(got["unknown"], 404);
    stack.assert_backend_saw("/v1/messages", 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_chat_plain_and_streamed_and_its_model_list() {
    let stack = Stack::start().await;
    let got = stack.sdk("ollama_chat.py", stack.serve.root()).await;
    assert_eq!(got["plain"], "Hello through tokengo");
    assert_eq!(got["plain_done"], true);
    assert_streamed(&got["pieces"], "Hello through tokengo");
    assert_eq!(got["last_done"], true);
    assert_eq!(got["last_reason"], "stop");
    assert_eq!(got["unknown"], 404);
    assert_eq!(got["models"], serde_json::json!([echo_backend::MODEL]));
    stack.assert_backend_saw("/api/chat", 2);
    stack.assert_backend_saw("/api/tags", 1);
}

/// The events of a stream reach the app as several separate pieces, not one buffer at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reaches_the_app_in_several_pieces() {
    use futures_util::StreamExt as _;

    tokengo_gateway::transport::install_crypto_provider();
    let stack = Stack::start().await;
    let response = common::http()
        .post(format!("{}/messages", stack.serve.api))
        .header("content-type", "application/json")
        .header("x-api-key", APP_KEY)
        .body(
            serde_json::json!({
                "model": echo_backend::MODEL,
                "max_tokens": 64,
                "stream": true,
                "messages": [{"role": "user", "content": "one two three four five six"}],
            })
            .to_string(),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let mut pieces = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        pieces.push(piece.expect("piece"));
    }
    let whole = String::from_utf8(pieces.concat()).expect("utf8");
    assert_eq!(whole.matches("event: content_block_delta").count(), 6);
    assert!(whole.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert!(pieces.len() > 1, "the whole stream came as one piece");
    stack.assert_backend_saw("/v1/messages", 1);
}
