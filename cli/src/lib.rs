//! The `tokengo` command line: the gateway (client proxy, relay, exit, `serve`, `keygen`),
//! discovery through the DHT, and `tokengo dht`.
//!
//! Data path: an app calls the client proxy over HTTP; the proxy seals the request with the
//! exit's OHTTP key and sends it over QUIC to a relay, which forwards it, blind, to the exit that
//! registered under the target pubKeyHash; the exit opens it, calls its backend and seals the
//! response back along the same streams.

pub mod bootstrap_peers;
pub mod client;
pub mod commands;
pub mod config;
pub mod console;
pub mod crypto;
pub mod devnet;
pub mod dht;
pub mod discovery;
pub mod echo_backend;
pub mod envelope;
pub mod exit;
pub mod http_message;
pub mod identity;
pub mod keyfile;
pub mod keygen;
pub mod keys;
pub mod progress;
pub mod relay;
pub mod serve;
pub mod shutdown;
pub mod tls;
pub mod wire;
