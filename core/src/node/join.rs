//! Joining the network: the bootstrap lookup of our own id, the far-bucket refreshes that
//! complete it, a second lookup of our own id once the neighbourhood has had time to settle,
//! and re-bootstraps (with backoff) whenever the routing table empties.

use super::Node;
use crate::event::{Event, LookupKind, QueryId};
use crate::id::Id;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long after a bootstrap we look up our own id once more.
///
/// A bootstrap's self-lookup finds only the neighbours that others already hand out, and a
/// node is handed out only once verified, a liveness ping after its first queries. Nodes
/// that join within seconds of each other (a fleet that starts or restarts together) are
/// each invisible during the other's self-lookup and would never learn of each other: on a
/// simulated network of 1,000 nodes joining within 10 s, they held a third of their 8 closest.
/// By this delay the pings that verify them have gone out, and a second lookup of our own id
/// meets them; nodes that join later find us with theirs.
pub(super) const NEIGHBOURHOOD_RECHECK: Duration = Duration::from_secs(30);

impl Node {
    pub(super) fn start_bootstrap(&mut self, now: Instant, query: QueryId) {
        self.bootstrap_running = Some(query);
        self.rebootstrap_at = None;
        let routers = self.routers.clone();
        let target = self.id;
        self.start_lookup(now, query, LookupKind::Bootstrap, target, &routers);
    }

    /// Second step of a bootstrap: lookups into the far buckets the self-lookup left unfilled.
    /// The bootstrap ends when they all have.
    pub(super) fn refresh_far_buckets(&mut self, now: Instant, bootstrap: QueryId) {
        let rng = &mut self.rng;
        let mut targets = self.table.unfilled_buckets(&mut || rng.bytes20());
        targets.extend(self.table6.unfilled_buckets(&mut || rng.bytes20()));
        let room = self.config.max_lookups.saturating_sub(self.lookups.len());
        let queries: Vec<(QueryId, Id)> = targets
            .into_iter()
            .take(room)
            .map(|target| (self.next_query_id(), target))
            .collect();
        if queries.is_empty() {
            self.bootstrap_done(now, bootstrap);
            return;
        }
        for (query, _) in &queries {
            self.join_refreshes.insert(*query, bootstrap);
        }
        for (query, target) in queries {
            self.table.touch_bucket(&target, now);
            self.table6.touch_bucket(&target, now);
            self.start_lookup(now, query, LookupKind::Refresh, target, &[]);
        }
    }

    pub(super) fn bootstrap_done(&mut self, now: Instant, query: QueryId) {
        if self.bootstrap_running == Some(query) {
            self.bootstrap_running = None;
        }
        let table_size = self.table.len() + self.table6.len();
        if table_size > 0 {
            self.rebootstrap_delay = self.config.rebootstrap_min;
            self.neighbourhood_check_at = Some(now + NEIGHBOURHOOD_RECHECK);
        } else {
            self.schedule_rebootstrap_if_empty(now);
        }
        self.events
            .push_back(Event::Bootstrapped { query, table_size });
    }

    /// The second lookup of our own id after a bootstrap (see [`NEIGHBOURHOOD_RECHECK`]),
    /// from the table alone. Skipped when the table has emptied (a re-bootstrap will come) or
    /// the lookups are at their limit (the bucket refreshes cover the neighbourhood later).
    pub(super) fn check_neighbourhood(&mut self, now: Instant) {
        if self.tables_empty() || self.lookups.len() >= self.config.max_lookups {
            return;
        }
        let query = self.next_query_id();
        let target = self.id;
        self.table.touch_bucket(&target, now);
        self.table6.touch_bucket(&target, now);
        self.start_lookup(now, query, LookupKind::Refresh, target, &[]);
    }

    pub(super) fn schedule_rebootstrap_if_empty(&mut self, now: Instant) {
        if self.needs_bootstrap()
            && self.bootstrap_running.is_none()
            && self.rebootstrap_at.is_none()
        {
            self.rebootstrap_at = Some(now + self.rebootstrap_delay);
            self.rebootstrap_delay = (self.rebootstrap_delay * 2).min(self.config.rebootstrap_max);
        }
    }

    /// Whether a family's table is empty while we know a router of that family to fill it.
    fn needs_bootstrap(&self) -> bool {
        let empty = |addr: &SocketAddr| self.table_of(addr).is_empty();
        self.routers.iter().any(empty)
    }
}
