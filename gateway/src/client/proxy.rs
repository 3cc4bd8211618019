//! The local HTTP proxy: any method and path, forwarded through the gateway.
//!
//! Every request is sent as a chunked-OHTTP exchange, so a response is relayed as it arrives
//! whatever it turns out to be. Whether a request *is* a stream decides its timeouts only:
//! a non-stream request must complete within the total timeout; a stream (JSON `"stream": true`,
//! `Accept: text/event-stream`, a path mentioning `stream`, or a backend answering
//! `text/event-stream` / NDJSON) must only never stay silent longer than the idle timeout.
//!
//! The proxy serves only this machine: a request whose `Host` or (from a browser) `Origin`
//! names anything else gets 403 ([`CallerPolicy`]), and the app's credentials and fingerprints
//! are stripped before sealing ([`HeaderPolicy`]). Its server is bounded: at most
//! `max_connections` at once, fewer when the open-file limit leaves less room
//! ([`crate::fd_limit`]; more are closed at accept), headers within `header_timeout`
//! (idle keep-alive connections too), a request body within `body_timeout`, and a non-stream
//! response of at most `max_response` bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use tokio::time::{Instant, timeout_at};
use tracing::{debug, warn};

use super::{ClientError, GatewayClient};
use crate::metrics::ClientMetrics;
use tokengo_gateway_proto::http_message::{InnerRequest, is_hop_by_hop};
pub use tokengo_gateway_proto::hygiene::{CallerPolicy, Forbidden, HeaderPolicy};
use tokengo_gateway_proto::trust::Basis;

/// Proxy settings.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Total deadline of a non-stream request.
    pub timeout: Duration,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Largest non-stream response held in memory (502 beyond).
    pub max_response: usize,
    /// Which of the app's headers are sealed into requests.
    pub headers: HeaderPolicy,
    /// Browser origins allowed besides local pages (`--allow-origin`).
    pub allowed_origins: Vec<String>,
    /// The address served, whose IP is an acceptable `Host` besides loopback names; [`serve`]
    /// fills it from its listener.
    pub listen: Option<SocketAddr>,
    /// Deadline for a request's headers, and for the next request on an idle connection.
    pub header_timeout: Duration,
    /// Deadline for a whole request body.
    pub body_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// What the proxy counts (served by `--metrics`, read by `/tokengo/status`).
    pub metrics: Arc<ClientMetrics>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            max_body: tokengo_gateway_proto::envelope::MAX_SINGLE_BODY - 1024 * 1024,
            max_response: 64 * 1024 * 1024,
            headers: HeaderPolicy::default(),
            allowed_origins: Vec::new(),
            listen: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: 4096,
            metrics: Arc::default(),
        }
    }
}

impl ProxyOptions {
    fn callers(&self) -> CallerPolicy {
        CallerPolicy {
            listen: self
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            allowed_origins: self.allowed_origins.clone(),
        }
    }
}

#[derive(Debug)]
struct ProxyState {
    client: Arc<GatewayClient>,
    options: ProxyOptions,
    started: Instant,
}

/// The path of the proxy's own status page.
pub const STATUS_PATH: &str = "/tokengo/status";

/// The proxy's router.
pub fn router(client: Arc<GatewayClient>, options: ProxyOptions) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(ProxyState {
            client,
            options,
            started: Instant::now(),
        }))
}

/// `GET /tokengo/status`: what the client holds, in JSON (see the README's Status section).
async fn status(state: &ProxyState) -> Response {
    let now = state.client.status().await;
    let metrics = &state.options.metrics;
    let describe = |(id, basis, models): &(String, Basis, Vec<String>)| serde_json::json!({ "id": id, "trusted_by": basis.as_str(), "models": models });
    let exit = now
        .exit
        .as_ref()
        .and_then(|id| now.exits.iter().find(|(e, _, _)| e == id))
        .map(describe);
    let exits: Vec<serde_json::Value> = now.exits.iter().map(describe).collect();
    let lists: Vec<&[String]> = now.exits.iter().map(|(_, _, m)| m.as_slice()).collect();
    let mut models = tokengo_gateway_proto::models::union(&lists);
    models.sort_unstable();
    let relay = now.relay.as_ref().map(|(addr, id, rtt)| {
        serde_json::json!({ "addr": addr.to_string(), "id": id, "rtt_ms": rtt.as_secs_f64() * 1000.0 })
    });
    let (ok, client_errors, server_errors) = (
        metrics.answered_in(100..=399),
        metrics.answered_in(400..=499),
        metrics.answered_in(500..=599),
    );
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "ready": relay.is_some() && exit.is_some(),
        "relay": relay,
        "exit": exit,
        "exits": exits,
        "models": models,
        "requests": {
            "total": ok + client_errors + server_errors,
            "ok": ok,
            "client_errors": client_errors,
            "server_errors": server_errors,
        },
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A JSON error in the OpenAI error shape.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "error": { "message": message, "type": "tokengo_error", "code": status.as_u16() }
    });
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Whether a request asks for a streamed response.
pub fn detect_streaming(path: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let accepts_sse = headers.get_all("accept").iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.to_ascii_lowercase().contains("text/event-stream"))
    });
    if accepts_sse || path.contains("stream") {
        return true;
    }
    let looks_json = body.first().is_some_and(|b| *b == b'{');
    looks_json
        && serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
}

fn is_streaming_type(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|v| {
        let v = String::from_utf8_lossy(v).to_ascii_lowercase();
        v.starts_with("text/event-stream") || v.starts_with("application/x-ndjson")
    })
}

/// The OpenAI error for a model no exit serves.
fn unknown_model(model: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "message": format!("The model `{model}` does not exist: no trusted exit serves it"),
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found"
        }
    });
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The models the trusted exits list, in the OpenAI list format.
fn model_list(models: &[String]) -> Response {
    let data: Vec<serde_json::Value> = models
        .iter()
        .map(|id| serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": "tokengo" }))
        .collect();
    let body = serde_json::json!({ "object": "list", "data": data });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_for(e: &ClientError) -> Response {
    match e {
        ClientError::UnknownModel(model) => unknown_model(model),
        ClientError::NoExit => json_error(StatusCode::SERVICE_UNAVAILABLE, "no exit available"),
        ClientError::Untrusted(why) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("no trusted exit available: {why}"),
        ),
        ClientError::Refused { text, .. } => {
            json_error(StatusCode::BAD_GATEWAY, &format!("relay error: {text}"))
        }
        ClientError::Unexpected(_)
        | ClientError::Envelope(_)
        | ClientError::ExitKeys(_)
        | ClientError::NoRandomness => json_error(
            StatusCode::BAD_GATEWAY,
            "gateway response could not be read",
        ),
        ClientError::Relays(_)
        | ClientError::Dial { .. }
        | ClientError::NoRelayId(_)
        | ClientError::ConnectionLost(_)
        | ClientError::Stream(_)
        | ClientError::TimedOut(_) => json_error(StatusCode::BAD_GATEWAY, "relay unreachable"),
    }
}

/// Serves the proxy on `listener` until `shutdown` completes; connections still open then get
/// a few seconds to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: Arc<GatewayClient>,
    mut options: ProxyOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        warn!(%local, "the proxy listens beyond this machine: anyone who reaches it can spend the exit's quota (Host checks still apply)");
    }
    options.listen.get_or_insert(local);
    let header_timeout = options.header_timeout;
    let most = crate::fd_limit::connections_within(
        crate::fd_limit::open_file_limit(),
        options.max_connections.max(1),
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(most));
    let app = router(client, options);
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                debug!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!("connection limit reached; closing a new connection");
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing.subscribe();
        connections.spawn(async move {
            let _slot = slot;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        debug!("connection ended: {e}");
                    }
                }
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

async fn handle(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_owned();
    let host = header_text(req.headers(), "host").or(req.uri().authority().map(|a| a.as_str()));
    let origin = header_text(req.headers(), "origin");
    if let Err(refused) = state.options.callers().check(host, origin) {
        debug!("refused a caller: {refused}");
        return json_error(StatusCode::FORBIDDEN, &format!("forbidden: {refused}"));
    }
    if req.method() == axum::http::Method::GET && path == STATUS_PATH {
        return status(&state).await;
    }
    let response = forward(&state, req, started).await;
    let metrics = &state.options.metrics;
    metrics.answered(&path, response.status().as_u16());
    metrics.request_took(started.elapsed());
    response
}

/// Seals the request to an exit and relays its answer.
async fn forward(state: &ProxyState, req: Request, started: Instant) -> Response {
    let metrics = state.options.metrics.clone();
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(
        state.options.body_timeout,
        axum::body::to_bytes(body, state.options.max_body),
    );
    let body = match read.await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        Err(_) => return json_error(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
    };
    metrics.count_bytes("sent", body.len());
    if parts.method == axum::http::Method::GET && parts.uri.path() == "/v1/models" {
        // The union over the trusted exits; forwarded to an exit when none lists its models.
        match state.client.models().await {
            Ok(models) if !models.is_empty() => return model_list(&models),
            Ok(_) => {}
            Err(e) => return error_for(&e),
        }
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let streaming = detect_streaming(parts.uri.path(), &parts.headers, &body);
    let mut headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n.as_str()) && *n != axum::http::header::CONTENT_LENGTH)
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    state.options.headers.strip(&mut headers);
    let inner = InnerRequest {
        method: parts.method.as_str().to_string(),
        path_and_query: path,
        headers,
        body: body.to_vec(),
    };
    drop(body);
    let deadline = started + state.options.timeout;
    let resp = match timeout_at(deadline, state.client.send_streamed(&inner)).await {
        Err(_) => return json_error(StatusCode::GATEWAY_TIMEOUT, "gateway timeout"),
        Ok(Err(e)) => {
            debug!("request failed: {e}");
            return error_for(&e);
        }
        Ok(Ok(r)) => r,
    };
    metrics.first_byte_after(started.elapsed());
    let Ok(status) = StatusCode::from_u16(resp.head.status) else {
        return json_error(StatusCode::BAD_GATEWAY, "invalid status from backend");
    };
    let mut out_headers = HeaderMap::new();
    for (n, v) in &resp.head.headers {
        if is_hop_by_hop(n) || n.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            out_headers.append(n, v);
        }
    }
    let streaming = streaming || is_streaming_type(resp.head.header("content-type"));
    let mut body = resp.body;
    let body = if streaming {
        Body::from_stream(body.inspect(move |piece| {
            if let Ok(piece) = piece {
                metrics.count_bytes("received", piece.len());
            }
        }))
    } else {
        let mut all = Vec::new();
        loop {
            match timeout_at(deadline, body.next()).await {
                Err(_) => return json_error(StatusCode::GATEWAY_TIMEOUT, "gateway timeout"),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    debug!("response body failed: {e}");
                    return json_error(StatusCode::BAD_GATEWAY, "response body was cut");
                }
                Ok(Some(Ok(piece))) => {
                    if all.len() + piece.len() > state.options.max_response {
                        return json_error(StatusCode::BAD_GATEWAY, "response too large");
                    }
                    all.extend_from_slice(&piece);
                }
            }
        }
        metrics.count_bytes("received", all.len());
        Body::from(all)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_str(v).expect("value"));
        h
    }

    #[test]
    fn streaming_detection_matches_the_documented_rules() {
        let none = HeaderMap::new();
        assert!(detect_streaming(
            "/v1/chat/completions",
            &none,
            br#"{"stream":true}"#
        ));
        assert!(!detect_streaming(
            "/v1/chat/completions",
            &none,
            br#"{"stream":false}"#
        ));
        assert!(!detect_streaming(
            "/v1/chat/completions",
            &none,
            br#"{"model":"m"}"#
        ));
        assert!(!detect_streaming(
            "/v1/chat/completions",
            &none,
            br#"{"stream":"true"}"#
        ));
        assert!(!detect_streaming(
            "/v1/chat/completions",
            &none,
            b"not json"
        ));
        assert!(detect_streaming(
            "/v1beta/models/g:streamGenerateContent",
            &none,
            b""
        ));
        assert!(detect_streaming("/v1/x", &accept("text/event-stream"), b""));
        assert!(!detect_streaming(
            "/v1/models",
            &accept("application/json"),
            b""
        ));
    }
}
