//! YAML configuration files for relay, exit and client, and the small parsers they share.
//!
//! Unknown keys are ignored, so the Go TokenGo's `configs/*.yaml` load (their DHT settings are
//! read by the discovery code, not here). Command-line flags override file values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokengo_discovery::bootstrap::BootstrapSettings;

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is invalid.
    #[error("{path}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value is invalid.
    #[error("invalid {what}: {value}")]
    Value {
        /// Which setting.
        what: &'static str,
        /// The offending value.
        value: String,
    },
}

/// The `dht` section shared by relay and exit files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DhtSection {
    /// The node's identity key file.
    pub private_key_file: Option<PathBuf>,
    /// Where the DHT node listens; the first entry counts (`HOST:PORT` or a multiaddr such as
    /// `/ip4/0.0.0.0/udp/4003`; the Go TokenGo's `/tcp/` forms give their port).
    pub listen_addrs: Vec<String>,
    /// Bootstrap peers, merged with the built-in ones and bootstrap.json.
    pub bootstrap_peers: Vec<String>,
    /// Use only `bootstrap_peers` (no built-in peers, no bootstrap.json).
    pub no_default_bootstrap: bool,
    /// Where bootstrap.json is fetched from.
    pub bootstrap_urls: Vec<String>,
    /// Keeps the node's id and contacts between runs (relays).
    pub state_file: Option<PathBuf>,
}

impl DhtSection {
    /// The section's bootstrap settings.
    pub fn bootstrap(&self) -> BootstrapSettings {
        BootstrapSettings {
            peers: self.bootstrap_peers.clone(),
            no_default: self.no_default_bootstrap,
            urls: self.bootstrap_urls.clone(),
        }
    }
}

/// A section whose keys are all commented out (`dht:` alone) reads as YAML null: treat it as
/// empty rather than refuse the file.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `configs/relay-dht.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RelayFile {
    /// QUIC listen address (`host:port`, or `:port` for all interfaces).
    pub listen: Option<String>,
    /// Identity key file behind the TLS certificate (falls back to `dht.private_key_file`).
    pub identity_key_file: Option<PathBuf>,
    /// Admit only exits admitted by one of these network authorities (hex ids).
    pub trust_authorities: Vec<String>,
    /// DHT settings.
    #[serde(deserialize_with = "null_as_default")]
    pub dht: DhtSection,
}

/// The `ai_backend` section of an exit file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackendSection {
    /// Backend base URL.
    pub url: Option<String>,
    /// Bearer credential.
    pub api_key: Option<String>,
    /// Headers set on every backend request (override `api_key`'s Authorization).
    #[serde(deserialize_with = "null_as_default")]
    pub headers: BTreeMap<String, String>,
    /// Time allowed for the backend's response head, e.g. `120s`.
    pub timeout: Option<String>,
}

/// `configs/exit-dht.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExitFile {
    /// Relay to register with, `host:port` (static addressing).
    pub relay: Option<String>,
    /// The relay's id (hex Ed25519 key) to pin.
    pub relay_id: Option<String>,
    /// OHTTP private key file.
    pub ohttp_private_key_file: Option<PathBuf>,
    /// Public key config file (defaults to `<private>.pub`).
    pub ohttp_public_key_file: Option<PathBuf>,
    /// The exit's Ed25519 identity file (created 0600 when missing).
    pub identity_key_file: Option<PathBuf>,
    /// Admission certificate files from network authorities.
    pub admissions: Vec<PathBuf>,
    /// How many relays to stay registered with at once.
    pub max_relays: Option<usize>,
    /// How often to replace the OHTTP key (`24h`; `0` never).
    pub rotate_every: Option<String>,
    /// Paths the backend may be called on (default: the AI API paths).
    pub allowed_paths: Vec<String>,
    /// How long streamed answer pieces are gathered into one sealed chunk (`20ms`).
    pub chunk_interval: Option<String>,
    /// The models the backend serves (instead of asking it).
    pub models: Vec<String>,
    /// The backend.
    #[serde(deserialize_with = "null_as_default")]
    pub ai_backend: BackendSection,
    /// DHT settings.
    #[serde(deserialize_with = "null_as_default")]
    pub dht: DhtSection,
}

/// `configs/client.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClientFile {
    /// Local proxy address.
    pub listen: Option<String>,
    /// Non-stream request timeout, e.g. `120s`.
    pub timeout: Option<String>,
    /// Relay, `host:port` (static addressing).
    pub relay: Option<String>,
    /// The relay's id to pin.
    pub relay_id: Option<String>,
    /// Use only the exit with this pubKeyHash.
    pub exit_pub_key_hash: Option<String>,
    /// Use only exits whose signed descriptor comes from one of these exit ids (hex).
    pub trusted_exits: Vec<String>,
    /// Use only exits admitted by these network authorities (hex ids).
    pub trust_authorities: Vec<String>,
    /// How many of them must admit an exit (default 1).
    pub authority_threshold: Option<usize>,
    /// With no exit or authority trusted, take any exit (tests only).
    pub insecure_any_exit: bool,
    /// Headers sealed although stripped by default.
    pub forward_headers: Vec<String>,
    /// Seal the app's Authorization and x-api-key.
    pub forward_credentials: bool,
    /// Browser origins allowed besides local pages.
    pub allowed_origins: Vec<String>,
    /// Bootstrap peers, merged with the built-in ones and bootstrap.json.
    pub bootstrap_peers: Vec<String>,
    /// Use only `bootstrap_peers` (no built-in peers, no bootstrap.json).
    pub no_default_bootstrap: bool,
    /// Where bootstrap.json is fetched from.
    pub bootstrap_urls: Vec<String>,
}

impl ClientFile {
    /// The file's bootstrap settings.
    pub fn bootstrap(&self) -> BootstrapSettings {
        BootstrapSettings {
            peers: self.bootstrap_peers.clone(),
            no_default: self.no_default_bootstrap,
            urls: self.bootstrap_urls.clone(),
        }
    }
}

/// Parses a DHT listen address: `HOST:PORT`, `:PORT`, or a multiaddr `/ip4/A/udp/P` (a
/// `/tcp/P` form from the Go TokenGo's configs gives the port too: the DHT is UDP here).
pub fn parse_dht_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let bad = || ConfigError::Value {
        what: "DHT listen address",
        value: text.to_string(),
    };
    let t = text.trim();
    if let Some(rest) = t.strip_prefix('/') {
        let parts: Vec<&str> = rest.split('/').collect();
        return match parts.as_slice() {
            [proto @ ("ip4" | "ip6"), ip, "udp" | "tcp", port, ..] => {
                let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
                if (*proto == "ip4") != ip.is_ipv4() {
                    return Err(bad());
                }
                Ok(SocketAddr::new(ip, port.parse().map_err(|_| bad())?))
            }
            _ => Err(bad()),
        };
    }
    parse_listen(t)
}

/// Reads a YAML file into `T`, ignoring unknown keys.
pub fn load<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses YAML text into `T`; an empty document gives the defaults.
pub fn parse<T: for<'de> Deserialize<'de> + Default>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Parses `30s`, `2m`, `1h`, `500ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let t = text.trim();
    let bad = || ConfigError::Value {
        what: "duration",
        value: text.to_string(),
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        "d" => Duration::from_secs(n.checked_mul(86_400).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok(d)
}

/// Parses a listen address; `:4433` means all IPv4 interfaces, as in the Go configs.
pub fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let t = text.trim();
    let full = if t.starts_with(':') {
        format!("0.0.0.0{t}")
    } else {
        t.to_string()
    };
    full.parse().map_err(|_| ConfigError::Value {
        what: "listen address",
        value: text.to_string(),
    })
}

/// Parses the local proxy's listen address: as [`parse_listen`], except that a bare `:PORT`
/// means loopback, not every interface (an open proxy to the exit's quota).
pub fn parse_local_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let t = text.trim();
    match t.strip_prefix(':') {
        Some(port) => parse_listen(&format!("127.0.0.1:{port}")),
        None => parse_listen(t),
    }
}

/// Parses `Name: value` (split at the first colon, both sides trimmed).
pub fn parse_header(text: &str) -> Result<(String, String), ConfigError> {
    let (k, v) = text.split_once(':').ok_or_else(|| ConfigError::Value {
        what: "header (expected Name:value)",
        value: text.to_string(),
    })?;
    let k = k.trim();
    if k.is_empty() {
        return Err(ConfigError::Value {
            what: "header name",
            value: text.to_string(),
        });
    }
    Ok((k.to_string(), v.trim().to_string()))
}
