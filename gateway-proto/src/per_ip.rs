//! Connections per source address, so that one host cannot take every connection slot.
//!
//! An IPv6 host usually holds a whole /64 (and picks new addresses in it at will), so IPv6
//! sources are counted per /64 ([`source_key`]); IPv4 sources, and IPv4-mapped IPv6 ones, per
//! address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts the connections of each source address and refuses those beyond `max`.
///
/// An entry lives only while one of its [`IpSlot`]s does, and slots are taken only under the
/// relay's global connection limit, so the table never holds more entries than that limit.
#[derive(Debug)]
pub struct PerIpLimit {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's share of its address's count; released on drop.
#[derive(Debug)]
pub struct IpSlot {
    limit: Arc<PerIpLimit>,
    ip: IpAddr,
}

/// The key a source address is counted under: the IPv4 address, or the IPv6 /64 it is in.
#[must_use]
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
        v4 => v4,
    }
}

impl PerIpLimit {
    /// At most `max` connections per address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(PerIpLimit {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `ip`, unless its [`source_key`] already holds `max`.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = source_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max {
            if *count == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(IpSlot {
            limit: self.clone(),
            ip,
        })
    }

    /// Connections counted for `ip` now.
    pub fn count(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&source_key(ip)).copied().unwrap_or(0)
    }

    /// Addresses with at least one connection.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.limit.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_releases_on_drop() {
        let limit = PerIpLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let first = limit.try_acquire(a).expect("first");
        let second = limit.try_acquire(mapped).expect("second, same host");
        assert!(limit.try_acquire(a).is_none(), "third from one host");
        let other = limit.try_acquire(b).expect("another host");
        assert_eq!(
            (limit.count(a), limit.count(b), limit.addresses()),
            (2, 1, 2)
        );
        drop(first);
        let again = limit.try_acquire(a).expect("a slot was freed");
        drop((second, again, other));
        assert_eq!(limit.addresses(), 0, "no entry outlives its slots");
    }

    #[test]
    fn one_ipv6_slash_64_counts_as_one_host() {
        let limit = PerIpLimit::new(2);
        let held: Vec<IpSlot> = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"]
            .iter()
            .map(|a| limit.try_acquire(a.parse().unwrap()).expect("slot"))
            .collect();
        assert!(
            limit
                .try_acquire("2001:db8:1:2:dead::beef".parse().unwrap())
                .is_none(),
            "a third address of the same /64 is the same host"
        );
        assert!(
            limit
                .try_acquire("2001:db8:1:3::1".parse().unwrap())
                .is_some()
        );
        assert_eq!(limit.count("2001:db8:1:2:abcd::".parse().unwrap()), 2);
        drop(held);
    }

    #[test]
    fn zero_refuses_everyone_and_keeps_no_entry() {
        let limit = PerIpLimit::new(0);
        assert!(limit.try_acquire("192.0.2.1".parse().unwrap()).is_none());
        assert_eq!(limit.addresses(), 0);
    }
}
