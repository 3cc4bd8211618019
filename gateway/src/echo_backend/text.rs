//! The text the echo backend echoes, and how it splits it into streamed pieces.

use serde_json::Value;

/// The text of a message's content: a string, or the text parts of a list of parts joined.
pub(super) fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The text of the last user message in a list of `{role, content}` messages.
pub(super) fn last_user_text(messages: &Value) -> String {
    messages
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
}

/// `text` in the pieces a model would stream: words, each keeping the space after it.
pub(super) fn pieces(text: &str) -> Vec<&str> {
    text.split_inclusive(' ').collect()
}

/// A rough token count (words), for the APIs' usage fields.
pub(super) fn tokens(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_user_text_is_found_in_strings_and_parts() {
        let messages = json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "a "}, {"type": "image"}, {"type": "input_text", "text": "b"}]},
            {"role": "system", "content": "late"},
        ]);
        assert_eq!(last_user_text(&messages), "a b");
        assert_eq!(last_user_text(&json!("not a list")), "");
        assert_eq!(last_user_text(&json!([{"role": "user", "content": 7}])), "");
    }

    #[test]
    fn pieces_join_back_to_the_text() {
        assert_eq!(pieces("Hello from AI!"), ["Hello ", "from ", "AI!"]);
        assert!(pieces("").is_empty());
        assert_eq!(tokens("Hello from AI!"), 3);
    }
}
