//! A sans-IO BitTorrent Mainline DHT node (BEP 5, with BEP 32 IPv6, BEP 43 read-only mode,
//! BEP 44 storage, BEP 51 sampling and private, tagged networks).
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

//!
//! # Lookups
//!
//! A lookup keeps a window of the k closest live candidates (not failed, not past their short
//! timeout) and up to alpha requests in flight inside it; requests to nodes that have left the
//! window hold no slot. The short timeout follows the network: SRTT + 4 RTTVAR (RFC 6298) of
//! the node asked, as measured by the routing table, or else the 98th percentile of all
//! answers so far, clamped to [`Config::short_timeout_min`]..=[`Config::short_timeout`];
//! answers later than that bound are left out of both. Passing it frees the slot; only
//! the full timeout ([`Config::full_timeout`]) counts as a failure. Once the window's alpha
//! closest have answered, every candidate in it not yet asked is asked at once.
//!
//! When a lookup ends: find_node, bootstrap, refresh and announce lookups end when the whole
//! window has answered (an announce needs the tokens of the k closest). A get_peers lookup
//! reports each peer as it arrives ([`Event::PeerFound`]) and ends as soon as it holds peers and
//! 3 of the 4 closest of its window have answered. In the simulator (1,000 nodes, WAN round
//! trips, 5 % loss, 2 % late datagrams, 10 % dead) waiting for the whole window took a median
//! of about 1,060 ms, the closest 3 about 550 ms and the closest 1 about 360 ms, all finding
//! the peer as often; three answers are required so that no single node, which may lie about
//! being closest, ends a lookup alone, and counting them among the 4 closest keeps one lost
//! datagram from holding the lookup for a short timeout (about 440 ms; see
//! `docs/BENCHMARKS.md`).
//!
//! # Address families (BEP 32)
//!
//! [`Config::ipv4`] and [`Config::ipv6`] say which families the runtime has sockets for (IPv4
//! only by default). Datagrams of another family are dropped; an IPv4-mapped IPv6 source is
//! its IPv4 address, and a transmit to it goes to that IPv4 address. Each family has its own
//! routing table over the one id space. A node that speaks both asks for `nodes` and `nodes6`
//! (`want`) in its lookups, which keep one window per family, so an announce reaches the k
//! closest nodes of each; it answers with the families a query's `want` names (the querier's
//! own when it names none). Runtimes send each [`Transmit`] out of the socket of its `to`
//! address's family.

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
pub mod rtt;
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
mod vote;

pub use config::{Config, Network};
pub use event::{Event, LookupKind, LookupStats, QueryId, Sample};
pub use id::{Id, InfoHash, NodeId};
pub use krpc::NodeInfo;
pub use node::{Node, Transmit};
pub use secure_id::SecureIdPolicy;
pub use stats::Stats;
