//! The `tokengo` command line: the gateway and `tokengo dht`.

pub mod dht;
