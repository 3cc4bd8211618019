//! What the runtime adapters of the tokengo DHT share: everything between a `Dht` handle and
//! the [`Node`](tokengo_core::Node) that does not depend on how the adapter waits.
//!
//! An adapter owns the socket and a loop (a tokio task, a mio thread) that moves datagrams and
//! deadlines between the socket and the node. Its handles send the loop a [`Command`]; the
//! loop passes it to [`Callers::apply`], which starts the node's query and remembers who waits
//! for it, and passes every node event to [`Callers::route`], which answers that caller. The
//! adapter names its reply and update channels once, in an implementation of [`Channels`].
//!
//! Like the core, nothing here does IO, reads a clock or depends on a runtime, except [`os`]:
//! binding the node's socket and drawing its seed, which both adapters ask of the OS alike.

#![warn(missing_docs)]

mod callers;
mod channels;
mod command;
mod config;
mod error;
mod lookup;
pub mod os;
mod report;
mod resolve;

pub use callers::{Callers, MAX_PEERS_PER_LOOKUP, MAX_PENDING};
pub use channels::Channels;
pub use command::{Command, ItemRequest};
pub use config::{check_listen, with_bound_addrs};
pub use error::Error;
pub use lookup::{LookupProgress, LookupUpdate, PeerLookupReport};
pub use report::{AnnounceReport, FindNodeReport, GetReport, PutReport, Snapshot};
pub use resolve::{push_ipv4, push_spoken, require_bootstrap_addrs};
