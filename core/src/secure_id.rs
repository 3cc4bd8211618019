//! BEP 42 secure node ids: the first 21 bits of an id derive from the node's external address
//! (CRC-32C of the masked IPv4 address, or of the masked upper half of the IPv6 address, with 3
//! random bits), so that one host cannot choose where in the keyspace it sits.

use crate::id::Id;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the routing table does with nodes whose id is not secure for their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecureIdPolicy {
    /// Ids are not looked at.
    Off,
    /// Secure nodes are preferred (libtorrent's default): in a full bucket a verified secure
    /// node takes the place of a non-secure one, a non-secure node never takes the place of
    /// a secure one that is not bad, and replacement caches keep secure nodes first.
    #[default]
    Prefer,
    /// Only secure nodes enter the table (libtorrent's `enforce_node_id`).
    Enforce,
}

/// Whether the node `id` at `addr` passes BEP 42 (exempt addresses always pass).
pub fn is_secure_node(id: &Id, addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => is_secure(id, ip),
        IpAddr::V6(ip) => is_secure_v6(id, ip),
    }
}

/// CRC-32C (Castagnoli), bit by bit: it only ever hashes 4 bytes here.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The CRC of `ip` under BEP 42's mask with the 3 random bits `r`.
fn ip_crc(ip: Ipv4Addr, r: u8) -> u32 {
    let masked = u32::from(ip) & 0x030f_3fff | (u32::from(r & 7) << 29);
    crc32c(&masked.to_be_bytes())
}

/// The CRC of the upper 64 bits of `ip` under BEP 42's IPv6 mask with the 3 random bits `r`.
fn ip6_crc(ip: Ipv6Addr, r: u8) -> u32 {
    let [a, b, c, d, e, f, g, h, ..] = ip.octets();
    let high = u64::from_be_bytes([a, b, c, d, e, f, g, h]);
    let masked = high & 0x0103_070f_1f3f_7fff | (u64::from(r & 7) << 61);
    crc32c(&masked.to_be_bytes())
}

/// Whether the first 21 bits of `id` are those of `crc`.
fn has_prefix(id: &Id, crc: u32) -> bool {
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && id.0[2] & 0xf8 == (crc >> 8) as u8 & 0xf8
}

/// `random` with its first 21 bits replaced by those of `crc`.
fn with_prefix(crc: u32, random: [u8; 20]) -> Id {
    let mut id = random;
    id[0] = (crc >> 24) as u8;
    id[1] = (crc >> 16) as u8;
    id[2] = ((crc >> 8) as u8 & 0xf8) | (random[2] & 0x07);
    Id(id)
}

/// Whether BEP 42 exempts the IPv6 address `ip` (loopback, unique local and link-local
/// networks, where ids cannot be checked).
pub fn is_exempt_v6(ip: Ipv6Addr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || ip.is_unique_local() || ip.is_unicast_link_local()
}

/// A secure id for the IPv6 address `ip`, as [`secure_id`] makes one for IPv4.
pub fn secure_id_v6(ip: Ipv6Addr, random: [u8; 20]) -> Id {
    with_prefix(ip6_crc(ip, random[19]), random)
}

/// Whether `id` is a secure id for the IPv6 address `ip` (exempt addresses always pass).
pub fn is_secure_v6(id: &Id, ip: Ipv6Addr) -> bool {
    is_exempt_v6(ip) || has_prefix(id, ip6_crc(ip, id.0[19]))
}

/// Whether BEP 42 exempts `ip` (local networks, where ids cannot be checked).
pub fn is_exempt(ip: Ipv4Addr) -> bool {
    ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified()
}

/// A secure id for `ip`: `random` supplies the 17 free bytes and bits (its last byte chooses
/// the CRC's 3 random bits, as BEP 42 does).
pub fn secure_id(ip: Ipv4Addr, random: [u8; 20]) -> Id {
    with_prefix(ip_crc(ip, random[19]), random)
}

/// Whether `id` is a secure id for `ip` (exempt addresses always pass).
pub fn is_secure(id: &Id, ip: Ipv4Addr) -> bool {
    is_exempt(ip) || has_prefix(id, ip_crc(ip, id.0[19]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BEP 42's table: IP, the id's last byte, and the id's first three bytes (the third
    /// byte's low 3 bits are free).
    const VECTORS: [([u8; 4], u8, [u8; 3]); 5] = [
        ([124, 31, 75, 21], 0x01, [0x5f, 0xbf, 0xbf]),
        ([21, 75, 31, 124], 0x56, [0x5a, 0x3c, 0xe9]),
        ([65, 23, 51, 170], 0x16, [0xa5, 0xd4, 0x32]),
        ([84, 124, 73, 14], 0x41, [0x1b, 0x03, 0x21]),
        ([43, 213, 53, 83], 0x5a, [0xe5, 0x6f, 0x6c]),
    ];

    #[test]
    fn bep42_test_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        for (ip, last, prefix) in VECTORS {
            let ip = Ipv4Addr::from(ip);
            let mut random = [0x33u8; 20];
            random[19] = last;
            random[2] = prefix[2] & 7;
            let id = secure_id(ip, random);
            assert_eq!(&id.0[..3], &prefix, "{ip}");
            assert!(is_secure(&id, ip), "{ip}");
            let mut other = id;
            other.0[1] ^= 0x10;
            assert!(!is_secure(&other, ip), "{ip}");
            assert!(!is_secure(&id, Ipv4Addr::new(1, 2, 3, 4)), "{ip}");
        }
        assert!(is_secure(&Id([0; 20]), Ipv4Addr::new(192, 168, 1, 2)));
        assert!(is_secure(&Id([0; 20]), Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn ipv6_ids_derive_from_the_masked_upper_half() {
        let ip: Ipv6Addr = "2001:db8:85a3:8d3:1319:8a2e:370:7348".parse().unwrap();
        let mut random = [0x5au8; 20];
        random[19] = 0x03;
        let id = secure_id_v6(ip, random);
        // By hand: the upper half 20 01 0d b8 85 a3 08 d3 masked with 0x0103070f1f3f7fff is
        // 00 01 05 08 05 23 08 d3; r = 3 sets the top 3 bits of the first byte: 0x60.
        let crc = crc32c(&[0x60, 0x01, 0x05, 0x08, 0x05, 0x23, 0x08, 0xd3]);
        assert_eq!(id.0[..2], [(crc >> 24) as u8, (crc >> 16) as u8]);
        assert_eq!(id.0[2] & 0xf8, (crc >> 8) as u8 & 0xf8);
        assert_eq!(id.0[2] & 0x07, random[2] & 0x07);
        assert!(is_secure_v6(&id, ip));
        assert!(is_secure_node(&id, &SocketAddr::new(IpAddr::V6(ip), 6881)));
        // The lower half and the masked-out bits do not matter; the kept bits do.
        let lower: Ipv6Addr = "2001:db8:85a3:8d3::1".parse().unwrap();
        assert!(is_secure_v6(&id, lower));
        let masked_out: Ipv6Addr = "2201:db8:85a3:8d3::1".parse().unwrap();
        assert!(is_secure_v6(&id, masked_out));
        let other: Ipv6Addr = "2001:db9:85a3:8d3::1".parse().unwrap();
        assert!(!is_secure_v6(&id, other));
        let mut flipped = id;
        flipped.0[0] ^= 0x01;
        assert!(!is_secure_v6(&flipped, ip));
        for local in ["::1", "fd00::7", "fe80::1"] {
            assert!(
                is_secure_v6(&Id([0; 20]), local.parse().unwrap()),
                "{local}"
            );
        }
    }
}
