//! A tiny OpenAI-style backend that echoes, for `tokengo devnet`: chat completions answer with
//! the last user message (as one JSON object, or as server-sent events when `"stream": true`);
//! `/v1/models` lists the models it was started with, and a chat naming another model gets
//! OpenAI's `404 model_not_found`; anything else gets its method, path and body back as JSON.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The model name every echo backend serves.
pub const MODEL: &str = "tokengo-echo";

/// The models the echo backend of devnet exit `n` (from 1) serves: [`MODEL`] and its own.
pub fn models_of_exit(n: usize) -> Vec<String> {
    vec![MODEL.to_owned(), format!("{MODEL}-{n}")]
}

/// Serves the echo backend on `listener`, for `models`, until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    models: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let models = std::sync::Arc::new(models);
    let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let models = models.clone();
        async move { handle(&models, method, uri, body) }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the echo backend on a free loopback port.
pub async fn bind() -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn handle(models: &[String], method: Method, uri: Uri, body: Bytes) -> Response {
    match (method.as_str(), uri.path()) {
        ("POST", "/v1/chat/completions") => chat(models, &body),
        ("GET", "/v1/models") => {
            let data: Vec<Value> = models
                .iter()
                .map(|id| json!({"id": id, "object": "model", "owned_by": "tokengo-echo"}))
                .collect();
            axum::Json(json!({"object": "list", "data": data})).into_response()
        }
        _ => axum::Json(json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query(),
            "body": String::from_utf8_lossy(&body),
        }))
        .into_response(),
    }
}

fn chat(models: &[String], body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        let error =
            json!({"error": {"message": "the body is not JSON", "type": "invalid_request_error"}});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let text = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let model = request["model"].as_str().unwrap_or(MODEL).to_string();
    if !models.contains(&model) {
        let error = json!({"error": {
            "message": format!("The model `{model}` does not exist"),
            "type": "invalid_request_error", "param": "model", "code": "model_not_found",
        }});
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    }
    if request["stream"] == json!(true) {
        let mut events = String::new();
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        for word in words.iter().copied().chain(std::iter::once("")) {
            let (delta, finish) = if word.is_empty() {
                (json!({}), json!("stop"))
            } else {
                (json!({"content": word}), Value::Null)
            };
            let chunk = json!({
                "id": "chatcmpl-echo", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            events.push_str(&format!("data: {chunk}\n\n"));
        }
        events.push_str("data: [DONE]\n\n");
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from(events))
            .unwrap_or_default();
    }
    axum::Json(json!({
        "id": "chatcmpl-echo",
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }))
    .into_response()
}
