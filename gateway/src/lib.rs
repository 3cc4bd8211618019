//! The tokengo gateway on tokio and quinn: the relay, the exit, and a client an app can embed.
//!
//! Data path: an app calls the client; it seals each request with the exit's OHTTP key
//! ([`tokengo_gateway_proto::envelope`]) and sends it over QUIC to a relay, which forwards it,
//! blind, to the exit registered under the target pubKeyHash; the exit opens it, calls its
//! backend and seals the response back along the same streams.
//!
//! Every decision (framing, refusals, registration, admission, retries) is made in
//! `tokengo-gateway-proto`; this crate moves the bytes:
//! - [`transport`]: TLS and QUIC endpoints, and the one [`Dialer`](transport::Dialer) that
//!   clients, exits and relay probes dial through;
//! - [`frame_io`]: frames on async streams;
//! - [`relay`], [`exit`] and [`client`]: the three roles; the client and the exit take their
//!   relays from a [`RelaySource`] and never import each other;
//! - with the `proxy` feature: the local HTTP proxy (`client::proxy`), the in-process stack of
//!   `tokengo serve` (`stack`) and an echo backend (`echo_backend`).
//!
//! # Embedding the client
//!
//! ```no_run
//! use std::sync::Arc;
//! use tokengo_gateway::client::{ClientOptions, GatewayClient};
//! use tokengo_gateway::relay_source::static_relay;
//! use tokengo_gateway_proto::http_message::InnerRequest;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! tokengo_gateway::transport::install_crypto_provider();
//! let relays = static_relay("relay.example.org:4433".into(), None);
//! let client = GatewayClient::new(relays, ClientOptions::default());
//! let request = InnerRequest {
//!     method: "POST".into(),
//!     path_and_query: "/v1/chat/completions".into(),
//!     headers: vec![("content-type".into(), b"application/json".to_vec())],
//!     body: br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec(),
//! };
//! let response = client.send_single(&request).await?;
//! println!("{} {}", response.head.status, String::from_utf8_lossy(&response.body));
//! # Ok(()) }
//! ```
//!
//! [`client::GatewayClient::send_streamed`] returns the head as soon as it arrives and the body
//! as a stream of decrypted pieces.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
#[cfg(feature = "proxy")]
pub mod echo_backend;
pub mod exit;
pub mod fd_limit;
pub mod frame_io;
pub mod keyfile;
pub mod metrics;
pub mod relay;
pub mod relay_source;
pub mod shutdown;
pub mod silence;
#[cfg(feature = "proxy")]
pub mod stack;
pub mod transport;

/// The wall clock in Unix seconds (0 before 1970): descriptors, admission certificates and
/// request dates are written in it.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub use client::{ClientError, ClientOptions, GatewayClient};
pub use relay_source::{RelayCandidate, RelaySource, StaticRelays, static_relay};
