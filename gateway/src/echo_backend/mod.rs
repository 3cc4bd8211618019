//! A tiny backend that echoes, for `tokengo devnet` and the SDK tests. It answers, in each
//! API's own wire format, with the last user text of the request:
//!
//! - OpenAI chat completions (`POST /v1/chat/completions`), plain or as server-sent events;
//! - OpenAI Responses (`POST /v1/responses`), plain or as its named event sequence;
//! - OpenAI embeddings (`POST /v1/embeddings`): deterministic vectors, as floats or base64;
//! - Anthropic Messages (`POST /v1/messages`), plain or as its named event sequence;
//! - Ollama's chat (`POST /api/chat`), NDJSON lines unless `"stream": false`, and its model
//!   list (`GET /api/tags`);
//! - the OpenAI model list (`GET /v1/models`).
//!
//! A stream is sent one event per body piece with a short pause between them, as a model
//! generating tokens would. A request naming a model it does not serve gets that API's
//! not-found error, a body that is not JSON its 400; anything else gets its method, path and
//! body back as JSON.

mod anthropic;
mod embeddings;
mod ollama;
mod openai_chat;
mod request;
mod responses;
mod stream;
mod text;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// The model name every echo backend serves.
pub const MODEL: &str = "tokengo-echo";

/// The models the echo backend of devnet exit `n` (from 1) serves: [`MODEL`] and its own.
pub fn models_of_exit(n: usize) -> Vec<String> {
    vec![MODEL.to_owned(), format!("{MODEL}-{n}")]
}

/// The echo backend's router, serving `models`.
pub fn router(models: Vec<String>) -> Router {
    let models = Arc::new(models);
    Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let models = models.clone();
        async move { handle(&models, &method, &uri, &body) }
    })
}

/// Serves the echo backend on `listener`, for `models`, until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    models: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(models))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the echo backend on a free loopback port.
pub async fn bind() -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn handle(models: &[String], method: &Method, uri: &Uri, body: &[u8]) -> Response {
    match (method.as_str(), uri.path()) {
        ("POST", "/v1/chat/completions") => openai_chat::answer(models, body),
        ("POST", "/v1/responses") => responses::answer(models, body),
        ("POST", "/v1/embeddings") => embeddings::answer(models, body),
        ("POST", "/v1/messages") => anthropic::answer(models, body),
        ("POST", "/api/chat") => ollama::chat(models, body),
        ("GET", "/api/tags") => ollama::tags(models),
        ("GET", "/v1/models") => {
            let data: Vec<Value> = models
                .iter()
                .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "tokengo-echo"}))
                .collect();
            axum::Json(json!({"object": "list", "data": data})).into_response()
        }
        _ => axum::Json(json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query(),
            "body": String::from_utf8_lossy(body),
        }))
        .into_response(),
    }
}

/// Seconds since the Unix epoch, for the APIs' `created` fields.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    const POSTS: [&str; 5] = [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/embeddings",
        "/v1/messages",
        "/api/chat",
    ];

    fn post(path: &str, body: &[u8]) -> StatusCode {
        let uri: Uri = path.parse().expect("uri");
        handle(&[MODEL.to_owned()], &Method::POST, &uri, body).status()
    }

    #[test]
    fn every_api_refuses_bad_json_with_400_and_an_unserved_model_with_404() {
        for path in POSTS {
            for bad in [&b"{"[..], b"", b"[]", b"\xff\xfe", b"\"text\""] {
                assert_eq!(post(path, bad), StatusCode::BAD_REQUEST, "{path} {bad:?}");
            }
            let unserved = br#"{"model":"nobody","input":"x","messages":[]}"#;
            assert_eq!(post(path, unserved), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn other_paths_are_echoed() {
        let uri: Uri = "/v1/other?x=1".parse().expect("uri");
        assert_eq!(
            handle(&[], &Method::PUT, &uri, b"body").status(),
            StatusCode::OK
        );
    }
}
