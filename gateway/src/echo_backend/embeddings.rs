//! OpenAI embeddings: one deterministic unit vector per input, derived from its text, as JSON
//! floats or (with `"encoding_format": "base64"`, which the openai SDK asks for by default) as
//! base64 of little-endian `f32`s.

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::openai_chat::openai_error;
use super::request::{self, Refusal};

/// The vector length when the request names no `dimensions`.
pub(super) const DIMENSIONS: usize = 64;
/// The longest vector served.
const MAX_DIMENSIONS: u64 = 4096;
/// The most inputs in one request (OpenAI's own limit).
const MAX_INPUTS: usize = 2048;

/// Answers an embeddings request.
pub(super) fn answer(models: &[String], body: &[u8]) -> Response {
    match embed(models, body) {
        Ok(json) => axum::Json(json).into_response(),
        Err(refusal) => openai_error(&refusal),
    }
}

fn embed(models: &[String], body: &[u8]) -> Result<Value, Refusal> {
    let request = request::read(models, body)?;
    let inputs = inputs(&request.json["input"])?;
    let dimensions = match &request.json["dimensions"] {
        Value::Null => DIMENSIONS,
        d => d
            .as_u64()
            .filter(|d| (1..=MAX_DIMENSIONS).contains(d))
            .and_then(|d| usize::try_from(d).ok())
            .ok_or(Refusal::Invalid("`dimensions` must be between 1 and 4096"))?,
    };
    let base64 = match request.json["encoding_format"].as_str() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(Refusal::Invalid(
                "`encoding_format` must be float or base64",
            ));
        }
    };
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            tokens += text.split_whitespace().count();
            let vector = vector_of(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

/// The texts to embed: a string, a list of strings, a list of token ids (one input) or a list
/// of such lists.
fn inputs(input: &Value) -> Result<Vec<String>, Refusal> {
    const BAD: Refusal = Refusal::Invalid(
        "`input` must be a string, or a non-empty list of strings or of token ids",
    );
    let as_tokens = |v: &Value| -> Option<String> {
        let ids = v.as_array()?;
        let ids: Option<Vec<String>> = ids
            .iter()
            .map(|t| t.as_u64().map(|t| t.to_string()))
            .collect();
        ids.map(|ids| ids.join(" "))
    };
    let texts = match input {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.first().is_some_and(Value::is_number) => {
            vec![as_tokens(input).ok_or(BAD)?]
        }
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).or_else(|| as_tokens(item)))
            .collect::<Option<Vec<_>>>()
            .ok_or(BAD)?,
        _ => return Err(BAD),
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(BAD);
    }
    Ok(texts)
}

/// A unit vector of `dimensions` drawn from a generator seeded with the text's FNV-1a hash.
pub(super) fn vector_of(text: &str, dimensions: usize) -> Vec<f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let raw: Vec<f64> = (0..dimensions)
        .map(|_| {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // The top 53 bits as a fraction in [0, 1), moved to [-1, 1).
            (z >> 11) as f64 / (1_u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    #[allow(clippy::cast_possible_truncation)]
    raw.iter()
        .map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> Vec<String> {
        vec!["m".to_owned()]
    }

    #[test]
    fn vectors_are_deterministic_unit_vectors_that_differ_by_text() {
        let a = vector_of("hello", 8);
        assert_eq!(a, vector_of("hello", 8));
        assert_ne!(a, vector_of("hellp", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn base64_carries_the_same_floats() {
        let float = embed(
            &models(),
            br#"{"model":"m","input":["a","b"],"dimensions":4}"#,
        )
        .expect("float");
        let b64 = embed(
            &models(),
            br#"{"model":"m","input":["a","b"],"dimensions":4,"encoding_format":"base64"}"#,
        )
        .expect("base64");
        for i in 0..2 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64["data"][i]["embedding"].as_str().expect("string"))
                .expect("base64");
            let decoded: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let floats: Vec<f32> =
                serde_json::from_value(float["data"][i]["embedding"].clone()).expect("floats");
            assert_eq!(decoded, floats);
            assert_eq!(floats.len(), 4);
        }
    }

    #[test]
    fn bad_inputs_are_refused() {
        for body in [
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":[]}"#,
            r#"{"model":"m","input":[{"x":1}]}"#,
            r#"{"model":"m","input":"a","dimensions":0}"#,
            r#"{"model":"m","input":"a","encoding_format":"hex"}"#,
        ] {
            assert!(
                matches!(embed(&models(), body.as_bytes()), Err(Refusal::Invalid(_))),
                "{body}"
            );
        }
        let tokens = embed(&models(), br#"{"model":"m","input":[[1,2],[3]]}"#).expect("tokens");
        assert_eq!(tokens["data"].as_array().map(Vec::len), Some(2));
    }
}
