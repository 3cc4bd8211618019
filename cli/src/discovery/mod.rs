//! Discovery through the private `tokengo` DHT: relays run server nodes and announce their
//! QUIC port under [`relay_key`]; clients and exits run read-only nodes, look the key up, and
//! measure the relays they find.

mod join;
mod probe;
mod relay_node;

pub use join::{JoinReport, find_relays, join};
pub use probe::{ProbeResult, probe_all};
pub use relay_node::{RelayDht, RelayDhtConfig};

use sha1::{Digest, Sha1};
use tokengo_core::Id;

/// The name whose SHA-1 is the key relays announce under.
pub const RELAY_KEY_NAME: &str = "/tokengo/relay/v1";
/// A relay's default DHT (UDP) port; QUIC has its own (4433).
pub const DEFAULT_DHT_PORT: u16 = 4003;

/// The DHT key relays announce under: SHA-1 of [`RELAY_KEY_NAME`].
pub fn relay_key() -> Id {
    let digest = Sha1::digest(RELAY_KEY_NAME.as_bytes());
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest);
    Id(id)
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
