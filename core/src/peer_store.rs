//! Peers announced to us, per info hash.
//!
//! Bounds: `max_keys` info hashes (announces for new keys are refused when full) and
//! `max_peers_per_key` peers per key (the stalest peer makes room). Entries expire `ttl` after
//! their last announce.

use crate::id::Id;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// The peer store.
#[derive(Debug, Clone)]
pub struct PeerStore {
    keys: BTreeMap<Id, Vec<(SocketAddrV4, Instant)>>,
    max_keys: usize,
    max_peers_per_key: usize,
    ttl: Duration,
    peers: usize,
}

/// Why an announce was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFull;

impl PeerStore {
    /// An empty store with these bounds.
    pub fn new(max_keys: usize, max_peers_per_key: usize, ttl: Duration) -> Self {
        PeerStore {
            keys: BTreeMap::new(),
            max_keys,
            max_peers_per_key,
            ttl,
            peers: 0,
        }
    }

    /// Stores (or refreshes) `peer` under `key`.
    pub fn announce(&mut self, key: Id, peer: SocketAddrV4, now: Instant) -> Result<(), StoreFull> {
        let expires = now + self.ttl;
        if !self.keys.contains_key(&key) && self.keys.len() >= self.max_keys {
            return Err(StoreFull);
        }
        let peers = self.keys.entry(key).or_default();
        if let Some(slot) = peers.iter_mut().find(|(addr, _)| *addr == peer) {
            slot.1 = expires;
            return Ok(());
        }
        if peers.len() >= self.max_peers_per_key {
            let Some(stalest) = peers
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, e))| *e)
                .map(|p| p.0)
            else {
                return Err(StoreFull);
            };
            peers[stalest] = (peer, expires);
            return Ok(());
        }
        peers.push((peer, expires));
        self.peers += 1;
        Ok(())
    }

    /// Up to `limit` live peers for `key`, starting at a position chosen by `start` so that
    /// repeated queries see different subsets of a large swarm.
    pub fn peers(&self, key: &Id, now: Instant, limit: usize, start: u64) -> Vec<SocketAddrV4> {
        let Some(peers) = self.keys.get(key) else {
            return Vec::new();
        };
        let live: Vec<SocketAddrV4> = peers
            .iter()
            .filter(|(_, e)| *e > now)
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

    /// Drops expired entries.
    pub fn expire(&mut self, now: Instant) {
        let mut removed = 0;
        self.keys.retain(|_, peers| {
            let before = peers.len();
            peers.retain(|(_, e)| *e > now);
            removed += before - peers.len();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> SocketAddrV4 {
        SocketAddrV4::new([10, 0, 0, n].into(), 6881)
    }

    #[test]
    fn bounded_and_expiring() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(1800);
        let mut store = PeerStore::new(2, 3, ttl);
        let (a, b, c) = (Id([1; 20]), Id([2; 20]), Id([3; 20]));
        for n in 0..5 {
            store
                .announce(a, addr(n), t0 + Duration::from_secs(n as u64))
                .unwrap();
        }
        assert_eq!(
            store.peers(&a, t0, 100, 0).len(),
            3,
            "peers per key bounded"
        );
        assert!(
            !store.peers(&a, t0, 100, 0).contains(&addr(0)),
            "stalest replaced"
        );
        store.announce(b, addr(1), t0).unwrap();
        assert_eq!(store.announce(c, addr(1), t0), Err(StoreFull));
        assert_eq!((store.key_count(), store.peer_count()), (2, 4));
        store.announce(b, addr(1), t0 + ttl).unwrap(); // refresh
        store.expire(t0 + ttl + Duration::from_secs(10));
        assert_eq!((store.key_count(), store.peer_count()), (1, 1));
        assert_eq!(store.peers(&b, t0 + ttl, 10, 7), vec![addr(1)]);
    }
}
