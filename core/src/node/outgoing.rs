//! Sending: encoding a query, queueing its datagram and opening its transaction.

use super::{Node, Transmit};
use crate::id::Id;
use crate::krpc::{Body, Family, Message, Query};
use crate::stats::MethodCounts;
use crate::transaction::{Pending, Purpose};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Largest datagram we build.
pub(crate) const MAX_DATAGRAM: usize = 1500;

impl Node {
    /// Encodes and queues a query; records the transaction. `None` when a bound or the
    /// encoder refused.
    pub(crate) fn send_query(
        &mut self,
        now: Instant,
        to: SocketAddr,
        node_id: Option<Id>,
        query: Query<'_>,
        purpose: Purpose,
    ) -> Option<u32> {
        if !self.has_family(Family::of(&to)) {
            return None;
        }
        if self.transactions.len() >= self.config.max_transactions {
            self.stats.dropped.over_limit += 1;
            return None;
        }
        let mut tid = self.tids.next_u64() as u32;
        while self.transactions.contains(tid) {
            tid = tid.wrapping_add(1);
        }
        let tid_bytes = tid.to_be_bytes();
        count_method(&mut self.stats.queries_out, &query);
        let msg = Message {
            transaction_id: &tid_bytes,
            version: self.config.version.as_ref().map(|v| &v[..]),
            requester_ip: None,
            read_only: self.config.read_only,
            network: self.config.network.tag(),
            body: Body::Query(query),
        };
        if !push_encoded(&mut self.transmits, to, &msg, MAX_DATAGRAM) {
            return None;
        }
        let short_deadline =
            matches!(purpose, Purpose::Lookup(_)).then(|| now + self.short_timeout(node_id, to));
        self.transactions.insert(
            tid,
            Pending {
                to,
                node_id,
                purpose,
                sent_at: now,
                short_deadline,
                deadline: now + self.config.full_timeout,
            },
        );
        Some(tid)
    }
}

impl Node {
    /// How long a lookup request to `to` holds its slot: from the node's measured round-trip
    /// times if the table has them, else from everyone's, else the configured value.
    fn short_timeout(&self, node_id: Option<Id>, to: SocketAddr) -> Duration {
        let max = self.short_timeout_max();
        let min = self.config.short_timeout_min;
        let measured = node_id
            .and_then(|id| self.table_of(&to).get(&id))
            .filter(|e| e.addr == to)
            .and_then(|e| e.rtt);
        match (measured, self.rtt) {
            (Some(node), _) => node.timeout(min, max),
            (None, Some(everyone)) => everyone.timeout(min, max),
            (None, None) => max,
        }
    }

    /// The short timeout's upper bound (never past the full timeout).
    pub(super) fn short_timeout_max(&self) -> Duration {
        self.config.short_timeout.min(self.config.full_timeout)
    }
}

/// Encodes `msg` (at most `limit` bytes) and queues it for `to`; `false` if it does not fit.
pub(crate) fn push_encoded(
    out: &mut VecDeque<Transmit>,
    to: SocketAddr,
    msg: &Message<'_>,
    limit: usize,
) -> bool {
    let mut buf = [0u8; MAX_DATAGRAM];
    let limit = limit.min(MAX_DATAGRAM);
    match msg.encode(&mut buf[..limit]) {
        Ok(len) => {
            out.push_back(Transmit {
                to,
                payload: buf[..len].to_vec(),
            });
            true
        }
        Err(_) => false,
    }
}

/// Counts a query under its method.
pub(crate) fn count_method(counts: &mut MethodCounts, query: &Query<'_>) {
    match query {
        Query::Ping { .. } => counts.ping += 1,
        Query::FindNode { .. } => counts.find_node += 1,
        Query::GetPeers { .. } => counts.get_peers += 1,
        Query::AnnouncePeer { .. } => counts.announce_peer += 1,
        Query::Get { .. } => counts.get += 1,
        Query::Put { .. } => counts.put += 1,
        Query::SampleInfohashes { .. } => counts.sample_infohashes += 1,
        Query::Unknown { .. } | Query::Malformed { .. } => counts.other += 1,
    }
}
