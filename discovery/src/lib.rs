//! Discovery through the private `tokengo` DHT: relays run server nodes and announce their
//! QUIC port under [`relay_key`]; clients and exits run read-only nodes, look the key up, and
//! measure the relays they find.
//!
//! - [`bootstrap`]: where a node finds its first peers (built-in, `bootstrap.json`, config),
//!   merged, streamed as each source answers, de-duplicated;
//! - [`join`](mod@join): joining from those sources, and the one way clients, exits and devnet start a
//!   read-only node ([`join_read_only`]);
//! - [`relay_node`]: a relay's DHT node and its announcements;
//! - [`relay_source`]: relays looked up and probed concurrently, offered fastest first as a
//!   [`RelaySource`](tokengo_gateway::relay_source::RelaySource);
//! - [`client_flow`]: the zero-configuration client's start-up;
//! - [`state`]: a node's id and contacts kept between runs;
//! - with the `devnet` feature, [`devnet`]: a whole network on loopback.
//!
//! DHT settings and seeds come in as values ([`tokengo_core::Config`]); nothing here parses
//! arguments or draws the node's seed.
//!
//! # Finding relays as a client does
//!
//! ```no_run
//! use std::sync::Arc;
//! use tokengo_core::{Config, Network};
//! use tokengo_discovery::bootstrap::Sources;
//! use tokengo_discovery::progress::NoProgress;
//! use tokengo_discovery::{DhtRelays, join_read_only};
//! use tokengo_gateway::client::{ClientOptions, GatewayClient};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config { seed: 7, network: Network::tokengo(), ..Config::default() };
//! let sources = Sources::new(vec!["relay.example.org:4003".into()], true);
//! let dht = join_read_only("0.0.0.0:0".parse()?, config, sources, &NoProgress).await?;
//! let relays = Arc::new(DhtRelays::new(dht, Arc::new(NoProgress)));
//! let client = GatewayClient::new(relays, ClientOptions::default());
//! println!("exit {}", client.ready().await?);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bootstrap;
pub mod candidates;
pub mod client_flow;
#[cfg(feature = "devnet")]
pub mod devnet;
pub mod join;
pub mod probe;
pub mod progress;
pub mod relay_node;
pub mod relay_source;
pub mod state;

pub use join::{JoinReport, find_relays, join, join_read_only};
pub use probe::{ProbeResult, probe_all, probe_round};
pub use relay_node::{RelayDht, RelayDhtConfig};
pub use relay_source::DhtRelays;

use sha1::{Digest, Sha1};
use tokengo_core::Id;

/// The name whose SHA-1 is the key relays announce under.
pub const RELAY_KEY_NAME: &str = "/tokengo/relay/v1";
/// The private network's name, as written in state files.
pub const NETWORK_NAME: &str = "tokengo";
/// A relay's default DHT (UDP) port; QUIC has its own (4433).
pub const DEFAULT_DHT_PORT: u16 = 4003;

/// The DHT key relays announce under: SHA-1 of [`RELAY_KEY_NAME`].
pub fn relay_key() -> Id {
    let digest = Sha1::digest(RELAY_KEY_NAME.as_bytes());
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest);
    Id(id)
}

/// Why a discovery component could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The DHT node failed (could not bind, or stopped).
    #[error(transparent)]
    Dht(#[from] tokengo_tokio::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_key_is_sha1_of_the_name() {
        // sha1("/tokengo/relay/v1"), computed independently with `printf %s ... | sha1sum`.
        assert_eq!(
            relay_key().to_string(),
            "2bef14faf3737da5a97ce661bf66f72fda384a61"
        );
    }
}
