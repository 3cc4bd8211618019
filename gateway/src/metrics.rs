//! What relays, exits and clients count, for operators: Prometheus metrics kept by each part
//! whether or not anyone scrapes them (counting costs an atomic add), registered into a
//! [`Registry`] and served in the OpenMetrics text format by `serve` (with the `proxy`
//! feature) when `--metrics ADDR` is given.
//!
//! Labels are bounded: routes are a fixed list of API paths (anything else is `other`), statuses
//! are HTTP codes, refusals are the protocol's codes, so no peer can grow the label space.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
pub use prometheus_client::registry::Registry;

/// The API routes counted by name; any other path counts as `other`.
pub const ROUTES: &[&str] = &[
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/models",
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
];

/// The route label of a request path (without its query).
#[must_use]
pub fn route_of(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

/// A request's route and the status it got.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    /// One of [`ROUTES`] or `other`.
    pub route: &'static str,
    /// The HTTP status.
    pub status: u16,
}

/// Which way bytes went.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `sent` or `received` (client, exit); `to_exit` or `to_client` (relay).
    pub direction: &'static str,
}

/// What became of a request at the relay.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `forwarded`, or the refusal's code.
    pub outcome: String,
}

/// A role of a connection at the relay.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Role {
    /// `client` or `exit`.
    pub role: &'static str,
}

/// Counts a request answered with `status` on `path` (its query ignored).
fn count_answer(family: &Family<RouteStatus, Counter>, path: &str, status: u16) {
    let path = path.split('?').next().unwrap_or_default();
    let labels = RouteStatus {
        route: route_of(path),
        status,
    };
    family.get_or_create(&labels).inc();
}

/// Counts `n` bytes going `direction`.
fn count_bytes(family: &Family<Direction, Counter>, direction: &'static str, n: usize) {
    family
        .get_or_create(&Direction { direction })
        .inc_by(n as u64);
}

/// Seconds, from 1 ms to about 2 minutes.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// Seconds as a histogram observation.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A client's (its local proxy's) metrics.
#[derive(Debug)]
pub struct ClientMetrics {
    /// Requests answered, by route and status.
    pub requests: Family<RouteStatus, Counter>,
    /// Body bytes sent and received.
    pub bytes: Family<Direction, Counter>,
    /// Time from a request's arrival to its response head.
    pub first_byte: Histogram,
    /// Time from a request's arrival to the end of its response (non-stream responses) or to
    /// its head (streams, which last as long as the backend talks).
    pub request: Histogram,
    /// How long joining the DHT took at start.
    pub bootstrap_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// How long it took from start until the client had a relay and an exit.
    pub ready_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for ClientMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            bytes: Family::default(),
            first_byte: latency(),
            request: latency(),
            bootstrap_seconds: Gauge::default(),
            ready_seconds: Gauge::default(),
        }
    }
}

impl ClientMetrics {
    /// Counts one answered request.
    pub fn answered(&self, path: &str, status: u16) {
        count_answer(&self.requests, path, status);
    }

    /// Counts body bytes going `direction` (`sent` or `received`).
    pub fn count_bytes(&self, direction: &'static str, n: usize) {
        count_bytes(&self.bytes, direction, n);
    }

    /// Requests answered so far with a status in `range`.
    pub fn answered_in(&self, range: std::ops::RangeInclusive<u16>) -> u64 {
        let mut total = 0;
        for route in ROUTES.iter().copied().chain(["other"]) {
            for status in range.clone() {
                let labels = RouteStatus { route, status };
                // `get` does not create, so reading adds no series.
                if let Some(c) = self.requests.get(&labels) {
                    total += c.get();
                }
            }
        }
        total
    }

    /// Records the time to a response head.
    pub fn first_byte_after(&self, d: Duration) {
        self.first_byte.observe(secs(d));
    }

    /// Records a request's whole time.
    pub fn request_took(&self, d: Duration) {
        self.request.observe(secs(d));
    }

    /// Registers these metrics under `tokengo_client_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("tokengo_client");
        r.register(
            "requests",
            "Requests answered by the local proxy",
            self.requests.clone(),
        );
        r.register(
            "body_bytes",
            "Request and response body bytes",
            self.bytes.clone(),
        );
        r.register(
            "first_byte_seconds",
            "Time to the response head",
            self.first_byte.clone(),
        );
        r.register(
            "request_seconds",
            "Time to the end of a non-stream response, or the head of a stream",
            self.request.clone(),
        );
        r.register(
            "bootstrap_seconds",
            "How long joining the DHT took at start",
            self.bootstrap_seconds.clone(),
        );
        r.register(
            "ready_seconds",
            "How long it took until a relay and an exit were found",
            self.ready_seconds.clone(),
        );
    }
}

/// A relay's metrics.
#[derive(Debug, Default)]
pub struct RelayMetrics {
    /// Open connections, by role.
    pub connections: Family<Role, Gauge>,
    /// Exits registered now.
    pub exits: Gauge,
    /// Requests, by what became of them.
    pub requests: Family<Outcome, Counter>,
    /// Payload bytes copied each way.
    pub bytes: Family<Direction, Counter>,
}

impl RelayMetrics {
    /// Counts a request's outcome (`forwarded` or a refusal code).
    pub fn request(&self, outcome: impl Into<String>) {
        self.requests
            .get_or_create(&Outcome {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts payload bytes going `direction` (`to_exit` or `to_client`).
    pub fn count_bytes(&self, direction: &'static str, n: usize) {
        count_bytes(&self.bytes, direction, n);
    }

    /// Registers these metrics under `tokengo_relay_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("tokengo_relay");
        r.register(
            "connections",
            "Open QUIC connections, by role",
            self.connections.clone(),
        );
        r.register("exits", "Exits registered now", self.exits.clone());
        r.register(
            "requests",
            "Client requests, forwarded or refused (by refusal code)",
            self.requests.clone(),
        );
        r.register(
            "payload_bytes",
            "Frame payload bytes copied, each way",
            self.bytes.clone(),
        );
    }
}

/// An exit's metrics.
#[derive(Debug)]
pub struct ExitMetrics {
    /// Requests answered, by route and status (the backend's, or the exit's own refusal).
    pub requests: Family<RouteStatus, Counter>,
    /// Body bytes sent to and received from the backend.
    pub bytes: Family<Direction, Counter>,
    /// Time from an opened request to the backend's response head.
    pub first_byte: Histogram,
    /// Relays registered with now.
    pub relays: Gauge,
}

impl Default for ExitMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            bytes: Family::default(),
            first_byte: latency(),
            relays: Gauge::default(),
        }
    }
}

impl ExitMetrics {
    /// Counts one answered request.
    pub fn answered(&self, path: &str, status: u16) {
        count_answer(&self.requests, path, status);
    }

    /// Counts body bytes going `direction` (`sent` or `received`).
    pub fn count_bytes(&self, direction: &'static str, n: usize) {
        count_bytes(&self.bytes, direction, n);
    }

    /// Registers these metrics under `tokengo_exit_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("tokengo_exit");
        r.register(
            "requests",
            "Requests answered, by route and status",
            self.requests.clone(),
        );
        r.register(
            "body_bytes",
            "Body bytes sent to and received from the backend",
            self.bytes.clone(),
        );
        r.register(
            "first_byte_seconds",
            "Time to the backend's response head",
            self.first_byte.clone(),
        );
        r.register("relays", "Relays registered with now", self.relays.clone());
    }
}

/// Serves `registry` as OpenMetrics text on `GET /metrics` until `shutdown` completes;
/// `refresh` runs before each scrape (to copy live values, e.g. DHT statistics, into gauges).
#[cfg(feature = "proxy")]
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: std::sync::Arc<Registry>,
    refresh: std::sync::Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            let refresh = refresh.clone();
            async move {
                refresh().await;
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, &registry) {
                    Ok(()) => (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                        .into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A `refresh` that does nothing.
#[cfg(feature = "proxy")]
pub fn no_refresh()
-> std::sync::Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync> {
    std::sync::Arc::new(|| Box::pin(async {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_a_bounded_set() {
        assert_eq!(route_of("/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(route_of("/v1/chat/completions/x"), "other");
        assert_eq!(route_of("/anything/a/peer/sends"), "other");
    }

    #[test]
    fn answered_requests_are_counted_by_status_class() {
        let m = ClientMetrics::default();
        m.answered("/v1/chat/completions", 200);
        m.answered("/nope", 200);
        m.answered("/v1/models", 503);
        assert_eq!(m.answered_in(200..=299), 2);
        assert_eq!(m.answered_in(500..=599), 1);
        assert_eq!(m.answered_in(400..=499), 0);
    }
}
