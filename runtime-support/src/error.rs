//! Errors of the runtime adapters.

use std::io;
use std::net::SocketAddr;

/// Why a `Dht` operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the UDP socket or setting up the node's loop failed.
    #[error("cannot start the DHT node on {addr}: {source}")]
    Bind {
        /// The address the node was to listen on.
        addr: SocketAddr,
        /// The underlying IO error.
        source: io::Error,
    },
    /// The addresses to listen on were not one or two of different families.
    #[error("listen on one address per family (IPv4, IPv6), at least one; given: {given}")]
    Listen {
        /// The addresses given.
        given: String,
    },
    /// No bootstrap address could be resolved to a socket address of a family the node has
    /// a socket for.
    #[error("no usable bootstrap address (tried: {tried})")]
    NoBootstrapAddress {
        /// The bootstrap addresses given, as written, comma-separated.
        tried: String,
    },
    /// The node's loop has stopped (shut down, or it failed).
    #[error("the DHT node has stopped")]
    Stopped,
    /// A BEP 44 item or request was not valid (a salt over 64 bytes, for example).
    #[error("invalid item: {0}")]
    Item(#[from] tokengo_core::item::ItemError),
    /// Too many commands are waiting for the node; try again later.
    #[error("too many DHT commands in flight (limit {limit})")]
    Busy {
        /// Most commands that may wait for the node at once.
        limit: usize,
    },
}
