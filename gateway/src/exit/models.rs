//! What models the exit's backend serves, asked of the backend itself: OpenAI's
//! `GET /v1/models`, then Ollama's `GET /api/tags`.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokengo_gateway_proto::http_message::InnerRequest;
use tokengo_gateway_proto::models::parse_listing;

use super::backend::Backend;

/// How often an exit asks its backend for its models by default.
pub const DEFAULT_MODELS_REFRESH: Duration = Duration::from_secs(300);
/// The largest listing read.
const MAX_LISTING: usize = 1 << 20;
/// How long one listing may take.
const LISTING_TIMEOUT: Duration = Duration::from_secs(10);

/// The backend's models, from the first listing that names any; empty when neither does (the
/// exit then lists none, and clients send it models no other exit lists).
pub async fn discover(backend: &Backend) -> Vec<String> {
    for path in ["/v1/models", "/api/tags"] {
        match tokio::time::timeout(LISTING_TIMEOUT, listing(backend, path)).await {
            Ok(Some(body)) => {
                let models = parse_listing(&body);
                if !models.is_empty() {
                    return models;
                }
            }
            Ok(None) => {}
            Err(_) => tracing::debug!(path, "the backend's model listing timed out"),
        }
    }
    Vec::new()
}

/// The body of a successful `GET path`, if it fits in [`MAX_LISTING`].
async fn listing(backend: &Backend, path: &str) -> Option<Vec<u8>> {
    let req = InnerRequest {
        method: "GET".into(),
        path_and_query: path.into(),
        headers: vec![("accept".into(), b"application/json".to_vec())],
        body: Vec::new(),
    };
    let resp = backend.call(req).await.ok()?;
    if resp.head.status != 200 {
        return None;
    }
    let mut body = Vec::new();
    let mut pieces = resp.body;
    while let Some(piece) = pieces.next().await {
        let piece = piece.ok()?;
        if body.len() + piece.len() > MAX_LISTING {
            return None;
        }
        body.extend_from_slice(&piece);
    }
    Some(body)
}
