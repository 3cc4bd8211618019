//! Models: what an exit's backend serves, read from the backend's own listing, and which of
//! the trusted exits a request for a model goes to.
//!
//! An exit lists its models in its signed descriptor. The client routes a request naming a
//! model to an exit that lists it (random among them, then sticky for that model); exits that
//! list nothing (their backend would not say) take models no exit lists; a model that no exit
//! lists, when every exit lists its models, is unknown (`404`).
//!
//! ```
//! use tokengo_gateway_proto::models::{Route, parse_listing, route};
//!
//! let openai = parse_listing(br#"{"object":"list","data":[{"id":"gpt-4o"},{"id":"o3"}]}"#);
//! let ollama = parse_listing(br#"{"models":[{"name":"llama3:8b","model":"llama3:8b"}]}"#);
//! assert_eq!(openai, ["gpt-4o", "o3"]);
//! let exits = [openai.as_slice(), ollama.as_slice()];
//! assert_eq!(route(&exits, Some("llama3:8b")), Route::Exits(vec![1]));
//! assert_eq!(route(&exits, Some("nobody")), Route::Unknown);
//! assert_eq!(route(&exits, None), Route::Exits(vec![0, 1]));
//! ```

use crate::descriptor::MAX_MODELS;

/// The longest model name a descriptor carries.
pub const MAX_MODEL_NAME: usize = 255;

/// The model names in a backend's listing: OpenAI's `GET /v1/models` (`data[].id`) or
/// Ollama's `GET /api/tags` (`models[].name`). Names that are empty, too long or repeated are
/// left out, and at most [`MAX_MODELS`] are kept (in the listing's order); anything unreadable
/// gives an empty list.
#[must_use]
pub fn parse_listing(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let (items, field) = if let Some(data) = value.get("data").and_then(|d| d.as_array()) {
        (data, "id")
    } else if let Some(models) = value.get("models").and_then(|m| m.as_array()) {
        (models, "name")
    } else {
        return Vec::new();
    };
    let names = items
        .iter()
        .filter_map(|item| item.get(field).and_then(|n| n.as_str()))
        .map(str::to_owned);
    clean(names)
}

/// `names` as a descriptor can carry them: non-empty, at most [`MAX_MODEL_NAME`] bytes, no
/// repeats, at most [`MAX_MODELS`].
#[must_use]
pub fn clean(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if out.len() == MAX_MODELS {
            break;
        }
        if !name.is_empty() && name.len() <= MAX_MODEL_NAME && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Where a request may go, as indices into the exits' model lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Any of these exits (never empty).
    Exits(Vec<usize>),
    /// Every exit lists its models and none lists this one.
    Unknown,
    /// There is no exit at all.
    NoExit,
}

/// Which exits may serve a request for `model` (`None`: the request names none, any exit
/// will do). `exits[i]` is exit `i`'s model list.
#[must_use]
pub fn route<S: AsRef<str>>(exits: &[&[S]], model: Option<&str>) -> Route {
    if exits.is_empty() {
        return Route::NoExit;
    }
    let Some(model) = model else {
        return Route::Exits((0..exits.len()).collect());
    };
    let listing: Vec<usize> = (0..exits.len())
        .filter(|&i| exits[i].iter().any(|m| m.as_ref() == model))
        .collect();
    if !listing.is_empty() {
        return Route::Exits(listing);
    }
    let silent: Vec<usize> = (0..exits.len()).filter(|&i| exits[i].is_empty()).collect();
    if silent.is_empty() {
        Route::Unknown
    } else {
        Route::Exits(silent)
    }
}

/// Every model the exits list, each once, in the order first seen.
#[must_use]
pub fn union<S: AsRef<str>>(exits: &[&[S]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in exits.iter().flat_map(|e| e.iter()) {
        if !out.iter().any(|m| m == name.as_ref()) {
            out.push(name.as_ref().to_owned());
        }
    }
    out
}

/// The `model` a request body names (OpenAI, Anthropic and Ollama all put it at the top level
/// of a JSON body), if it is JSON and names one.
#[must_use]
pub fn requested_model(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        model: Option<String>,
    }
    if !body.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    serde_json::from_slice::<Named>(body).ok()?.model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_of_both_shapes_are_read_and_junk_gives_nothing() {
        assert_eq!(
            parse_listing(br#"{"data":[{"id":"a"},{"id":""},{"id":"a"},{"x":1},{"id":"b"}]}"#),
            ["a", "b"]
        );
        assert_eq!(
            parse_listing(br#"{"models":[{"name":"llama3:8b"},{"name":7}]}"#),
            ["llama3:8b"]
        );
        assert!(parse_listing(b"not json").is_empty());
        assert!(parse_listing(br#"{"data":"x"}"#).is_empty());
        assert!(parse_listing(br#"[1,2]"#).is_empty());
        let long = format!(r#"{{"data":[{{"id":"{}"}}]}}"#, "x".repeat(256));
        assert!(parse_listing(long.as_bytes()).is_empty());
    }

    #[test]
    fn a_listing_is_cut_to_what_a_descriptor_carries() {
        let many: Vec<String> = (0..200).map(|i| format!(r#"{{"id":"m{i}"}}"#)).collect();
        let body = format!(r#"{{"data":[{}]}}"#, many.join(","));
        let names = parse_listing(body.as_bytes());
        assert_eq!(names.len(), MAX_MODELS);
        assert_eq!(names[0], "m0");
    }

    #[test]
    fn a_model_goes_to_the_exits_listing_it_then_to_silent_ones_else_it_is_unknown() {
        let a: &[&str] = &["gpt-4o"];
        let b: &[&str] = &["llama3", "gpt-4o"];
        let silent: &[&str] = &[];
        assert_eq!(route(&[a, b], Some("gpt-4o")), Route::Exits(vec![0, 1]));
        assert_eq!(route(&[a, b], Some("llama3")), Route::Exits(vec![1]));
        assert_eq!(route(&[a, b], Some("other")), Route::Unknown);
        assert_eq!(route(&[a, silent], Some("other")), Route::Exits(vec![1]));
        assert_eq!(route(&[a, silent], Some("gpt-4o")), Route::Exits(vec![0]));
        assert_eq!(route(&[a, b], None), Route::Exits(vec![0, 1]));
        assert_eq!(route::<&str>(&[], Some("x")), Route::NoExit);
    }

    #[test]
    fn the_union_lists_each_model_once() {
        let a: &[&str] = &["x", "y"];
        let b: &[&str] = &["y", "z"];
        assert_eq!(union(&[a, b]), ["x", "y", "z"]);
    }

    #[test]
    fn the_requested_model_is_read_from_a_json_body_only() {
        assert_eq!(
            requested_model(br#" {"model":"m","messages":[]}"#).as_deref(),
            Some("m")
        );
        assert_eq!(requested_model(br#"{"messages":[]}"#), None);
        assert_eq!(requested_model(br#"{"model":3}"#), None);
        assert_eq!(requested_model(b"model=m"), None);
        assert_eq!(requested_model(b""), None);
    }
}
