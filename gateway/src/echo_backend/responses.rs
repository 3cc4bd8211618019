//! OpenAI Responses: one `response` object, or its named event sequence (`response.created`,
//! `response.in_progress`, the output item and content part opened, one
//! `response.output_text.delta` per word, the text, part and item done, `response.completed`),
//! each event carrying its `sequence_number`.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::openai_chat::openai_error;
use super::{request, stream, text, unix_now};

const RESPONSE_ID: &str = "resp_echo";
const ITEM_ID: &str = "msg_echo";

/// Answers a Responses request.
pub(super) fn answer(models: &[String], body: &[u8]) -> Response {
    let request = match request::read(models, body) {
        Ok(r) => r,
        Err(refusal) => return openai_error(&refusal),
    };
    let text = match &request.json["input"] {
        Value::String(s) => s.clone(),
        items => text::last_user_text(items),
    };
    let model = request.model.as_str();
    if !request.streams(false) {
        let done = response(model, "completed", &[message("completed", &text)], &text);
        return axum::Json(done).into_response();
    }
    let mut events = Events::default();
    let opened = response(model, "in_progress", &[], "");
    events.push("response.created", json!({"response": opened}));
    events.push("response.in_progress", json!({"response": opened}));
    let at = json!({"item_id": ITEM_ID, "output_index": 0, "content_index": 0});
    events.push(
        "response.output_item.added",
        json!({"output_index": 0, "item": message("in_progress", "")}),
    );
    events.push(
        "response.content_part.added",
        merged(&at, json!({"part": output_text("")})),
    );
    for piece in text::pieces(&text) {
        events.push(
            "response.output_text.delta",
            merged(&at, json!({"delta": piece, "logprobs": []})),
        );
    }
    events.push(
        "response.output_text.done",
        merged(&at, json!({"text": text, "logprobs": []})),
    );
    events.push(
        "response.content_part.done",
        merged(&at, json!({"part": output_text(&text)})),
    );
    let item = message("completed", &text);
    events.push(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    );
    let done = response(model, "completed", &[item], &text);
    events.push("response.completed", json!({"response": done}));
    stream::paced(stream::EVENT_STREAM, events.pieces)
}

/// Named events numbered in order.
#[derive(Default)]
struct Events {
    pieces: Vec<String>,
}

impl Events {
    fn push(&mut self, name: &str, mut json: Value) {
        json["type"] = json!(name);
        json["sequence_number"] = json!(self.pieces.len());
        self.pieces.push(stream::event(name, &json));
    }
}

fn merged(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn message(status: &str, text: &str) -> Value {
    let content = if status == "in_progress" {
        json!([])
    } else {
        json!([output_text(text)])
    };
    json!({"id": ITEM_ID, "type": "message", "status": status, "role": "assistant", "content": content})
}

fn response(model: &str, status: &str, output: &[Value], text: &str) -> Value {
    let tokens = text::tokens(text);
    let usage = (status == "completed").then(|| {
        json!({
            "input_tokens": tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 2 * tokens,
        })
    });
    json!({
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": unix_now(),
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "error": null,
        "incomplete_details": null,
        "usage": usage,
    })
}

#[cfg(test)]
mod tests {
    use super::super::stream::tests::{body_pieces, events};
    use super::*;
    use axum::http::StatusCode;

    fn models() -> Vec<String> {
        vec!["m".to_owned()]
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_is_the_responses_event_sequence_one_event_per_piece() {
        let body = br#"{"model":"m","stream":true,"input":[{"role":"user","content":[{"type":"input_text","text":"Hello from AI!"}]}]}"#;
        let events = events(&body_pieces(answer(&models(), body)).await);
        let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, (name, json)) in events.iter().enumerate() {
            assert_eq!(json["sequence_number"], i);
            assert_eq!(json["type"].as_str(), name.as_deref());
        }
        let done = &events[10].1["response"];
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello from AI!");
    }

    #[tokio::test]
    async fn a_plain_answer_echoes_a_string_input() {
        let response = answer(&models(), br#"{"model":"m","input":"hi there"}"#);
        assert_eq!(response.status(), StatusCode::OK);
        let json: Value =
            serde_json::from_str(&body_pieces(response).await.concat()).expect("json");
        assert_eq!(json["object"], "response");
        assert_eq!(json["output"][0]["content"][0]["text"], "hi there");
        assert_eq!(
            answer(&models(), br#"{"model":"x"}"#).status(),
            StatusCode::NOT_FOUND
        );
    }
}
