//! The `tokengo` gateway: client proxy, relay, exit, and their discovery through the DHT.

pub mod bootstrap_peers;
pub mod crypto;
pub mod progress;
