//! Our queries awaiting an answer, keyed by 4-byte transaction id, and their deadlines.
//!
//! Bound: at most `max_transactions` in flight; [`Transactions::insert`] refuses more.

use crate::event::QueryId;
use crate::id::Id;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Instant;

/// Why we sent a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A request of a lookup (find_node, get_peers, bootstrap, refresh, announce's search).
    Lookup(QueryId),
    /// An announce_peer of an announce.
    Announce(QueryId),
    /// A ping the application asked for.
    Ping(QueryId),
    /// A BEP 51 sample_infohashes the application asked for.
    Sample(QueryId),
    /// A liveness check of a routing-table node.
    TablePing,
}

/// One query in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub to: SocketAddr,
    /// The id we expect to answer, when known.
    pub node_id: Option<Id>,
    pub purpose: Purpose,
    pub sent_at: Instant,
    /// When the request stops holding a lookup slot.
    pub short_deadline: Option<Instant>,
    pub deadline: Instant,
}

/// Which deadline a timer stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Deadline {
    Short,
    Full,
}

/// The transactions table.
#[derive(Debug, Clone, Default)]
pub struct Transactions {
    pending: BTreeMap<u32, Pending>,
    timers: BTreeSet<(Instant, u32, Deadline)>,
}

impl Transactions {
    /// Number in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether `tid` is taken.
    pub fn contains(&self, tid: u32) -> bool {
        self.pending.contains_key(&tid)
    }

    /// Records a query sent under `tid`.
    pub fn insert(&mut self, tid: u32, pending: Pending) {
        if let Some(short) = pending.short_deadline {
            self.timers.insert((short, tid, Deadline::Short));
        }
        self.timers.insert((pending.deadline, tid, Deadline::Full));
        self.pending.insert(tid, pending);
    }

    /// Takes the query answered by a message with transaction id `tid` from `from`; a message
    /// from another address than the one we asked does not match.
    pub fn take(&mut self, tid: &[u8], from: SocketAddr) -> Option<Pending> {
        let tid = u32::from_be_bytes(<[u8; 4]>::try_from(tid).ok()?);
        if self.pending.get(&tid)?.to != from {
            return None;
        }
        self.remove(tid)
    }

    fn remove(&mut self, tid: u32) -> Option<Pending> {
        let pending = self.pending.remove(&tid)?;
        if let Some(short) = pending.short_deadline {
            self.timers.remove(&(short, tid, Deadline::Short));
        }
        self.timers.remove(&(pending.deadline, tid, Deadline::Full));
        Some(pending)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    /// Pops one deadline that has passed at `now`. A full deadline removes the transaction.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Deadline, Pending)> {
        let &(at, tid, kind) = self.timers.first()?;
        if at > now {
            return None;
        }
        self.timers.pop_first();
        match kind {
            Deadline::Short => self.pending.get(&tid).map(|p| (kind, *p)),
            Deadline::Full => self.remove(tid).map(|p| (kind, p)),
        }
    }
}
