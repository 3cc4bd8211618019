//! The relay's table of registered exits, keyed by pubKeyHash.
//!
//! Bounded by [`MAX_EXITS`]; an exit that re-registers under the same hash replaces (and closes)
//! the older connection. Entries silent for longer than the heartbeat timeout are evicted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokengo_gateway_proto::control::ExitKeyEntry;
use tokengo_gateway_proto::keys::PublicKeyConfig;

/// Most exits one relay keeps registered at a time.
pub const MAX_EXITS: usize = 1024;

/// A registered exit.
#[derive(Debug, Clone)]
struct Entry {
    conn: quinn::Connection,
    key: PublicKeyConfig,
    /// The exit's signed descriptor, as it sent it (checked at registration).
    descriptor: Option<Vec<u8>>,
    last_heartbeat: Instant,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    /// The registry holds [`MAX_EXITS`] other exits.
    #[error("relay is full")]
    Full,
}

/// The table of exits.
#[derive(Debug, Default)]
pub struct Registry {
    exits: Mutex<HashMap<String, Entry>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.exits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `conn` under the key's hash; returns the connection it replaced, if any.
    pub fn register(
        &self,
        key: PublicKeyConfig,
        descriptor: Option<Vec<u8>>,
        conn: quinn::Connection,
        now: Instant,
    ) -> Result<Option<quinn::Connection>, RegisterError> {
        let hash = key.hash();
        let mut exits = self.lock();
        if !exits.contains_key(&hash) && exits.len() >= MAX_EXITS {
            return Err(RegisterError::Full);
        }
        let old = exits.insert(
            hash,
            Entry {
                conn,
                key,
                descriptor,
                last_heartbeat: now,
            },
        );
        Ok(old.map(|e| e.conn))
    }

    /// The live connection of the exit named `hash`.
    pub fn lookup(&self, hash: &str) -> Option<quinn::Connection> {
        self.lock().get(hash).map(|e| e.conn.clone())
    }

    /// Records a heartbeat from connection `conn_id` for `hash`; false if it is not registered.
    pub fn touch(&self, hash: &str, conn_id: usize, now: Instant) -> bool {
        match self.lock().get_mut(hash) {
            Some(e) if e.conn.stable_id() == conn_id => {
                e.last_heartbeat = now;
                true
            }
            _ => false,
        }
    }

    /// Removes `hash` only if it still belongs to connection `conn_id`.
    pub fn remove_if(&self, hash: &str, conn_id: usize) -> bool {
        let mut exits = self.lock();
        if exits
            .get(hash)
            .is_some_and(|e| e.conn.stable_id() == conn_id)
        {
            exits.remove(hash);
            return true;
        }
        false
    }

    /// Removes and returns the exits silent for more than `timeout`.
    pub fn evict_stale(&self, now: Instant, timeout: Duration) -> Vec<(String, quinn::Connection)> {
        let mut exits = self.lock();
        let stale: Vec<String> = exits
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_heartbeat) > timeout)
            .map(|(h, _)| h.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|h| exits.remove(&h).map(|e| (h, e.conn)))
            .collect()
    }

    /// The registered exits' keys, sorted by hash.
    pub fn keys(&self) -> Vec<ExitKeyEntry> {
        let mut out: Vec<ExitKeyEntry> = self
            .lock()
            .iter()
            .map(|(h, e)| ExitKeyEntry {
                pub_key_hash: h.clone(),
                key_config: e.key.to_base64(),
                descriptor: e.descriptor.as_deref().map(|d| B64.encode(d)),
            })
            .collect();
        out.sort_by(|a, b| a.pub_key_hash.cmp(&b.pub_key_hash));
        out
    }

    /// How many exits are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no exit is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
