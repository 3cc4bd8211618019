//! BEP 44 items stored for others.
//!
//! Bounds: `max_items` items, `max_bytes` bytes of values and salts, and `max_items_per_ip`
//! items last written from one IP address (loopback escapes this one, as in the peer store: local
//! test networks share one address). A put that would pass a bound is refused; nothing stored
//! is evicted for it. Items expire `ttl` after their last put.

use crate::id::Id;
use crate::item::Item;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The item store's bounds.
#[derive(Debug, Clone, Copy)]
pub struct StorageLimits {
    /// Items held.
    pub max_items: usize,
    /// Bytes of values and salts held.
    pub max_bytes: usize,
    /// Items last written from one (non-loopback) IP address.
    pub max_items_per_ip: usize,
    /// Lifetime of an item after its last put.
    pub ttl: Duration,
}

/// Why a put was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutRefused {
    /// The store holds its most items or bytes.
    Full,
    /// The writer's IP already holds its share of items.
    ItemsPerIp,
    /// `cas` differs from the stored item's sequence number (error 301).
    CasMismatch,
    /// The sequence number is lower than the stored one, or equal with another value (302).
    SeqLessThanCurrent,
}

#[derive(Debug, Clone)]
struct Stored {
    item: Item,
    writer: IpAddr,
    expires: Instant,
}

/// The item store.
#[derive(Debug, Clone)]
pub struct ItemStore {
    items: BTreeMap<Id, Stored>,
    per_ip: BTreeMap<IpAddr, usize>,
    bytes: usize,
    limits: StorageLimits,
}

fn counted(ip: &IpAddr) -> bool {
    !ip.is_loopback()
}

impl ItemStore {
    /// An empty store with these bounds.
    pub fn new(limits: StorageLimits) -> Self {
        ItemStore {
            items: BTreeMap::new(),
            per_ip: BTreeMap::new(),
            bytes: 0,
            limits,
        }
    }

    /// The item stored under `target`, unless it expired.
    pub fn get(&self, target: &Id, now: Instant) -> Option<&Item> {
        self.items
            .get(target)
            .filter(|s| s.expires > now)
            .map(|s| &s.item)
    }

    /// Stores `item` written from `writer`. A mutable item replaces the stored one only if its
    /// sequence number is higher (and `cas`, when given, names the stored one's); the same item
    /// again only renews its lifetime.
    pub fn put(
        &mut self,
        item: Item,
        cas: Option<i64>,
        writer: IpAddr,
        now: Instant,
    ) -> Result<(), PutRefused> {
        let target = item.target();
        let expires = now + self.limits.ttl;
        if self.items.get(&target).is_some_and(|s| s.expires <= now) {
            self.remove(&target);
        }
        if let Some(stored) = self.items.get(&target) {
            if let (Some(cas), Some(seq)) = (cas, stored.item.seq())
                && cas != seq
            {
                return Err(PutRefused::CasMismatch);
            }
            match (item.seq(), stored.item.seq()) {
                (Some(new), Some(old)) if new < old => return Err(PutRefused::SeqLessThanCurrent),
                (Some(new), Some(old)) if new == old && item.value() != stored.item.value() => {
                    return Err(PutRefused::SeqLessThanCurrent);
                }
                _ => {}
            }
            let writer_changes = stored.writer != writer;
            let grows = item.stored_len().saturating_sub(stored.item.stored_len());
            if writer_changes
                && counted(&writer)
                && self.ip_count(writer) >= self.limits.max_items_per_ip
            {
                return Err(PutRefused::ItemsPerIp);
            }
            if self.bytes + grows > self.limits.max_bytes {
                return Err(PutRefused::Full);
            }
            self.remove(&target);
        } else {
            if counted(&writer) && self.ip_count(writer) >= self.limits.max_items_per_ip {
                return Err(PutRefused::ItemsPerIp);
            }
            if self.items.len() >= self.limits.max_items
                || self.bytes + item.stored_len() > self.limits.max_bytes
            {
                self.expire(now);
                if self.items.len() >= self.limits.max_items
                    || self.bytes + item.stored_len() > self.limits.max_bytes
                {
                    return Err(PutRefused::Full);
                }
            }
        }
        self.bytes += item.stored_len();
        if counted(&writer) {
            *self.per_ip.entry(writer).or_insert(0) += 1;
        }
        self.items.insert(
            target,
            Stored {
                item,
                writer,
                expires,
            },
        );
        Ok(())
    }

    fn ip_count(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn remove(&mut self, target: &Id) {
        let Some(stored) = self.items.remove(target) else {
            return;
        };
        self.bytes = self.bytes.saturating_sub(stored.item.stored_len());
        if let Some(n) = self.per_ip.get_mut(&stored.writer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&stored.writer);
            }
        }
    }

    /// Drops the items whose lifetime passed.
    pub fn expire(&mut self, now: Instant) {
        let expired: Vec<Id> = self
            .items
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(t, _)| *t)
            .collect();
        for target in expired {
            self.remove(&target);
        }
    }

    /// Items held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Bytes of values and salts held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{MutableItem, SigningKey, Value};

    const LIMITS: StorageLimits = StorageLimits {
        max_items: 3,
        max_bytes: 40,
        max_items_per_ip: 2,
        ttl: Duration::from_secs(7200),
    };

    fn immutable(text: &str) -> Item {
        Item::Immutable(Value::string(text.as_bytes()).unwrap())
    }

    fn mutable(seq: i64, text: &str) -> Item {
        let key = SigningKey::from_seed([1; 32]);
        let value = Value::string(text.as_bytes()).unwrap();
        Item::Mutable(MutableItem::sign(&key, b"", seq, value).unwrap())
    }

    fn ip(n: u8) -> IpAddr {
        std::net::Ipv4Addr::new(10, 0, 0, n).into()
    }

    #[test]
    fn bounded_in_items_bytes_and_items_per_ip() {
        let now = Instant::now();
        let mut store = ItemStore::new(LIMITS);
        assert_eq!(store.put(immutable("a"), None, ip(1), now), Ok(()));
        assert_eq!(store.put(immutable("b"), None, ip(1), now), Ok(()));
        assert_eq!(
            store.put(immutable("c"), None, ip(1), now),
            Err(PutRefused::ItemsPerIp)
        );
        assert_eq!(store.put(immutable("c"), None, ip(2), now), Ok(()));
        assert_eq!(
            store.put(immutable("d"), None, ip(3), now),
            Err(PutRefused::Full)
        );
        assert_eq!(store.len(), 3);
        let mut store = ItemStore::new(LIMITS);
        assert_eq!(
            store.put(immutable(&"x".repeat(30)), None, ip(1), now),
            Ok(())
        );
        assert_eq!(store.bytes(), 33);
        assert_eq!(
            store.put(immutable(&"y".repeat(8)), None, ip(2), now),
            Err(PutRefused::Full)
        );
        assert_eq!(
            store.put(immutable(&"y".repeat(5)), None, ip(2), now),
            Ok(())
        );
        assert_eq!(store.bytes(), 40);
        // Loopback writers share one address and escape the per-IP bound.
        let mut store = ItemStore::new(LIMITS);
        for text in ["a", "b", "c"] {
            assert_eq!(
                store.put(
                    immutable(text),
                    None,
                    std::net::Ipv4Addr::LOCALHOST.into(),
                    now
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn items_expire_after_their_last_put_and_free_their_room() {
        let now = Instant::now();
        let mut store = ItemStore::new(LIMITS);
        let item = immutable("a");
        store.put(item.clone(), None, ip(1), now).unwrap();
        let later = now + Duration::from_secs(3600);
        store.put(item.clone(), None, ip(1), later).unwrap();
        assert_eq!(store.len(), 1, "a repeated put renews, it does not add");
        assert!(
            store
                .get(&item.target(), now + Duration::from_secs(7199))
                .is_some()
        );
        let gone = later + LIMITS.ttl;
        assert!(store.get(&item.target(), gone).is_none());
        store.expire(gone);
        assert_eq!((store.len(), store.bytes()), (0, 0));
        store.put(immutable("b"), None, ip(1), gone).unwrap();
        store.put(immutable("c"), None, ip(1), gone).unwrap();
    }

    #[test]
    fn mutable_updates_follow_seq_and_cas() {
        let now = Instant::now();
        let mut store = ItemStore::new(LIMITS);
        store.put(mutable(1, "one"), None, ip(1), now).unwrap();
        assert_eq!(
            store.put(mutable(2, "two"), Some(5), ip(1), now),
            Err(PutRefused::CasMismatch)
        );
        assert_eq!(store.put(mutable(2, "two"), Some(1), ip(1), now), Ok(()));
        assert_eq!(
            store.put(mutable(1, "one"), None, ip(1), now),
            Err(PutRefused::SeqLessThanCurrent)
        );
        assert_eq!(
            store.put(mutable(2, "other"), None, ip(1), now),
            Err(PutRefused::SeqLessThanCurrent)
        );
        assert_eq!(store.put(mutable(2, "two"), None, ip(1), now), Ok(()));
        let target = mutable(2, "two").target();
        assert_eq!(store.get(&target, now).and_then(Item::seq), Some(2));
        assert_eq!(store.len(), 1);
    }
}
