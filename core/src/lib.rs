//! A sans-IO BitTorrent Mainline DHT node (BEP 5, with BEP 43 read-only mode, BEP 44 storage,
//! BEP 51 sampling and private, tagged networks).
//!
//! The [`Node`] owns no socket, reads no clock, spawns no thread and draws no OS randomness:
//! its randomness is seeded from [`Config::secret_seed`] (or [`Config::seed`]), one keyed
//! stream per purpose, and every call that needs time takes `now`. The same seed and the same
//! inputs give the same outputs.
//!
//! # Drive loop
//!
//! ```
//! use std::time::Instant;
//! use tokengo_core::{Config, Node};
//!
//! let mut node = Node::new(Config::default(), Instant::now());
//! let _query = node.bootstrap(Instant::now(), &["127.0.0.1:4003".parse().unwrap()]);
//! // Loop: after every call that mutates the node, drain transmits and events.
//! while let Some(t) = node.poll_transmit() {
//!     // socket.send_to(&t.payload, t.to)
//!     let _ = t;
//! }
//! while let Some(event) = node.poll_event() {
//!     let _ = event; // PeerFound, LookupDone, Bootstrapped, ...
//! }
//! // Sleep until a datagram arrives (then `handle_input`) or until `poll_timeout` (then
//! // `handle_timeout`). `now` must never go backwards.
//! let _next = node.poll_timeout();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod event;
pub mod id;
pub mod item;
pub mod krpc;
mod lookup;
mod node;
mod peer_store;
mod rate_limit;
pub mod rng;
pub mod routing;
pub mod secure_id;
mod server;
mod server_items;
mod server_samples;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stats;
mod storage;
mod token;
mod transaction;

pub use config::{Config, Network};
pub use event::{Event, LookupKind, LookupStats, QueryId, Sample};
pub use id::{Id, InfoHash, NodeId};
pub use krpc::NodeInfo;
pub use node::{Node, Transmit};
pub use stats::Stats;
