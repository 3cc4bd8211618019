//! Reading a request: its body must be a JSON object naming a model the backend serves.

use serde_json::Value;

use super::MODEL;

/// Why the echo backend refuses a request; each API renders it in its own error shape.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The body is not a JSON object.
    #[error("the body is not a JSON object")]
    NotJson,
    /// The request names a model this backend does not serve.
    #[error("the model `{0}` does not exist")]
    UnknownModel(String),
    /// A field the API requires is missing or malformed.
    #[error("{0}")]
    Invalid(&'static str),
}

/// A request the echo backend will answer.
#[derive(Debug)]
pub(super) struct EchoRequest {
    /// The whole body.
    pub json: Value,
    /// The model asked for ([`MODEL`] when none is named).
    pub model: String,
}

impl EchoRequest {
    /// Whether the body says `"stream": true` (or, with `default`, does not say otherwise).
    pub fn streams(&self, default: bool) -> bool {
        self.json["stream"].as_bool().unwrap_or(default)
    }
}

/// Reads `body` as a request for one of `models`.
pub(super) fn read(models: &[String], body: &[u8]) -> Result<EchoRequest, Refusal> {
    let json: Value = serde_json::from_slice(body).map_err(|_| Refusal::NotJson)?;
    if !json.is_object() {
        return Err(Refusal::NotJson);
    }
    let model = json["model"].as_str().unwrap_or(MODEL).to_owned();
    if !models.contains(&model) {
        return Err(Refusal::UnknownModel(model));
    }
    Ok(EchoRequest { json, model })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_must_be_a_json_object_naming_a_served_model() {
        let models = vec![MODEL.to_owned()];
        assert_eq!(read(&models, b"{").err(), Some(Refusal::NotJson));
        assert_eq!(read(&models, b"[1]").err(), Some(Refusal::NotJson));
        assert_eq!(
            read(&models, br#"{"model":"other"}"#).err(),
            Some(Refusal::UnknownModel("other".into()))
        );
        let ok = read(&models, br#"{"stream":true}"#).expect("default model");
        assert_eq!(ok.model, MODEL);
        assert!(ok.streams(false));
        let ok = read(&models, br#"{"model":"tokengo-echo"}"#).expect("named");
        assert!(ok.streams(true) && !ok.streams(false));
    }
}
