//! The `tokengo` command line: the gateway (client proxy, relay, exit), discovery through the
//! DHT, and `tokengo dht`.

pub mod bootstrap_peers;
pub mod crypto;
pub mod dht;
pub mod discovery;
pub mod progress;
