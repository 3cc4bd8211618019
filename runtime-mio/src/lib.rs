//! Runs the sans-IO [`tokengo_core::Node`] in a hand-rolled mio poll loop, behind a blocking
//! API.
//!
//! A thread owns the node, the socket and a `mio::Poll`. A cloneable [`Dht`] handle sends it
//! commands over a channel and wakes it with a `mio::Waker`. Readiness is edge-triggered, so
//! the loop reads until `WouldBlock`; datagrams the socket cannot take yet wait in a bounded
//! outbound queue, and the socket is registered for WRITABLE only while that queue is not
//! empty. mio has no timers: the poll timeout is the node's next deadline.
//!
//! ```no_run
//! use tokengo_core::{Config, Id};
//! use tokengo_mio::Dht;
//!
//! let dht = Dht::bind("127.0.0.1:0".parse().unwrap(), Config::default())?;
//! let table_size = dht.bootstrap(&["127.0.0.1:4003".to_string()])?;
//! let mut lookup = dht.get_peers(Id([7; 20]))?;
//! for peer in lookup.by_ref() {
//!     println!("{peer}");
//! }
//! let report = lookup.finish()?;
//! let snapshot = dht.shutdown()?;
//! # let _ = (table_size, report, snapshot);
//! # Ok::<(), tokengo_mio::Error>(())
//! ```

#![warn(missing_docs)]

mod channels;
mod driver;
mod handle;
mod lookup;
mod outbound;

pub use handle::{Dht, resolve, resolve_ipv4};
pub use lookup::PeerLookup;
pub use tokengo_core::Sample;
pub use tokengo_runtime_support::{
    AnnounceReport, Error, FindNodeReport, GetReport, ItemRequest, MAX_PENDING, PeerLookupReport,
    PutReport, Snapshot,
};
