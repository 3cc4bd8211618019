//! Ollama's native API: `/api/chat` streams NDJSON lines (one per word, then a last line with
//! `"done": true`) unless the body says `"stream": false`; `/api/tags` lists the models.
//! Refusals use Ollama's `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{self, Refusal};
use super::{stream, text, unix_now};

/// Answers `POST /api/chat`.
pub(super) fn chat(models: &[String], body: &[u8]) -> Response {
    let request = match request::read(models, body) {
        Ok(r) => r,
        Err(refusal) => return error(&refusal),
    };
    let text = text::last_user_text(&request.json["messages"]);
    let model = request.model.as_str();
    let created = rfc3339(unix_now());
    let line = |content: &str, done: bool| {
        let mut line = json!({
            "model": model,
            "created_at": created,
            "message": {"role": "assistant", "content": content},
            "done": done,
        });
        if done {
            let tokens = text::tokens(&text);
            let totals = json!({
                "done_reason": "stop", "total_duration": 0, "load_duration": 0,
                "prompt_eval_count": tokens, "prompt_eval_duration": 0,
                "eval_count": tokens, "eval_duration": 0,
            });
            if let (Some(line), Value::Object(totals)) = (line.as_object_mut(), totals) {
                line.extend(totals);
            }
        }
        line
    };
    if !request.streams(true) {
        return axum::Json(line(&text, true)).into_response();
    }
    let mut lines: Vec<String> = text::pieces(&text)
        .into_iter()
        .map(|piece| stream::line(&line(piece, false)))
        .collect();
    lines.push(stream::line(&line("", true)));
    stream::paced(stream::NDJSON, lines)
}

/// Answers `GET /api/tags`.
pub(super) fn tags(models: &[String]) -> Response {
    let modified = rfc3339(unix_now());
    let list: Vec<Value> = models
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "model": name,
                "modified_at": modified,
                "size": 0,
                "digest": digest(name),
                "details": {
                    "parent_model": "", "format": "echo", "family": "echo", "families": ["echo"],
                    "parameter_size": "0", "quantization_level": "none",
                },
            })
        })
        .collect();
    axum::Json(json!({"models": list})).into_response()
}

/// A refusal in Ollama's error shape.
fn error(refusal: &Refusal) -> Response {
    let (status, message) = match refusal {
        Refusal::UnknownModel(model) => (
            StatusCode::NOT_FOUND,
            format!("model \"{model}\" not found, try pulling it first"),
        ),
        Refusal::NotJson | Refusal::Invalid(_) => (StatusCode::BAD_REQUEST, refusal.to_string()),
    };
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// A stable 64-hex-digit stand-in for a model's digest.
fn digest(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}").repeat(4)
}

/// `secs` since the Unix epoch as an RFC 3339 UTC time (`1970-01-01T00:00:00Z`).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::super::stream::tests::body_pieces;
    use super::*;

    fn models() -> Vec<String> {
        vec!["m".to_owned()]
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[tokio::test(start_paused = true)]
    async fn chat_streams_ndjson_by_default_one_line_per_piece() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"Hello from AI!"}]}"#;
        let response = chat(&models(), body);
        assert_eq!(response.headers()["content-type"], stream::NDJSON);
        let pieces = body_pieces(response).await;
        assert_eq!(pieces.len(), 4);
        let lines: Vec<Value> = pieces
            .iter()
            .map(|p| {
                assert!(p.ends_with('\n') && p.matches('\n').count() == 1, "{p:?}");
                serde_json::from_str(p).expect("json line")
            })
            .collect();
        let text: String = lines
            .iter()
            .filter_map(|l| l["message"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello from AI!");
        assert!(lines[..3].iter().all(|l| l["done"] == false));
        assert_eq!(lines[3]["done"], true);
        assert_eq!(lines[3]["done_reason"], "stop");
    }

    #[tokio::test]
    async fn chat_without_stream_is_one_object_and_unknown_models_are_ollamas_404() {
        let body = br#"{"model":"m","stream":false,"messages":[{"role":"user","content":"hi"}]}"#;
        let json: Value =
            serde_json::from_str(&body_pieces(chat(&models(), body)).await.concat()).expect("json");
        assert_eq!(json["message"]["content"], "hi");
        assert_eq!(json["done"], true);
        let response = chat(&models(), br#"{"model":"x"}"#);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let json: Value =
            serde_json::from_str(&body_pieces(response).await.concat()).expect("json");
        assert!(
            json["error"]
                .as_str()
                .is_some_and(|e| e.contains("not found"))
        );
    }
}
