//! The tokengo gateway's protocol, without IO: what travels between a client, a relay and an
//! exit, and every decision about it, as plain values and state machines.
//!
//! - [`frame`]: the message framing on QUIC streams, with the one header parser;
//! - [`refusal`]: the typed code on every Error frame;
//! - [`http_message`] and [`envelope`]: the Binary HTTP messages inside OHTTP (RFC 9458 and
//!   chunked OHTTP) and their sealing;
//! - [`keys`] and [`identity`]: OHTTP key configs and Ed25519 identities;
//! - [`descriptor`]: what an exit signs about itself (its keys, validity);
//! - [`publication`]: an exit's rotating keys and the descriptor listing them;
//! - [`certificate`]: a network authority's admission of an exit;
//! - [`registration`]: the exit registration exchange, one state machine per side;
//! - [`control`]: the exit list a relay hands out;
//! - [`trust`]: which listed exits a client may use, and how it picks one;
//! - [`address`]: whether an IP address is local, and its network;
//! - [`admission`] and [`per_ip`]: whether a relay takes a connection attempt;
//! - [`hygiene`]: which headers leave the machine and which local callers the proxy serves;
//! - [`path_policy`]: which paths an exit passes to its backend;
//! - [`replay`]: the date in every sealed request, and the exit's guard against replays;
//! - [`retry`]: whether a failed request may be sent again;
//! - [`liveness`]: whether a connection's silent peer is gone.
//!
//! Nothing here opens a socket or reads a clock: stateful parts take `now`, in the
//! `handle_*` / `poll_*` shape. A runtime shell (`tokengo-gateway`) moves the bytes.
//!
//! # A registration, driven by hand
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tokengo_gateway_proto::identity::Identity;
//! use tokengo_gateway_proto::keys::OhttpKeyPair;
//! use tokengo_gateway_proto::publication::{Publication, PublicationSettings};
//! use tokengo_gateway_proto::registration::{ExitRegistration, RelayRegistration};
//!
//! let (now, now_unix, timeout) = (Instant::now(), 1_800_000_000, Duration::from_secs(10));
//! let (exit_id, relay_id) = (Identity::generate().unwrap(), Identity::generate().unwrap());
//! let key = OhttpKeyPair::generate().unwrap();
//! let published = Publication::new(&exit_id, key, PublicationSettings::default(), now_unix).unwrap();
//! let mut exit =
//!     ExitRegistration::new(now, timeout, &exit_id, relay_id.public_key(), published.descriptor());
//! let mut relay =
//!     RelayRegistration::new(now, now_unix, timeout, relay_id.public_key(), [42; 32]);
//! // Register, then the challenge, then the signed proof: each side sends what it polls.
//! for _ in 0..2 {
//!     while let Some(frame) = exit.poll_transmit() { relay.handle_frame(now, frame); }
//!     while let Some(frame) = relay.poll_transmit() { exit.handle_frame(now, frame); }
//! }
//! let registered = relay.poll_outcome().unwrap().unwrap();
//! assert_eq!(registered.exit_id(), exit_id.id());
//! relay.accept(); // the relay's table took the exit
//! while let Some(frame) = relay.poll_transmit() { exit.handle_frame(now, frame); }
//! assert_eq!(exit.poll_outcome(), Some(Ok(())));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod admission;
pub mod certificate;
pub mod control;
pub mod descriptor;
pub mod envelope;
pub mod frame;
pub mod http_message;
pub mod hygiene;
pub mod identity;
pub mod keys;
pub mod liveness;
pub mod models;
pub mod padding;
pub mod path_policy;
pub mod per_ip;
pub mod publication;
pub mod refusal;
pub mod registration;
pub mod replay;
pub mod retry;
pub mod trust;

pub use frame::{Frame, FrameHeader, MessageType, WireError};
pub use refusal::Refusal;
