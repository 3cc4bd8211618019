//! Where a node finds its first DHT peers: the built-in defaults, the `bootstrap.json` list
//! fetched over HTTPS, and the peers the user configured. The three sources resolve
//! concurrently and report as each one finishes, so a slow remote fetch never holds up the
//! peers that are already known.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;

/// Peers compiled into the binary.
pub const DEFAULT_PEERS: &[&str] = &["43.156.60.67:4003"];

/// Where `bootstrap.json` is published, in order of preference.
pub const BOOTSTRAP_JSON_URLS: &[&str] = &[
    "https://raw.githubusercontent.com/binn-yang/TokenGo/master/bootstrap.json",
    "https://cdn.jsdelivr.net/gh/binn-yang/TokenGo@master/bootstrap.json",
];

/// Time allowed for one fetch of `bootstrap.json`.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for all sources together.
pub const OVERALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Largest `bootstrap.json` accepted.
const MAX_JSON_BYTES: usize = 64 * 1024;
/// Most peers taken from one source.
const MAX_PEERS_PER_SOURCE: usize = 256;

/// A bootstrap peer as written by a user or in `bootstrap.json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerSpec {
    /// An IP address and UDP port.
    Addr(SocketAddr),
    /// A host name to resolve, and a UDP port.
    Host(String, u16),
}

/// Why a peer string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad bootstrap peer {input:?}: {reason} (expected HOST:PORT, /ip4/A/udp/P, /ip6/A/udp/P or /dns4/NAME/udp/P, optionally followed by /p2p/ID)"
)]
pub struct PeerParseError {
    /// The string given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for PeerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerSpec::Addr(addr) => write!(f, "{addr}"),
            PeerSpec::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

impl std::str::FromStr for PeerSpec {
    type Err = PeerParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| PeerParseError {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(err("empty"));
        }
        if text.starts_with('/') {
            return parse_multiaddr(text).map_err(err);
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return check_port(addr.port())
                .map(|_| PeerSpec::Addr(addr))
                .map_err(err);
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(|| err("missing :PORT"))?;
        host_port(host, parse_port(port).map_err(err)?).map_err(err)
    }
}

fn check_port(port: u16) -> Result<(), &'static str> {
    if port == 0 { Err("port 0") } else { Ok(()) }
}

/// A port in decimal digits only (`u16::from_str` would also take `+2`), not 0.
fn parse_port(text: &str) -> Result<u16, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad port");
    }
    let port = text.parse().map_err(|_| "bad port")?;
    check_port(port)?;
    Ok(port)
}

/// A named host, or the address itself when the name is an IPv4 literal, so that a peer
/// has one form however it was written.
fn host_port(host: &str, port: u16) -> Result<PeerSpec, &'static str> {
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok(PeerSpec::Addr(SocketAddr::new(IpAddr::V4(ip), port)));
    }
    if !valid_hostname(host) {
        return Err("bad host name");
    }
    Ok(PeerSpec::Host(host.to_ascii_lowercase(), port))
}

fn valid_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn parse_multiaddr(text: &str) -> Result<PeerSpec, &'static str> {
    let parts: Vec<&str> = text.split('/').skip(1).collect();
    let (proto, host, transport, port, rest) = match parts.as_slice() {
        [proto, host, transport, port, rest @ ..] => (*proto, *host, *transport, *port, rest),
        _ => return Err("incomplete multiaddr"),
    };
    match rest {
        [] => {}
        ["p2p", id] if !id.is_empty() => {}
        _ => return Err("unexpected trailing components"),
    }
    if transport != "udp" {
        return Err("the DHT runs over udp");
    }
    let port = parse_port(port)?;
    match proto {
        "ip4" => {
            let ip: std::net::Ipv4Addr = host.parse().map_err(|_| "bad IPv4 address")?;
            Ok(PeerSpec::Addr(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        "ip6" => {
            let ip: std::net::Ipv6Addr = host.parse().map_err(|_| "bad IPv6 address")?;
            Ok(PeerSpec::Addr(SocketAddr::new(IpAddr::V6(ip), port)))
        }
        "dns4" | "dns" => host_port(host, port),
        _ => Err("unknown address protocol"),
    }
}

/// Parses a list of peer strings; bad entries are logged and skipped.
pub fn parse_peers(source: Source, inputs: &[String]) -> Vec<PeerSpec> {
    let mut out = Vec::new();
    for input in inputs {
        match input.parse::<PeerSpec>() {
            Ok(peer) => out.push(peer),
            Err(e) => tracing::warn!(source = %source, "{e}"),
        }
    }
    out
}

/// The schema of `bootstrap.json`.
#[derive(Debug, Deserialize)]
struct BootstrapJson {
    version: u32,
    #[serde(default)]
    peers: Vec<String>,
}

/// Why a `bootstrap.json` was refused.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The HTTP request failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("server answered {0}")]
    Status(reqwest::StatusCode),
    /// The body is too large.
    #[error("larger than {MAX_JSON_BYTES} bytes")]
    TooLarge,
    /// The body is not the expected JSON.
    #[error("not a bootstrap list: {0}")]
    Json(#[from] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("not a bootstrap list: not a JSON object")]
    NotAnObject,
    /// A list version this build does not read.
    #[error("unsupported version {0} (expected 1)")]
    Version(u32),
    /// The fetch took too long.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// Parses the body of a `bootstrap.json`.
pub fn parse_bootstrap_json(body: &[u8]) -> Result<Vec<String>, FetchError> {
    // Through a Value: the schema is an object, while serde would also read a struct from an
    // array (`[1]`).
    let value: serde_json::Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(FetchError::NotAnObject);
    }
    let list: BootstrapJson = serde_json::from_value(value)?;
    if list.version != 1 {
        return Err(FetchError::Version(list.version));
    }
    Ok(list.peers)
}

/// Fetches and parses one `bootstrap.json`.
pub async fn fetch_bootstrap_json(
    client: &reqwest::Client,
    url: &str,
) -> Result<Vec<String>, FetchError> {
    let fetch = async {
        let mut response = client.get(url).send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JSON_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_bootstrap_json(&body)
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| FetchError::Timeout(FETCH_TIMEOUT))?
}

/// Which source a batch of peers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The peers compiled in.
    BuiltIn,
    /// A fetched `bootstrap.json`.
    Remote,
    /// The command line and config file.
    Configured,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::BuiltIn => "built-in",
            Source::Remote => "bootstrap.json",
            Source::Configured => "configured",
        })
    }
}

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Use [`DEFAULT_PEERS`].
    pub built_in: bool,
    /// `bootstrap.json` URLs, tried in order until one answers.
    pub remote_urls: Vec<String>,
    /// Peers from the config file and `--bootstrap-peer` flags.
    pub configured: Vec<String>,
}

impl Sources {
    /// The defaults plus `configured`; with `no_default`, only `configured`.
    pub fn new(configured: Vec<String>, no_default: bool) -> Self {
        Sources {
            built_in: !no_default,
            remote_urls: if no_default {
                Vec::new()
            } else {
                BOOTSTRAP_JSON_URLS.iter().map(|s| s.to_string()).collect()
            },
            configured,
        }
    }
}

/// One side's bootstrap settings (the command line's, or a config file's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapSettings {
    /// Peers given (`--bootstrap-peer`, `bootstrap_peers`).
    pub peers: Vec<String>,
    /// No built-in peers, no published bootstrap.json.
    pub no_default: bool,
    /// Where to fetch bootstrap.json instead of the published URLs.
    pub urls: Vec<String>,
}

impl Sources {
    /// The sources of the command line's `flags` and a config `file` together: peers from
    /// both; the defaults unless either side turned them off; URLs from the flags, else the
    /// file, else the published ones. An explicit URL is fetched even with the defaults off:
    /// it was asked for.
    pub fn merge(flags: &BootstrapSettings, file: &BootstrapSettings) -> Sources {
        let mut configured = flags.peers.clone();
        configured.extend(file.peers.iter().cloned());
        let no_default = flags.no_default || file.no_default;
        let explicit = if !flags.urls.is_empty() {
            Some(flags.urls.clone())
        } else if !file.urls.is_empty() {
            Some(file.urls.clone())
        } else {
            None
        };
        let remote_urls = match explicit {
            Some(urls) => urls,
            None if no_default => Vec::new(),
            None => BOOTSTRAP_JSON_URLS.iter().map(|u| u.to_string()).collect(),
        };
        Sources {
            built_in: !no_default,
            remote_urls,
            configured,
        }
    }
}

/// Peers from one source, resolved to addresses (new ones only: every address is reported once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Where they came from.
    pub source: Source,
    /// The addresses not reported before.
    pub addrs: Vec<SocketAddr>,
}

/// Resolves every source concurrently and sends each source's new addresses as soon as that
/// source is done. The channel closes when all sources finished or [`OVERALL_TIMEOUT`] passed.
/// Failures are logged; none is fatal.
pub fn resolve(sources: Sources, client: Option<reqwest::Client>) -> mpsc::Receiver<Batch> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let _ = tokio::time::timeout(OVERALL_TIMEOUT, resolve_all(sources, client, tx)).await;
    });
    rx
}

async fn resolve_all(sources: Sources, client: Option<reqwest::Client>, tx: mpsc::Sender<Batch>) {
    let (raw_tx, mut raw_rx) = mpsc::channel::<(Source, Vec<SocketAddr>)>(8);
    let mut tasks = tokio::task::JoinSet::new();
    if !sources.configured.is_empty() {
        let specs = parse_peers(Source::Configured, &sources.configured);
        let raw_tx = raw_tx.clone();
        tasks.spawn(async move {
            let _ = raw_tx
                .send((Source::Configured, resolve_specs(&specs).await))
                .await;
        });
    }
    if sources.built_in {
        let inputs: Vec<String> = DEFAULT_PEERS.iter().map(|s| s.to_string()).collect();
        let specs = parse_peers(Source::BuiltIn, &inputs);
        let raw_tx = raw_tx.clone();
        tasks.spawn(async move {
            let _ = raw_tx
                .send((Source::BuiltIn, resolve_specs(&specs).await))
                .await;
        });
    }
    if !sources.remote_urls.is_empty() {
        let raw_tx = raw_tx.clone();
        let urls = sources.remote_urls.clone();
        tasks.spawn(async move {
            let client = match client.map(Ok).unwrap_or_else(http_client) {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!("bootstrap.json: cannot build an HTTP client: {e}");
                    return;
                }
            };
            for url in &urls {
                match fetch_bootstrap_json(&client, url).await {
                    Ok(peers) => {
                        let mut peers = parse_peers(Source::Remote, &peers);
                        peers.truncate(MAX_PEERS_PER_SOURCE);
                        tracing::info!("bootstrap.json from {url}: {} peers", peers.len());
                        let _ = raw_tx
                            .send((Source::Remote, resolve_specs(&peers).await))
                            .await;
                        return;
                    }
                    Err(e) => tracing::warn!("bootstrap.json from {url}: {e}"),
                }
            }
        });
    }
    drop(raw_tx);
    let mut seen = BTreeSet::new();
    while let Some((source, addrs)) = raw_rx.recv().await {
        let fresh: Vec<SocketAddr> = addrs.into_iter().filter(|a| seen.insert(*a)).collect();
        if tx
            .send(Batch {
                source,
                addrs: fresh,
            })
            .await
            .is_err()
        {
            break;
        }
    }
}

/// Resolves host names concurrently; a name that does not resolve is logged and skipped.
pub async fn resolve_specs(specs: &[PeerSpec]) -> Vec<SocketAddr> {
    let lookups = specs
        .iter()
        .take(MAX_PEERS_PER_SOURCE)
        .map(|spec| async move {
            match spec {
                PeerSpec::Addr(addr) => vec![*addr],
                PeerSpec::Host(host, port) => {
                    match tokio::net::lookup_host((host.as_str(), *port)).await {
                        Ok(addrs) => addrs.filter(SocketAddr::is_ipv4).take(4).collect(),
                        Err(e) => {
                            tracing::warn!("bootstrap peer {spec}: {e}");
                            Vec::new()
                        }
                    }
                }
            }
        });
    let mut out = Vec::new();
    for addrs in futures_util::future::join_all(lookups).await {
        for addr in addrs {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    out
}

/// An HTTPS client for the bootstrap list (ring as the TLS provider).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    tokengo_gateway::transport::install_crypto_provider();
    reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_file_merge() {
        let none = BootstrapSettings::default();
        let flags = BootstrapSettings {
            peers: vec!["1.2.3.4:4003".into()],
            ..Default::default()
        };
        let file = BootstrapSettings {
            peers: vec!["5.6.7.8:4003".into()],
            ..Default::default()
        };
        let s = Sources::merge(&flags, &file);
        assert_eq!(s.configured, vec!["1.2.3.4:4003", "5.6.7.8:4003"]);
        assert!(s.built_in);
        assert_eq!(s.remote_urls.len(), BOOTSTRAP_JSON_URLS.len());

        let off = BootstrapSettings {
            no_default: true,
            ..Default::default()
        };
        let s = Sources::merge(&off, &none);
        assert!(!s.built_in && s.remote_urls.is_empty());
        let s = Sources::merge(&none, &off);
        assert!(!s.built_in && s.remote_urls.is_empty());

        let local = BootstrapSettings {
            no_default: true,
            urls: vec!["http://127.0.0.1:9/bootstrap.json".into()],
            ..Default::default()
        };
        let s = Sources::merge(&local, &none);
        assert!(!s.built_in);
        assert_eq!(s.remote_urls, vec!["http://127.0.0.1:9/bootstrap.json"]);
    }

    #[test]
    fn peer_forms() {
        let ok = |s: &str| s.parse::<PeerSpec>().unwrap().to_string();
        assert_eq!(ok("1.2.3.4:4003"), "1.2.3.4:4003");
        assert_eq!(ok("/ip4/1.2.3.4/udp/4003"), "1.2.3.4:4003");
        assert_eq!(ok("/ip4/1.2.3.4/udp/4003/p2p/12D3KooWabc"), "1.2.3.4:4003");
        assert_eq!(ok("/ip6/::1/udp/4003"), "[::1]:4003");
        assert_eq!(
            ok("/dns4/Relay.Example.com/udp/4003"),
            "relay.example.com:4003"
        );
        assert_eq!(ok("relay.example.com:4003"), "relay.example.com:4003");
        assert_eq!(ok("[::1]:9"), "[::1]:9");
        // An IPv4 literal written as a name is the address itself.
        assert_eq!(
            "/dns4/1.2.3.4/udp/9".parse::<PeerSpec>().unwrap(),
            PeerSpec::Addr("1.2.3.4:9".parse().unwrap())
        );
        for bad in [
            "",
            "1.2.3.4",
            "1.2.3.4:0",
            "1.2.3.4:99999",
            "1.2.3.4:+2",
            "host:+2",
            "/ip4/1.2.3.4/udp/+2",
            "/ip4/1.2.3.4/tcp/4003",
            "/ip4/1.2.3.4/udp",
            "/ip4/999.2.3.4/udp/4003",
            "/ip4/1.2.3.4/udp/4003/p2p",
            "/ip4/1.2.3.4/udp/4003/quic",
            "/onion3/abc/udp/1",
            "bad host:80",
            "-x.example:80",
        ] {
            assert!(bad.parse::<PeerSpec>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bootstrap_json_schema() {
        let peers = parse_bootstrap_json(br#"{"version":1,"peers":["1.2.3.4:4003"],"extra":true}"#)
            .unwrap();
        assert_eq!(peers, vec!["1.2.3.4:4003"]);
        assert!(matches!(
            parse_bootstrap_json(br#"{"version":2,"peers":[]}"#),
            Err(FetchError::Version(2))
        ));
        assert!(matches!(
            parse_bootstrap_json(b"<html>"),
            Err(FetchError::Json(_))
        ));
        assert!(
            parse_bootstrap_json(br#"{"peers":[]}"#).is_err(),
            "version is required"
        );
        assert!(matches!(
            parse_bootstrap_json(b"[1]"),
            Err(FetchError::NotAnObject)
        ));
    }

    #[tokio::test]
    async fn configured_peers_arrive_without_waiting_for_a_dead_remote() {
        // A listener that accepts and never answers: the remote fetch hangs until its timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/bootstrap.json", silent.local_addr().unwrap());
        let sources = Sources {
            built_in: false,
            remote_urls: vec![url],
            configured: vec![
                "127.0.0.1:4003".into(),
                "/ip4/127.0.0.1/udp/4003".into(),
                "nonsense".into(),
            ],
        };
        let mut rx = resolve(sources, None);
        let first = rx.recv().await.unwrap();
        assert_eq!(
            first,
            Batch {
                source: Source::Configured,
                addrs: vec!["127.0.0.1:4003".parse().unwrap()]
            }
        );
        drop(silent);
    }
}
