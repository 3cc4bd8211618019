//! Periodic maintenance: peer store expiry, liveness pings, bucket refreshes and scheduling a
//! re-bootstrap when the table is empty.

use super::Node;
use crate::event::LookupKind;
use crate::krpc::{NodeInfo, Query};
use crate::transaction::Purpose;
use std::time::{Duration, Instant};

/// How often maintenance runs (liveness pings, bucket refresh, expiry, re-bootstrap).
pub(super) const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// Liveness pings per maintenance tick.
const PINGS_PER_TICK: usize = 4;
/// Bucket refreshes started per maintenance tick.
const REFRESHES_PER_TICK: usize = 2;

impl Node {
    /// Pings a table node the table marked as being pinged; a ping that cannot be sent (no
    /// transaction free) clears that mark.
    pub(crate) fn ping_for_liveness(&mut self, now: Instant, info: NodeInfo) {
        let query = Query::Ping { id: self.id };
        if self
            .send_query(now, info.addr, Some(info.id), query, Purpose::TablePing)
            .is_none()
        {
            self.table_of_mut(&info.addr).ping_done(&info.id);
        }
    }

    pub(super) fn maintain(&mut self, now: Instant) {
        // Jitter keeps a fleet that restarted together from ticking in lockstep.
        let jitter = Duration::from_millis(self.rng.below(1000));
        self.next_maintenance = now + MAINTENANCE_INTERVAL + jitter;
        self.store.expire(now);
        self.items.expire(now);
        let mut due = self.table.due_for_ping(now, PINGS_PER_TICK);
        due.extend(self.table6.due_for_ping(now, PINGS_PER_TICK));
        for info in due {
            self.ping_for_liveness(now, info);
        }
        if let Some(before) = now.checked_sub(self.config.bucket_refresh) {
            let rng = &mut self.rng;
            let mut targets = self.table.stale_buckets(before, &mut || rng.bytes20());
            targets.truncate(REFRESHES_PER_TICK);
            targets.extend(
                self.table6
                    .stale_buckets(before, &mut || rng.bytes20())
                    .into_iter()
                    .take(REFRESHES_PER_TICK),
            );
            for target in targets {
                self.table.touch_bucket(&target, now);
                self.table6.touch_bucket(&target, now);
                if !self.tables_empty() && self.lookups.len() < self.config.max_lookups {
                    let query = self.next_query_id();
                    self.start_lookup(now, query, LookupKind::Refresh, target, &[]);
                }
            }
        }
        self.schedule_rebootstrap_if_empty(now);
    }
}
