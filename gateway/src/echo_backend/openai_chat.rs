//! OpenAI chat completions: one `chat.completion`, or `chat.completion.chunk` server-sent
//! events (the role, one per word, the finish reason) ended by `data: [DONE]`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{self, Refusal};
use super::{stream, text, unix_now};

const ID: &str = "chatcmpl-echo";

/// Answers a chat completion request.
pub(super) fn answer(models: &[String], body: &[u8]) -> Response {
    let request = match request::read(models, body) {
        Ok(r) => r,
        Err(refusal) => return openai_error(&refusal),
    };
    let text = text::last_user_text(&request.json["messages"]);
    let model = request.model.as_str();
    if request.streams(false) {
        let mut events = vec![stream::data(&chunk(
            model,
            &json!({"role": "assistant", "content": ""}),
            None,
        ))];
        events.extend(
            text::pieces(&text)
                .into_iter()
                .map(|piece| stream::data(&chunk(model, &json!({"content": piece}), None))),
        );
        events.push(stream::data(&chunk(model, &json!({}), Some("stop"))));
        events.push("data: [DONE]\n\n".to_owned());
        return stream::paced(stream::EVENT_STREAM, events);
    }
    let tokens = text::tokens(&text);
    axum::Json(json!({
        "id": ID,
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": tokens, "completion_tokens": tokens, "total_tokens": 2 * tokens},
    }))
    .into_response()
}

fn chunk(model: &str, delta: &Value, finish: Option<&str>) -> Value {
    json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": unix_now(),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    })
}

/// A refusal in the OpenAI error shape: 404 `model_not_found`, or 400 for a bad body.
pub(super) fn openai_error(refusal: &Refusal) -> Response {
    let (status, param, code) = match refusal {
        Refusal::NotJson | Refusal::Invalid(_) => {
            (StatusCode::BAD_REQUEST, Value::Null, Value::Null)
        }
        Refusal::UnknownModel(_) => (
            StatusCode::NOT_FOUND,
            json!("model"),
            json!("model_not_found"),
        ),
    };
    let error = json!({"error": {
        "message": refusal.to_string(),
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }});
    (status, axum::Json(error)).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::stream::tests::{body_pieces, events};
    use super::*;

    fn models() -> Vec<String> {
        vec!["m".to_owned()]
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_is_one_chunk_per_word_then_done() {
        let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"Hello from AI!"}]}"#;
        let events = events(&body_pieces(answer(&models(), body)).await);
        assert_eq!(events.len(), 6);
        let words: String = events
            .iter()
            .filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(words, "Hello from AI!");
        assert_eq!(events[4].1["choices"][0]["finish_reason"], "stop");
        assert_eq!(events[5].1, "[DONE]");
    }

    #[tokio::test]
    async fn refusals_are_openai_errors() {
        let response = answer(&models(), br#"{"model":"x"}"#);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = body_pieces(response).await.concat();
        let error: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(error["error"]["code"], "model_not_found");
        assert_eq!(answer(&models(), b"nope").status(), StatusCode::BAD_REQUEST);
    }
}
