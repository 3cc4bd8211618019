//! Runs the sans-IO [`tokengo_core::Node`] on tokio.
//!
//! One task owns the node and its `UdpSocket`; a cloneable [`Dht`] handle sends it commands
//! over a bounded channel and awaits their results. Deadlines go through `tokio::time`;
//! hostnames are resolved by the handle (asynchronously, outside the task) before a command
//! reaches the node, so no command ever blocks the loop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tokengo_tokio::Error> {
//! use tokengo_core::{Config, Id};
//! use tokengo_tokio::Dht;
//!
//! let dht = Dht::bind("127.0.0.1:0".parse().unwrap(), Config::default()).await?;
//! let table_size = dht.bootstrap(&["127.0.0.1:4003".to_string()]).await?;
//! let mut lookup = dht.get_peers(Id([7; 20])).await?;
//! while let Some(peer) = lookup.next_peer().await {
//!     println!("{peer}");
//! }
//! let report = lookup.finish().await?;
//! let snapshot = dht.shutdown().await?;
//! # let _ = (table_size, report, snapshot);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod channels;
mod driver;
mod handle;
mod lookup;
mod resolve;

pub use handle::Dht;
pub use lookup::PeerLookup;
pub use resolve::{resolve, resolve_ipv4};
pub use tokengo_core::Sample;
pub use tokengo_runtime_support::{
    AnnounceReport, Error, FindNodeReport, GetReport, ItemRequest, MAX_PENDING, PeerLookupReport,
    PutReport, Snapshot,
};
