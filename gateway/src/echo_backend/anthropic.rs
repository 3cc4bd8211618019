//! Anthropic Messages: one `message`, or its named event sequence (`message_start`,
//! `content_block_start`, one `content_block_delta` per word, `content_block_stop`,
//! `message_delta` with the stop reason, `message_stop`). Refusals use Anthropic's error shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{self, Refusal};
use super::{stream, text};

const ID: &str = "msg_echo";

/// Answers a Messages request.
pub(super) fn answer(models: &[String], body: &[u8]) -> Response {
    let request = match request::read(models, body) {
        Ok(r) => r,
        Err(refusal) => return error(&refusal),
    };
    let text = text::last_user_text(&request.json["messages"]);
    let tokens = text::tokens(&text);
    let model = request.model.as_str();
    if !request.streams(false) {
        let mut done = message(model, json!([{"type": "text", "text": text}]), tokens);
        done["stop_reason"] = json!("end_turn");
        return axum::Json(done).into_response();
    }
    let mut events = vec![
        event(
            "message_start",
            json!({"message": message(model, json!([]), 0)}),
        ),
        event(
            "content_block_start",
            json!({"index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    events.extend(text::pieces(&text).into_iter().map(|piece| {
        event(
            "content_block_delta",
            json!({"index": 0, "delta": {"type": "text_delta", "text": piece}}),
        )
    }));
    events.push(event("content_block_stop", json!({"index": 0})));
    events.push(event(
        "message_delta",
        json!({
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": tokens},
        }),
    ));
    events.push(event("message_stop", json!({})));
    stream::paced(stream::EVENT_STREAM, events)
}

fn event(name: &str, mut json: Value) -> String {
    json["type"] = json!(name);
    stream::event(name, &json)
}

fn message(model: &str, content: Value, output_tokens: usize) -> Value {
    json!({
        "id": ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": null,
        "stop_sequence": null,
        "usage": {"input_tokens": output_tokens, "output_tokens": output_tokens},
    })
}

/// A refusal in Anthropic's error shape.
fn error(refusal: &Refusal) -> Response {
    let (status, kind) = match refusal {
        Refusal::UnknownModel(_) => (StatusCode::NOT_FOUND, "not_found_error"),
        Refusal::NotJson | Refusal::Invalid(_) => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
    };
    let body = json!({"type": "error", "error": {"type": kind, "message": refusal.to_string()}});
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::stream::tests::{body_pieces, events};
    use super::*;

    fn models() -> Vec<String> {
        vec!["m".to_owned()]
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_is_the_messages_event_sequence_one_event_per_piece() {
        let body = br#"{"model":"m","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"Hello from AI!"}]}"#;
        let events = events(&body_pieces(answer(&models(), body)).await);
        let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
        assert_eq!(
            names,
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
        assert!(
            events
                .iter()
                .all(|(n, j)| j["type"].as_str() == n.as_deref())
        );
        let text: String = events
            .iter()
            .filter_map(|(_, j)| j["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "Hello from AI!");
    }

    #[tokio::test]
    async fn refusals_use_anthropics_error_shape() {
        let response = answer(&models(), br#"{"model":"x","messages":[]}"#);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let json: Value =
            serde_json::from_str(&body_pieces(response).await.concat()).expect("json");
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], "not_found_error");
        assert_eq!(answer(&models(), b"{").status(), StatusCode::BAD_REQUEST);
    }
}
