//! The relay's table of registered exits, keyed by exit id.
//!
//! Bounded by [`MAX_EXITS`]. Only the holder of an exit id's key can register under it (the
//! registration proof is its signature), so an exit that registers again under its id replaces
//! (and closes) its older connection, and one that publishes a new descriptor on its connection
//! updates its entry. Entries silent for longer than the heartbeat timeout are evicted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokengo_gateway_proto::control::ExitKeyEntry;

/// Most exits one relay keeps registered at a time.
pub const MAX_EXITS: usize = 1024;

/// A registered exit.
#[derive(Debug, Clone)]
struct Entry {
    conn: quinn::Connection,
    /// The exit's signed descriptor, as it sent it (checked at registration).
    descriptor: Vec<u8>,
    last_heartbeat: Instant,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    /// The registry holds [`MAX_EXITS`] other exits.
    #[error("relay is full")]
    Full,
    /// An update from a connection that does not hold the exit's registration.
    #[error("not registered on this connection")]
    NotRegistered,
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

    /// Registers `conn` as exit `exit_id`; returns the connection it replaced, if any.
    pub fn register(
        &self,
        exit_id: String,
        descriptor: Vec<u8>,
        conn: quinn::Connection,
        now: Instant,
    ) -> Result<Option<quinn::Connection>, RegisterError> {
        let mut exits = self.lock();
        if !exits.contains_key(&exit_id) && exits.len() >= MAX_EXITS {
            return Err(RegisterError::Full);
        }
        let old = exits.insert(
            exit_id,
            Entry {
                conn,
                descriptor,
                last_heartbeat: now,
            },
        );
        Ok(old.map(|e| e.conn))
    }

    /// Replaces the descriptor of `exit_id`, registered on connection `conn_id`.
    pub fn update(
        &self,
        exit_id: &str,
        conn_id: usize,
        descriptor: Vec<u8>,
        now: Instant,
    ) -> Result<(), RegisterError> {
        match self.lock().get_mut(exit_id) {
            Some(e) if e.conn.stable_id() == conn_id => {
                e.descriptor = descriptor;
                e.last_heartbeat = now;
                Ok(())
            }
            _ => Err(RegisterError::NotRegistered),
        }
    }

    /// The live connection of the exit `exit_id`.
    pub fn lookup(&self, exit_id: &str) -> Option<quinn::Connection> {
        self.lock().get(exit_id).map(|e| e.conn.clone())
    }

    /// Records a heartbeat from connection `conn_id` for `exit_id`; false if it is not
    /// registered there.
    pub fn touch(&self, exit_id: &str, conn_id: usize, now: Instant) -> bool {
        match self.lock().get_mut(exit_id) {
            Some(e) if e.conn.stable_id() == conn_id => {
                e.last_heartbeat = now;
                true
            }
            _ => false,
        }
    }

    /// Removes `exit_id` only if it still belongs to connection `conn_id`.
    pub fn remove_if(&self, exit_id: &str, conn_id: usize) -> bool {
        let mut exits = self.lock();
        if exits
            .get(exit_id)
            .is_some_and(|e| e.conn.stable_id() == conn_id)
        {
            exits.remove(exit_id);
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
            .map(|(id, _)| id.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|id| exits.remove(&id).map(|e| (id, e.conn)))
            .collect()
    }

    /// The registered exits and their descriptors, sorted by exit id.
    pub fn keys(&self) -> Vec<ExitKeyEntry> {
        let mut out: Vec<ExitKeyEntry> = self
            .lock()
            .iter()
            .map(|(id, e)| ExitKeyEntry {
                exit_id: id.clone(),
                descriptor: B64.encode(&e.descriptor),
            })
            .collect();
        out.sort_by(|a, b| a.exit_id.cmp(&b.exit_id));
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
