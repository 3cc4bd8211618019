//! Options shared by the `tokengo dht` commands, their parsers, and the node configuration
//! they lead to.

use clap::{Args, ValueEnum};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::{Config, Id, Network, SecureIdPolicy};

/// The public routers used by `--network mainline` when no `--bootstrap` is given.
pub const MAINLINE_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// Which DHT to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkName {
    /// The private tokengo network (messages carry the `tokengo` tag).
    Tokengo,
    /// The public BitTorrent Mainline DHT.
    Mainline,
}

impl NetworkName {
    /// The name stored in state files and printed in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkName::Tokengo => "tokengo",
            NetworkName::Mainline => "mainline",
        }
    }

    fn network(self) -> Network {
        match self {
            NetworkName::Tokengo => Network::tokengo(),
            NetworkName::Mainline => Network::Mainline,
        }
    }
}

/// BEP 42: what a Mainline node's routing tables do with nodes whose id is not secure for the
/// address they answer from (local addresses are always exempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecureIds {
    /// Prefer secure nodes (the default, as libtorrent): a secure node that answered takes a
    /// non-secure node's place in a full bucket, never the other way round.
    Prefer,
    /// Keep secure nodes only (libtorrent's `enforce_node_id`).
    Enforce,
    /// Do not look at ids.
    Off,
}

impl SecureIds {
    /// The core's policy.
    pub fn policy(self) -> SecureIdPolicy {
        match self {
            SecureIds::Prefer => SecureIdPolicy::Prefer,
            SecureIds::Enforce => SecureIdPolicy::Enforce,
            SecureIds::Off => SecureIdPolicy::Off,
        }
    }
}

/// Options every `tokengo dht` command takes.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// A node to join the network through, as HOST:PORT (repeatable).
    #[arg(long = "bootstrap", value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub bootstrap: Vec<String>,
    /// Which DHT to use.
    #[arg(long, value_enum, default_value_t = NetworkName::Tokengo)]
    pub network: NetworkName,
}

impl NetworkArgs {
    /// The bootstrap targets: the given ones, or Mainline's public routers on Mainline.
    pub fn bootstrap_targets(&self) -> Vec<String> {
        if self.bootstrap.is_empty() && self.network == NetworkName::Mainline {
            MAINLINE_ROUTERS.iter().map(|r| r.to_string()).collect()
        } else {
            self.bootstrap.clone()
        }
    }
}

/// Parses `HOST:PORT` (a name or an IP; IPv6 in brackets) without resolving it.
pub fn parse_host_port(text: &str) -> Result<String, String> {
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(text.to_string());
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` is not HOST:PORT (no port)"))?;
    port.parse::<u16>()
        .map_err(|_| format!("`{text}` has an invalid port `{port}`"))?;
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid_host {
        return Err(format!("`{text}` has an invalid host `{host}`"));
    }
    Ok(text.to_string())
}

/// Parses an info hash or node id: exactly 40 hexadecimal characters.
pub fn parse_id(text: &str) -> Result<Id, String> {
    Id::from_hex(text)
        .ok_or_else(|| format!("`{text}` is not 40 hexadecimal characters (a 160-bit id)"))
}

/// Parses an Ed25519 public key: exactly 64 hexadecimal characters.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], String> {
    super::item_key::hex_bytes(text)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("`{text}` is not 64 hexadecimal characters (an Ed25519 public key)"))
}

/// Parses a whole number of seconds greater than zero.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "`{text}` is not a positive whole number of seconds"
        )),
    }
}

/// The node configuration for `network`, with a fresh seed. (Loopback test networks need no
/// special settings: the core exempts loopback from its per-IP bounds.)
pub fn node_config(network: NetworkName, read_only: bool) -> Config {
    Config {
        seed: fresh_seed(),
        network: network.network(),
        read_only,
        ..Config::default()
    }
}

/// A seed the OS randomised: std's `RandomState` keys come from the OS RNG.
fn fresh_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    hasher.write_u128(since_epoch.map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        for good in [
            "127.0.0.1:6881",
            "[::1]:6881",
            "router.bittorrent.com:6881",
            "a-b.c:1",
        ] {
            assert_eq!(parse_host_port(good).as_deref(), Ok(good));
        }
        for bad in [
            "127.0.0.1",
            "host:",
            "host:70000",
            ":6881",
            "a b:1",
            "[::1]",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn id_and_seconds_parsing() {
        assert_eq!(parse_id(&"ab".repeat(20)), Ok(Id([0xab; 20])));
        assert!(parse_id("abc").is_err());
        assert!(parse_id(&"zz".repeat(20)).is_err());
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        assert!(parse_seconds("0").is_err() && parse_seconds("x").is_err());
    }

    #[test]
    fn mainline_defaults_to_public_routers() {
        let args = NetworkArgs {
            bootstrap: Vec::new(),
            network: NetworkName::Mainline,
        };
        assert_eq!(args.bootstrap_targets().len(), 4);
        let args = NetworkArgs {
            bootstrap: Vec::new(),
            network: NetworkName::Tokengo,
        };
        assert!(args.bootstrap_targets().is_empty());
        let config = node_config(NetworkName::Mainline, true);
        assert_eq!(config.network, Network::Mainline);
        assert!(config.read_only);
        assert_ne!(node_config(NetworkName::Tokengo, false).seed, config.seed);
    }
}
