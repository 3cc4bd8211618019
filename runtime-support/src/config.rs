//! The configuration a node gets once its adapter has bound the socket.

use std::net::SocketAddr;
use tokengo_core::Config;

/// Tells the node the address it is bound to, unless the caller configured one.
pub fn with_bound_addr(mut config: Config, local_addr: SocketAddr) -> Config {
    if let (None, SocketAddr::V4(bound)) = (config.external_addr, local_addr) {
        config.external_addr = Some(bound);
    }
    config
}
