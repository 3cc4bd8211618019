//! Streamed answers: one body piece per event with a short pause between pieces, so a client
//! sees them arrive one by one, as from a model generating tokens.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures_util::StreamExt as _;
use serde_json::Value;

/// The pause before each piece after the first: longer than the exit's default coalescing
/// window (20 ms), so that each event travels on as its own sealed chunk, as tokens would.
pub(super) const PACE: Duration = Duration::from_millis(30);

/// Server-sent events' content type.
pub(super) const EVENT_STREAM: &str = "text/event-stream";
/// Newline-delimited JSON's content type (Ollama's streams).
pub(super) const NDJSON: &str = "application/x-ndjson";

/// A response streaming `pieces`, each one body piece, as `content_type`.
pub(super) fn paced(content_type: &'static str, pieces: Vec<String>) -> Response {
    let body =
        futures_util::stream::iter(pieces.into_iter().enumerate()).then(|(i, piece)| async move {
            if i > 0 {
                tokio::time::sleep(PACE).await;
            }
            Ok::<_, Infallible>(Bytes::from(piece))
        });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

/// An unnamed server-sent event (OpenAI chat completions).
pub(super) fn data(json: &Value) -> String {
    format!("data: {json}\n\n")
}

/// A named server-sent event (Responses, Anthropic Messages).
pub(super) fn event(name: &str, json: &Value) -> String {
    format!("event: {name}\ndata: {json}\n\n")
}

/// One NDJSON line.
pub(super) fn line(json: &Value) -> String {
    format!("{json}\n")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The body pieces of `response`, in order.
    pub async fn body_pieces(response: Response) -> Vec<String> {
        response
            .into_body()
            .into_data_stream()
            .map(|piece| String::from_utf8_lossy(&piece.expect("piece")).into_owned())
            .collect()
            .await
    }

    /// The `data:` JSON of each server-sent event piece, checking one event per piece.
    pub fn events(pieces: &[String]) -> Vec<(Option<String>, Value)> {
        pieces
            .iter()
            .map(|p| {
                assert!(
                    p.ends_with("\n\n") && p.matches("\n\n").count() == 1,
                    "{p:?}"
                );
                let name = p
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .map(str::to_owned);
                let data = p
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("data line");
                let json = if data == "[DONE]" {
                    Value::String(data.into())
                } else {
                    serde_json::from_str(data).expect("json data")
                };
                (name, json)
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn each_piece_is_its_own_body_piece() {
        let response = paced(NDJSON, vec!["a\n".into(), "b\n".into(), "c\n".into()]);
        assert_eq!(response.headers()[header::CONTENT_TYPE], NDJSON);
        assert_eq!(body_pieces(response).await, ["a\n", "b\n", "c\n"]);
    }
}
