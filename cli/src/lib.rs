//! The tokengo gateway: wire framing, OHTTP envelopes, relay, exit, client proxy, `serve` and
//! `keygen`.
//!
//! Data path: an app calls the client proxy over HTTP; the proxy seals the request with the
//! exit's OHTTP key and sends it over QUIC to a relay, which forwards it, blind, to the exit that
//! registered under the target pubKeyHash; the exit opens it, calls its backend and seals the
//! response back along the same streams.

pub mod client;
pub mod commands;
pub mod config;
pub mod envelope;
pub mod exit;
pub mod http_message;
pub mod identity;
pub mod keyfile;
pub mod keygen;
pub mod keys;
pub mod relay;
pub mod serve;
pub mod shutdown;
pub mod tls;
pub mod wire;
