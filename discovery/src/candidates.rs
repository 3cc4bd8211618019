//! Which addresses found in the DHT a client or exit may probe.
//!
//! Relay addresses come from whoever answers a DHT lookup, so probing them all would let any
//! responder aim our QUIC handshakes at any address: a traffic reflector, or a scanner of the
//! user's own network. So a round probes at most [`MAX_PROBED`] addresses, at most
//! [`MAX_PER_NETWORK`] from one IPv4 /24 or IPv6 /48, never unspecified, multicast or broadcast
//! addresses or port 0, and loopback, private or link-local ones only when the node's own
//! bootstrap peers are such (a devnet or a lab network), each address once.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use crate::bootstrap::{PeerSpec, Source, Sources, parse_peers};
pub use tokengo_gateway_proto::address::is_local;
use tokengo_gateway_proto::address::network;

/// Most addresses probed in one discovery round.
pub const MAX_PROBED: usize = 32;
/// Most addresses probed from one IPv4 /24 or IPv6 /48.
pub const MAX_PER_NETWORK: usize = 3;

/// Never a relay: an unspecified, multicast or broadcast address, or port 0.
fn unroutable(addr: SocketAddr) -> bool {
    let ip = addr.ip().to_canonical();
    addr.port() == 0
        || ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// The addresses of `found` to probe this round, in their order.
#[must_use]
pub fn to_probe(found: &[SocketAddr], allow_local: bool) -> Vec<SocketAddr> {
    let mut seen = HashSet::new();
    let mut per_network: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut out = Vec::new();
    for &addr in found {
        if out.len() >= MAX_PROBED {
            break;
        }
        if unroutable(addr) || (!allow_local && is_local(addr.ip())) || !seen.insert(addr) {
            continue;
        }
        let count = per_network.entry(network(addr.ip(), 3, 6)).or_default();
        if *count >= MAX_PER_NETWORK && !is_local(addr.ip()) {
            continue;
        }
        *count += 1;
        out.push(addr);
    }
    out
}

/// Whether every bootstrap source names a local address (configured peers only, no built-in
/// peers and no bootstrap URLs on public hosts): then relays on local addresses are expected.
#[must_use]
pub fn sources_are_local(sources: &Sources) -> bool {
    if sources.built_in {
        return false;
    }
    let urls_local = sources.remote_urls.iter().all(|url| {
        let Ok(url) = reqwest::Url::parse(url) else {
            return false;
        };
        let host = url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(is_local)
    });
    let peers = parse_peers(Source::Configured, &sources.configured);
    let peers_local = peers.iter().all(|p| match p {
        PeerSpec::Addr(a) => is_local(a.ip()),
        PeerSpec::Host(h, _) => h == "localhost",
    });
    urls_local && peers_local && !(peers.is_empty() && sources.remote_urls.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().expect("addr")).collect()
    }

    #[test]
    fn junk_and_local_addresses_are_not_probed_on_a_public_network() {
        let found = addrs(&[
            "0.0.0.0:4433",
            "224.0.0.1:4433",
            "255.255.255.255:4433",
            "198.51.100.7:0",
            "127.0.0.1:4433",
            "192.168.1.1:22",
            "10.0.0.8:4433",
            "[::1]:4433",
            "[fe80::1]:4433",
            "[ff02::1]:4433",
            "198.51.100.7:4433",
            "198.51.100.7:4433",
        ]);
        assert_eq!(to_probe(&found, false), addrs(&["198.51.100.7:4433"]));
        let on_a_lab = to_probe(&found, true);
        assert!(on_a_lab.contains(&"127.0.0.1:4433".parse().expect("a")));
        assert!(!on_a_lab.contains(&"0.0.0.0:4433".parse().expect("a")));
    }

    #[test]
    fn one_network_and_one_round_are_capped() {
        let same_24: Vec<SocketAddr> = (1..=10)
            .map(|i| format!("203.0.113.{i}:4433").parse().expect("a"))
            .collect();
        assert_eq!(to_probe(&same_24, false).len(), MAX_PER_NETWORK);
        let same_48: Vec<SocketAddr> = (1..=10)
            .map(|i| format!("[2001:db8:1:{i}::1]:4433").parse().expect("a"))
            .collect();
        assert_eq!(to_probe(&same_48, false).len(), MAX_PER_NETWORK);
        let many: Vec<SocketAddr> = (0..200u32)
            .map(|i| SocketAddr::from(([100, (i / 3) as u8, (i % 3) as u8, 1], 4433)))
            .collect();
        assert_eq!(to_probe(&many, false).len(), MAX_PROBED);
    }

    #[test]
    fn only_local_bootstrap_sources_allow_local_relays() {
        let local = Sources::new(
            vec!["127.0.0.1:4003".into(), "/ip4/10.0.0.2/udp/4003".into()],
            true,
        );
        assert!(sources_are_local(&local));
        let mut url = Sources::new(vec![], true);
        url.remote_urls = vec!["http://127.0.0.1:8000/bootstrap.json".into()];
        assert!(sources_are_local(&url));
        assert!(!sources_are_local(&Sources::new(
            vec!["127.0.0.1:4003".into()],
            false
        )));
        assert!(!sources_are_local(&Sources::new(
            vec!["127.0.0.1:4003".into(), "198.51.100.7:4003".into()],
            true
        )));
        assert!(!sources_are_local(&Sources::new(
            vec!["dht.example.org:4003".into()],
            true
        )));
        let mut public_url = Sources::new(vec![], true);
        public_url.remote_urls = vec!["https://example.org/bootstrap.json".into()];
        assert!(!sources_are_local(&public_url));
        assert!(!sources_are_local(&Sources::new(vec![], true)));
    }
}
