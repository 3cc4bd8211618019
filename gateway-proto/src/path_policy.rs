//! Which request paths an exit passes to its backend.
//!
//! An exit calls its backend with its own credentials, so a client must not reach whatever
//! else that backend serves (Ollama's `/api/delete` and `/api/pull`, OpenAI's `/v1/files` are
//! one path away). By default only AI API paths pass; an operator may list others. A path with
//! dot segments or encoded slashes, dots or backslashes is refused outright, since the backend
//! URL would resolve it to somewhere else.

/// The paths allowed by default: the OpenAI-style API and Ollama's chat, generation, embedding
/// and model listing.
pub const DEFAULT_ALLOWED_PATHS: &[&str] = &[
    "/v1/",
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
    "/api/show",
];

/// The paths an exit serves. An entry ending in `/` allows every path under it; any other
/// entry allows that exact path; `*` allows every path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPolicy {
    allowed: Vec<String>,
}

impl Default for PathPolicy {
    fn default() -> Self {
        Self::new(
            DEFAULT_ALLOWED_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        )
    }
}

impl PathPolicy {
    /// A policy allowing `allowed`.
    #[must_use]
    pub fn new(allowed: Vec<String>) -> Self {
        Self { allowed }
    }

    /// Whether `path_and_query` may reach the backend.
    #[must_use]
    pub fn allows(&self, path_and_query: &str) -> bool {
        let path = path_and_query
            .split(['?', '#'])
            .next()
            .unwrap_or(path_and_query);
        if !path.starts_with('/') || !is_plain(path) {
            return false;
        }
        self.allowed.iter().any(|a| {
            a == "*"
                || if a.ends_with('/') {
                    path.starts_with(a.as_str())
                } else {
                    path == a
                }
        })
    }
}

/// No `.` or `..` segment, no backslash, no percent-encoded `/`, `\` or `.`.
fn is_plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    !lower.contains('\\')
        && !["%2f", "%5c", "%2e"].iter().any(|e| lower.contains(e))
        && !path.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ai_paths_pass_and_the_rest_of_the_backend_does_not() {
        let p = PathPolicy::default();
        for ok in [
            "/v1/chat/completions",
            "/v1/responses?x=1",
            "/v1/models",
            "/api/chat",
            "/api/tags",
            "/api/embed",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "/api/delete",
            "/api/pull",
            "/api/chat/../delete",
            "/v1/../api/delete",
            "/v1/%2e%2e/api/delete",
            "/v1/..%2fapi/delete",
            "/v1\\..\\api",
            "/v1/./x",
            "/v1",
            "/api/chatx",
            "v1/chat",
            "",
            "/",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn operators_choose_their_own_paths() {
        let p = PathPolicy::new(vec!["/v1/chat/completions".into(), "/custom/".into()]);
        assert!(p.allows("/v1/chat/completions"));
        assert!(!p.allows("/v1/files"));
        assert!(p.allows("/custom/anything"));
        let all = PathPolicy::new(vec!["*".into()]);
        assert!(all.allows("/api/delete"));
        assert!(
            !all.allows("/v1/../etc"),
            "dot segments are refused even so"
        );
    }
}
