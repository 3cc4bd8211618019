//! Test harness: a mock OpenAI-style backend and helpers that start relay, exit and proxy on
//! loopback with real QUIC and real HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use tokengo_gateway::client::proxy::{ProxyOptions, serve};
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::exit::{Exit, ExitOptions};
use tokengo_gateway::relay::{Relay, RelayOptions};
use tokengo_gateway::shutdown::{self, Trigger};
use tokengo_gateway::{ClientOptions, GatewayClient, RelayCandidate, StaticRelays};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub mod hand_register;
pub mod lying;
pub mod procs;
pub mod python;
pub mod serve_process;

/// A body sender the test drives event by event.
pub type EventSender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// What the mock backend saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: HeaderMap,
}

/// Shared state of the mock backend.
#[derive(Debug)]
pub struct Mock {
    pub count: AtomicUsize,
    pub seen: Mutex<Vec<Seen>>,
    /// Each streamed chat request hands its body sender to the test through this channel.
    pub streams: Mutex<Option<mpsc::UnboundedSender<EventSender>>>,
}

/// A running mock backend.
pub struct Backend {
    pub url: String,
    pub mock: Arc<Mock>,
    pub streams: mpsc::UnboundedReceiver<EventSender>,
}

async fn chat(State(m): State<Arc<Mock>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    m.count.fetch_add(1, Ordering::SeqCst);
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    m.seen.lock().expect("lock").push(Seen {
        path_and_query: pq.clone(),
        headers: parts.headers.clone(),
    });
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let stream_wanted = json.get("stream").and_then(serde_json::Value::as_bool) == Some(true);
    let gated = m.streams.lock().expect("lock").is_some();
    if stream_wanted && !gated {
        return openai_stream();
    }
    if stream_wanted {
        let (tx, rx) = mpsc::channel(16);
        if let Some(s) = m.streams.lock().expect("lock").as_ref() {
            let _ = s.send(tx);
        }
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        return Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("x-backend", "mock")
            .body(Body::from_stream(stream))
            .expect("response");
    }
    let reply = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
        "model": json.get("model").cloned().unwrap_or_default(),
        "path": pq,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from AI!"}, "finish_reason": "stop"}],
    });
    (
        StatusCode::OK,
        [("content-type", "application/json"), ("x-backend", "mock")],
        reply.to_string(),
    )
        .into_response()
}

/// An OpenAI-style chat completion stream: three content chunks, a finish chunk, `[DONE]`.
fn openai_stream() -> Response {
    let mut body = String::new();
    for word in ["Hello", " from", " AI!"] {
        let chunk = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}],
        });
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    let last = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    });
    body.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        body,
    )
        .into_response()
}

async fn echo(State(m): State<Arc<Mock>>, req: Request) -> Response {
    m.count.fetch_add(1, Ordering::SeqCst);
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    (
        StatusCode::OK,
        [("content-type", "application/octet-stream")],
        body,
    )
        .into_response()
}

async fn unauthorized(State(m): State<Arc<Mock>>) -> Response {
    m.count.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::UNAUTHORIZED,
        [("content-type", "application/json")],
        r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
    )
        .into_response()
}

async fn ndjson(State(m): State<Arc<Mock>>) -> Response {
    m.count.fetch_add(1, Ordering::SeqCst);
    // The last line has no trailing newline at all.
    (
        StatusCode::OK,
        [("content-type", "application/x-ndjson")],
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}",
    )
        .into_response()
}

async fn sse_tail(State(m): State<Arc<Mock>>) -> Response {
    m.count.fetch_add(1, Ordering::SeqCst);
    let long = "x".repeat(200 * 1024);
    // A 200 KiB line, and a last event without the blank line after it.
    let body = format!("data: {long}\n\ndata: last");
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        body,
    )
        .into_response()
}

async fn never(State(m): State<Arc<Mock>>) -> Response {
    m.count.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    StatusCode::OK.into_response()
}

/// Starts the mock backend on a free loopback port; streamed chats are driven by the test.
pub async fn backend() -> Backend {
    backend_with(true).await
}

/// Starts the mock backend; with `gated` false, streamed chats answer a canned OpenAI stream.
pub async fn backend_with(gated: bool) -> Backend {
    let (tx, rx) = mpsc::unbounded_channel();
    let mock = Arc::new(Mock {
        count: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
        streams: Mutex::new(gated.then_some(tx)),
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", any(chat))
        .route("/v1/echo", post(echo))
        .route("/v1/unauthorized", any(unauthorized))
        .route("/v1/ndjson", any(ndjson))
        .route("/v1/sse-tail", any(sse_tail))
        .route("/v1/never", any(never))
        // Anything else is answered and counted too, so a test sees every request that
        // reached the backend, whatever its path.
        .fallback(chat)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Backend {
        url: format!("http://{addr}"),
        mock,
        streams: rx,
    }
}

/// A running relay.
pub struct RunningRelay {
    pub addr: SocketAddr,
    pub pin: [u8; 32],
    pub identity: Identity,
    trigger: Trigger,
    task: JoinHandle<()>,
}

impl RunningRelay {
    pub async fn stop(self) {
        self.trigger.fire();
        let _ = self.task.await;
    }
}

/// Starts a relay on `addr` (port 0 for any) with `identity`; retries while the port is busy.
pub async fn relay_at(addr: SocketAddr, identity: Identity) -> RunningRelay {
    relay_with(addr, identity, |_| {}).await
}

/// Like [`relay_at`], with options adjusted by `configure`.
pub async fn relay_with(
    addr: SocketAddr,
    identity: Identity,
    configure: impl Fn(&mut RelayOptions),
) -> RunningRelay {
    let mut attempts = 0;
    let relay = loop {
        let mut options = RelayOptions::new(addr, identity.clone());
        configure(&mut options);
        match Relay::bind(options) {
            Ok(r) => break r,
            Err(e) if attempts < 50 => {
                attempts += 1;
                tracing::debug!("rebinding relay: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("relay bind: {e}"),
        }
    };
    let addr = relay.local_addr().expect("addr");
    let pin = relay.public_key();
    let (trigger, signal) = shutdown::channel();
    let task = tokio::spawn(async move { relay.run(signal.wait()).await });
    RunningRelay {
        addr,
        pin,
        identity,
        trigger,
        task,
    }
}

pub async fn relay() -> RunningRelay {
    relay_at(
        "127.0.0.1:0".parse().expect("addr"),
        Identity::generate().expect("id"),
    )
    .await
}

/// A running exit.
pub struct RunningExit {
    /// The pubKeyHash of its first key.
    pub hash: String,
    /// Its exit id: what requests are addressed to.
    pub id: String,
    pub registrations: watch::Receiver<u64>,
    trigger: Trigger,
    task: JoinHandle<()>,
}

impl RunningExit {
    /// Waits until the exit has registered `n` times in total.
    pub async fn registered(&mut self, n: u64) {
        tokio::time::timeout(
            Duration::from_secs(30),
            self.registrations.wait_for(|c| *c >= n),
        )
        .await
        .expect("exit did not register in time")
        .expect("exit stopped");
    }

    pub async fn stop(self) {
        self.trigger.fire();
        let _ = self.task.await;
    }
}

/// Starts an exit for `relay` with `key` and `backend`; reconnects quickly (tests only).
pub async fn exit(relay: &RunningRelay, key: OhttpKeyPair, backend: BackendOptions) -> RunningExit {
    exit_with(relay, key, backend, |_| {}).await
}

/// Like [`exit`], with options adjusted by `configure`.
pub async fn exit_with(
    relay: &RunningRelay,
    key: OhttpKeyPair,
    backend: BackendOptions,
    configure: impl FnOnce(&mut ExitOptions),
) -> RunningExit {
    let mut options = ExitOptions::new(
        tokengo_gateway::static_relay(relay.addr.to_string(), Some(relay.pin)),
        key,
        backend,
    );
    options.backoff_min = Duration::from_millis(50);
    options.backoff_max = Duration::from_millis(400);
    // The mock backend counts every call; tests of model discovery turn it back on.
    options.models_refresh = None;
    configure(&mut options);
    let exit = Exit::new(options).expect("exit");
    let hash = exit.pub_key_hash();
    let id = exit.exit_id();
    let registrations = exit.registrations();
    let (trigger, signal) = shutdown::channel();
    let task = tokio::spawn(async move {
        let _ = exit.run(signal.wait()).await;
    });
    let mut e = RunningExit {
        hash,
        id,
        registrations,
        trigger,
        task,
    };
    e.registered(1).await;
    e
}

/// A gateway client for `relay` that takes any exit it lists: for tests about transport, not
/// trust (those build their clients with a policy; `tests/trust.rs`).
pub fn client(relay: &RunningRelay) -> Arc<GatewayClient> {
    client_with(
        relay,
        ClientOptions {
            insecure_any_exit: true,
            ..ClientOptions::default()
        },
    )
}

/// A gateway client for `relay` (pinned) with `options`.
pub fn client_with(relay: &RunningRelay, options: ClientOptions) -> Arc<GatewayClient> {
    Arc::new(GatewayClient::new(
        Arc::new(StaticRelays(vec![RelayCandidate {
            addr: relay.addr.to_string(),
            pin: Some(relay.pin),
        }])),
        options,
    ))
}

/// A QUIC connection to `relay` with `alpn` and `limits`, pinned to its key: for tests that play
/// a client or an exit by hand.
pub async fn raw_connection(
    relay: &RunningRelay,
    alpn: &[u8],
    limits: tokengo_gateway::transport::TransportLimits,
) -> quinn::Connection {
    let endpoint =
        tokengo_gateway::transport::dialer_endpoint(alpn, Some(relay.pin), limits, false)
            .expect("endpoint");
    endpoint
        .connect(relay.addr, tokengo_gateway::transport::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake")
}

/// POSTs a small chat request to the proxy at `url`; its status and body.
pub async fn post_chat(url: &str) -> (u16, String) {
    let resp = http()
        .post(format!("{url}/v1/chat/completions"))
        .body(r#"{"model":"m"}"#)
        .send()
        .await
        .expect("send");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// Starts the proxy for `client`; returns its base URL (`http://127.0.0.1:PORT`).
pub async fn proxy(client: Arc<GatewayClient>) -> String {
    proxy_with(client, ProxyOptions::default()).await
}

/// Like [`proxy`], with the given options.
pub async fn proxy_with(client: Arc<GatewayClient>, options: ProxyOptions) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = serve(listener, client, options, std::future::pending()).await;
    });
    format!("http://{addr}")
}

/// Everything on loopback: backend, relay, exit, proxy.
pub struct Net {
    pub backend: Backend,
    pub relay: RunningRelay,
    pub exit: RunningExit,
    pub key: OhttpKeyPair,
    pub client: Arc<GatewayClient>,
    pub url: String,
}

pub async fn net_with(configure: impl FnOnce(&mut BackendOptions)) -> Net {
    tokengo_gateway::transport::install_crypto_provider();
    let backend = backend().await;
    let relay = relay().await;
    let key = OhttpKeyPair::generate().expect("key");
    let mut opts = BackendOptions::new(backend.url.clone());
    configure(&mut opts);
    let exit = exit(&relay, key.clone(), opts).await;
    let client = client(&relay);
    let url = proxy(client.clone()).await;
    Net {
        backend,
        relay,
        exit,
        key,
        client,
        url,
    }
}

pub async fn net() -> Net {
    net_with(|_| {}).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
}
