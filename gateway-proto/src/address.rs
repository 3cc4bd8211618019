//! What the trust and probing rules need to know of an IP address: whether it is local, and
//! which network it is counted in.

use std::net::IpAddr;

/// Loopback, private (RFC 1918, unique local) or link-local. IPv4-mapped IPv6 addresses count
/// as their IPv4 address.
#[must_use]
pub fn is_local(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || v6.is_unicast_link_local()
        }
    }
}

/// The network `ip` is counted in: its first `v4_octets` octets for IPv4 (2 for a /16), its
/// first `v6_octets` for IPv6 (4 for a /32).
#[must_use]
pub fn network(ip: IpAddr, v4_octets: usize, v6_octets: usize) -> Vec<u8> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets()[..v4_octets.min(4)].to_vec(),
        IpAddr::V6(v6) => v6.octets()[..v6_octets.min(16)].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn local_addresses_and_networks() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_local(ip(local)), "{local}");
        }
        for public in ["198.51.100.7", "2001:db8::1", "::ffff:198.51.100.7"] {
            assert!(!is_local(ip(public)), "{public}");
        }
        assert_eq!(network(ip("203.0.113.5"), 2, 4), [203, 0]);
        assert_eq!(network(ip("::ffff:203.0.113.5"), 3, 6), [203, 0, 113]);
        assert_eq!(
            network(ip("2001:db8:1:2::1"), 2, 6),
            [0x20, 0x01, 0x0d, 0xb8, 0, 1]
        );
    }
}
