//! Peers announced to us, per info hash.
//!
//! Bounds: `max_keys` info hashes (announces for new keys are refused when full),
//! `max_peers_per_key` peers per key (the stalest peer makes room), one peer per IP address and
//! key (an announce from the same IP replaces its previous port), and `max_keys_per_ip` keys
//! holding a peer of one IP address, so that one host can neither fill a key nor keep the
//! whole store alive. Loopback addresses are local test networks and escape the per-IP bounds.
//! Entries expire `ttl` after their last announce.

use crate::id::Id;
use crate::krpc::Want;
use crate::stats::StoreCounts;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The peer store's bounds.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Info hashes held.
    pub max_keys: usize,
    /// Peers per info hash.
    pub max_peers_per_key: usize,
    /// Info hashes holding a peer of one IP address.
    pub max_keys_per_ip: usize,
    /// Lifetime of an announce.
    pub ttl: Duration,
}

/// The peer store.
#[derive(Debug, Clone)]
pub struct PeerStore {
    keys: BTreeMap<Id, Vec<(SocketAddr, Instant)>>,
    /// Keys holding a peer of each (non-loopback) IP.
    keys_per_ip: BTreeMap<IpAddr, usize>,
    limits: StoreLimits,
    peers: usize,
    counts: StoreCounts,
}

/// Why an announce was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The store holds `max_keys` info hashes and this is a new one.
    Full,
    /// The announcer's IP already holds peers under `max_keys_per_ip` keys.
    KeysPerIp,
}

/// Whether an IP is subject to the per-IP bounds.
fn counted(ip: &IpAddr) -> bool {
    !ip.is_loopback()
}

impl PeerStore {
    /// An empty store with these bounds.
    pub fn new(limits: StoreLimits) -> Self {
        PeerStore {
            keys: BTreeMap::new(),
            keys_per_ip: BTreeMap::new(),
            limits,
            peers: 0,
            counts: StoreCounts::default(),
        }
    }

    fn ip_added(&mut self, ip: IpAddr) {
        if counted(&ip) {
            *self.keys_per_ip.entry(ip).or_insert(0) += 1;
        }
    }

    fn ip_removed(keys_per_ip: &mut BTreeMap<IpAddr, usize>, ip: IpAddr) {
        if let Some(n) = keys_per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                keys_per_ip.remove(&ip);
            }
        }
    }

    /// Stores (or refreshes) `peer` under `key`.
    pub fn announce(&mut self, key: Id, peer: SocketAddr, now: Instant) -> Result<(), Refused> {
        let expires = now + self.limits.ttl;
        let ip = peer.ip();
        if let Some(peers) = self.keys.get_mut(&key) {
            if let Some(slot) = peers.iter_mut().find(|(addr, _)| *addr == peer) {
                slot.1 = expires;
                return Ok(());
            }
            if counted(&ip)
                && let Some(slot) = peers.iter_mut().find(|(addr, _)| addr.ip() == ip)
            {
                // One peer per IP and key: the host moved to another port.
                *slot = (peer, expires);
                self.counts.replaced_port += 1;
                return Ok(());
            }
        }
        if counted(&ip)
            && self.keys_per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_keys_per_ip
        {
            self.counts.refused_keys_per_ip += 1;
            return Err(Refused::KeysPerIp);
        }
        if !self.keys.contains_key(&key) && self.keys.len() >= self.limits.max_keys {
            self.counts.refused_full += 1;
            return Err(Refused::Full);
        }
        let max_peers = self.limits.max_peers_per_key;
        let peers = self.keys.entry(key).or_default();
        if peers.len() >= max_peers {
            let Some(stalest) = peers
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, e))| *e)
                .map(|p| p.0)
            else {
                self.counts.refused_full += 1;
                return Err(Refused::Full);
            };
            let old = std::mem::replace(&mut peers[stalest], (peer, expires));
            Self::ip_removed(&mut self.keys_per_ip, old.0.ip());
            self.ip_added(ip);
            return Ok(());
        }
        peers.push((peer, expires));
        self.peers += 1;
        self.ip_added(ip);
        Ok(())
    }

    /// Up to `limit` live peers for `key` of the families `want` names, starting at a position
    /// chosen by `start` so that repeated queries see different subsets of a large swarm.
    pub fn peers(
        &self,
        key: &Id,
        now: Instant,
        limit: usize,
        start: u64,
        want: Want,
    ) -> Vec<SocketAddr> {
        let Some(peers) = self.keys.get(key) else {
            return Vec::new();
        };
        let live: Vec<SocketAddr> = peers
            .iter()
            .filter(|(addr, e)| *e > now && if addr.is_ipv4() { want.n4 } else { want.n6 })
            .map(|(addr, _)| *addr)
            .collect();
        if live.is_empty() {
            return live;
        }
        let offset = (start % live.len() as u64) as usize;
        live.iter()
            .cycle()
            .skip(offset)
            .take(limit.min(live.len()))
            .copied()
            .collect()
    }

    /// Up to `limit` of the info hashes held, consecutive from a position chosen by `start`
    /// (BEP 51 samples). Keys whose peers all expired but are not yet dropped may be included.
    pub fn sample_keys(&self, limit: usize, start: u64) -> Vec<Id> {
        if self.keys.is_empty() {
            return Vec::new();
        }
        let offset = (start % self.keys.len() as u64) as usize;
        self.keys
            .keys()
            .cycle()
            .skip(offset)
            .take(limit.min(self.keys.len()))
            .copied()
            .collect()
    }

    /// Drops expired entries.
    pub fn expire(&mut self, now: Instant) {
        let mut removed = 0;
        let keys_per_ip = &mut self.keys_per_ip;
        self.keys.retain(|_, peers| {
            peers.retain(|(addr, e)| {
                let live = *e > now;
                if !live {
                    removed += 1;
                    Self::ip_removed(keys_per_ip, addr.ip());
                }
                live
            });
            !peers.is_empty()
        });
        self.peers -= removed;
    }

    /// Number of info hashes held.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of peers held.
    pub fn peer_count(&self) -> usize {
        self.peers
    }

    /// What the bounds did so far.
    pub fn counts(&self) -> StoreCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::new([10, 0, 0, n].into(), 6881)
    }

    #[test]
    fn bounded_and_expiring() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(1800);
        let mut store = PeerStore::new(StoreLimits {
            max_keys: 2,
            max_peers_per_key: 3,
            max_keys_per_ip: 2,
            ttl,
        });
        let (a, b, c) = (Id([1; 20]), Id([2; 20]), Id([3; 20]));
        for n in 0..5 {
            store
                .announce(a, addr(n), t0 + Duration::from_secs(n as u64))
                .unwrap();
        }
        assert_eq!(
            store.peers(&a, t0, 100, 0, Want::BOTH).len(),
            3,
            "peers per key bounded"
        );
        assert!(
            !store.peers(&a, t0, 100, 0, Want::BOTH).contains(&addr(0)),
            "stalest replaced"
        );
        store.announce(b, addr(1), t0).unwrap();
        assert_eq!(store.announce(c, addr(2), t0), Err(Refused::Full));
        assert_eq!((store.key_count(), store.peer_count()), (2, 4));
        store.announce(b, addr(1), t0 + ttl).unwrap(); // refresh
        store.expire(t0 + ttl + Duration::from_secs(10));
        assert_eq!((store.key_count(), store.peer_count()), (1, 1));
        assert_eq!(store.peers(&b, t0 + ttl, 10, 7, Want::BOTH), vec![addr(1)]);
    }

    #[test]
    fn per_ip_bounds_and_their_release() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(1800);
        let mut store = PeerStore::new(StoreLimits {
            max_keys: 100,
            max_peers_per_key: 100,
            max_keys_per_ip: 2,
            ttl,
        });
        let host = |port| SocketAddr::new([10, 0, 0, 9].into(), port);
        let (a, b, c) = (Id([1; 20]), Id([2; 20]), Id([3; 20]));
        store.announce(a, host(1), t0).unwrap();
        store.announce(a, host(2), t0).unwrap();
        assert_eq!(
            store.peers(&a, t0, 10, 0, Want::BOTH),
            vec![host(2)],
            "same IP: port replaced"
        );
        store.announce(b, host(1), t0 + ttl / 2).unwrap();
        assert_eq!(store.announce(c, host(1), t0), Err(Refused::KeysPerIp));
        // Loopback escapes the per-IP bounds.
        let local = |port| SocketAddr::new([127, 0, 0, 1].into(), port);
        for key in [a, b, c] {
            store.announce(key, local(1), t0).unwrap();
            store.announce(key, local(2), t0).unwrap();
        }
        assert_eq!(store.peers(&c, t0, 10, 0, Want::BOTH).len(), 2);
        // Once key a's entry expires, the host may announce a new key.
        store.expire(t0 + ttl);
        store.announce(c, host(1), t0 + ttl).unwrap();
        let counts = store.counts();
        assert_eq!((counts.replaced_port, counts.refused_keys_per_ip), (1, 1));
    }
}
