//! The exit's HTTP client for its AI backend.
//!
//! The target URL is the configured base URL (without trailing slash) followed by the request's
//! path and query. Hop-by-hop headers are dropped both ways; the configured credentials are
//! injected: `api_key` becomes `Authorization: Bearer …`, and configured headers override
//! anything of the same name (including that Authorization).

use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use reqwest::header::{HeaderName, HeaderValue};

use tokengo_gateway_proto::http_message::{Headers, InnerRequest, ResponseHead, is_hop_by_hop};
use tokengo_gateway_proto::path_policy::PathPolicy;

/// Where and how the exit calls its backend. Its Debug output shows no secret.
#[derive(Clone)]
pub struct BackendOptions {
    /// Base URL, e.g. `http://127.0.0.1:11434` or `https://api.openai.com`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <api_key>`.
    pub api_key: Option<String>,
    /// Headers set on every request, overriding the client's.
    pub headers: Vec<(String, String)>,
    /// How long to wait for the backend's response head.
    pub head_timeout: Duration,
    /// Which request paths reach the backend (others get a sealed 403).
    pub allowed_paths: PathPolicy,
}

impl std::fmt::Debug for BackendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("BackendOptions")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &header_names)
            .field("head_timeout", &self.head_timeout)
            .field("allowed_paths", &self.allowed_paths)
            .finish()
    }
}

impl BackendOptions {
    /// Options for `base_url` with no credentials.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            headers: Vec::new(),
            head_timeout: Duration::from_secs(120),
            allowed_paths: PathPolicy::default(),
        }
    }
}

/// Why the backend could not be called.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The request could not be built (bad method, header or URL).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backend did not answer in time.
    #[error("backend timed out")]
    Timeout,
    /// Connecting or talking to the backend failed.
    #[error("backend unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[source] reqwest::Error),
}

/// A backend response: its head, then its body as it arrives.
pub struct BackendResponse {
    /// Status and headers (hop-by-hop removed).
    pub head: ResponseHead,
    /// The body pieces.
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send>>,
}

impl std::fmt::Debug for BackendResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendResponse")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// Calls one backend.
#[derive(Debug, Clone)]
pub struct Backend {
    http: reqwest::Client,
    options: BackendOptions,
    base: String,
}

impl Backend {
    /// A client for `options`.
    pub fn new(options: BackendOptions) -> Result<Self, BackendError> {
        crate::transport::install_crypto_provider();
        let url = reqwest::Url::parse(&options.base_url)
            .map_err(|e| BackendError::Invalid(format!("backend url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BackendError::Invalid(
                "backend url must be http or https".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(BackendError::Client)?;
        let base = options.base_url.trim_end_matches('/').to_string();
        Ok(Self {
            http,
            options,
            base,
        })
    }

    /// Whether the exit passes `path_and_query` to this backend.
    pub fn allows(&self, path_and_query: &str) -> bool {
        self.options.allowed_paths.allows(path_and_query)
    }

    /// The full URL for a request path.
    pub fn url_for(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// Sends `req` and waits for the response head.
    pub async fn call(&self, req: InnerRequest) -> Result<BackendResponse, BackendError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| BackendError::Invalid("method".into()))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &req.headers {
            if is_hop_by_hop(name) || name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) else {
                continue;
            };
            headers.append(n, v);
        }
        if let Some(key) = &self.options.api_key {
            let v = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| BackendError::Invalid("api key".into()))?;
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        for (name, value) in &self.options.headers {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return Err(BackendError::Invalid(format!("configured header {name}")));
            };
            headers.insert(n, v);
        }
        let send = self
            .http
            .request(method, self.url_for(&req.path_and_query))
            .headers(headers)
            .body(req.body)
            .send();
        let resp = match tokio::time::timeout(self.options.head_timeout, send).await {
            Err(_) => return Err(BackendError::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(BackendError::Timeout),
            Ok(Err(e)) => return Err(BackendError::Unreachable(e)),
            Ok(Ok(r)) => r,
        };
        let head = ResponseHead {
            status: resp.status().as_u16(),
            headers: response_headers(resp.headers()),
        };
        Ok(BackendResponse {
            head,
            body: resp.bytes_stream().boxed(),
        })
    }
}

fn response_headers(map: &reqwest::header::HeaderMap) -> Headers {
    map.iter()
        .filter(|(n, _)| !is_hop_by_hop(n.as_str()) && *n != reqwest::header::CONTENT_LENGTH)
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}
