//! What becomes of our own queries: responses, errors and timeouts, fed back into the routing
//! table, the lookups, announces and pings that sent them; and our external address learned
//! from responses (BEP 42).

use super::Node;
use super::lookups::hint;
use crate::event::{Event, QueryId, Sample};
use crate::krpc::{ErrorBody, Message, NodeInfo, Query, Response};
use crate::routing::Insert;
use crate::rtt::RttQuantile;
use crate::transaction::{Pending, Purpose};
use std::net::{SocketAddr, SocketAddrV4};

use crate::krpc::{CompactNodes, Want};
use std::time::{Duration, Instant};

/// Bound: info hashes kept from one BEP 51 answer (a datagram holds fewer than 75).
const MAX_SAMPLES_KEPT: usize = 128;
/// Bound: nodes kept from one BEP 51 answer.
const MAX_NODES_KEPT: usize = 16;
/// Longest BEP 51 interval believed (BEP 51's maximum, 6 hours).
const MAX_INTERVAL_SECS: i64 = 21_600;

impl Node {
    pub(super) fn on_request_timeout(&mut self, now: Instant, pending: Pending) {
        if let Some(id) = pending.node_id {
            self.table_of_mut(&pending.to)
                .on_failure(&id, &pending.to, now);
        }
        match pending.purpose {
            Purpose::Lookup(query) => {
                let retry = self
                    .lookups
                    .get_mut(&query)
                    .is_some_and(|l| l.on_timeout(pending.to));
                if retry {
                    let target = self.lookups.get(&query).map(|l| (l.kind, l.target));
                    if let Some((kind, target)) = target {
                        let q = self.lookup_query(kind, target);
                        let sent =
                            self.send_query(now, pending.to, pending.node_id, q, pending.purpose);
                        if sent.is_none()
                            && let Some(l) = self.lookups.get_mut(&query)
                        {
                            l.on_error(pending.to);
                        }
                    }
                }
                self.advance(now, query);
            }
            Purpose::Announce(query) => self.announce_answered(now, query, false),
            Purpose::Ping(query) => self.events.push_back(Event::Pong {
                query,
                addr: pending.to,
                id: None,
            }),
            Purpose::Sample(query) => self.events.push_back(Event::Sampled {
                query,
                addr: pending.to,
                sample: None,
            }),
            Purpose::TablePing => {}
        }
        self.schedule_rebootstrap_if_empty(now);
    }

    fn announce_answered(&mut self, now: Instant, query: QueryId, accepted: bool) {
        if let Some(phase) = self
            .lookups
            .get_mut(&query)
            .and_then(|l| l.announce.as_mut())
        {
            phase.outstanding = phase.outstanding.saturating_sub(1);
            phase.accepted += usize::from(accepted);
        }
        self.advance(now, query);
    }

    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        r: &Response<'_>,
    ) {
        let Some(pending) = self.transactions.take(msg.transaction_id, from) else {
            self.stats.dropped.unexpected += 1;
            return;
        };
        self.stats.responses_in += 1;
        let sample = now.saturating_duration_since(pending.sent_at);
        let (min, max) = (self.config.short_timeout_min, self.short_timeout_max());
        RttQuantile::fold(&mut self.rtt, sample, max);
        self.table_of_mut(&from)
            .record_rtt(&r.id, &from, sample, min, max);
        if let Some(SocketAddr::V4(ip)) = msg.requester_ip
            && let SocketAddr::V4(voter) = from
            && let Some(elected) = self.learn_external(voter, ip)
        {
            self.on_external_elected(now, *elected.ip());
        }
        if !msg.read_only
            && let Insert::Parked { ping: Some(stale) } = self.table_of_mut(&from).on_response(
                NodeInfo {
                    id: r.id,
                    addr: from,
                },
                now,
            )
        {
            let q = Query::Ping { id: self.id };
            if self
                .send_query(now, stale.addr, Some(stale.id), q, Purpose::TablePing)
                .is_none()
            {
                self.table_of_mut(&stale.addr).ping_done(&stale.id);
            }
        }
        match pending.purpose {
            Purpose::Lookup(query) => {
                let ours = self.families();
                let tagged = self.config.network.tag().is_some();
                let Some(lookup) = self.lookups.get_mut(&query) else {
                    return;
                };
                let (table, table6) = (&self.table, &self.table6);
                let nodes = spoken(ours, r)
                    .flat_map(|n| n.iter())
                    .map(|n| match n.addr {
                        SocketAddr::V4(_) => (n, hint(table, &n)),
                        SocketAddr::V6(_) => (n, hint(table6, &n)),
                    });
                let expected = lookup.on_response(from, r.id, nodes, r.token);
                if expected {
                    for n in spoken(ours, r).flat_map(|n| n.iter()) {
                        self.table_of_mut(&n.addr).on_named(n, now);
                    }
                }
                if expected && !r.item.is_empty() {
                    // An immutable get ends here at the first valid value.
                    self.on_item_response(now, query, r);
                }
                let Some(lookup) = self.lookups.get_mut(&query) else {
                    return;
                };
                if let Some(values) = &r.values {
                    // Peers of a family we do not speak are skipped, as they were before BEP 32.
                    let spoken = |peer: &SocketAddr| match peer {
                        SocketAddr::V4(_) => ours.n4,
                        SocketAddr::V6(_) => ours.n6,
                    };
                    let peers = values.iter().filter(spoken).map(|peer| {
                        if tagged && peer.ip().is_unspecified() {
                            // Our private network's way to say "me": the responder's own IP.
                            SocketAddr::new(from.ip(), peer.port())
                        } else {
                            peer
                        }
                    });
                    let target = lookup.target;
                    for peer in lookup.add_peers(peers, now) {
                        self.events.push_back(Event::PeerFound {
                            query,
                            info_hash: target,
                            peer,
                        });
                    }
                }
                self.advance(now, query);
            }
            Purpose::Announce(query) => self.announce_answered(now, query, true),
            Purpose::Ping(query) => self.events.push_back(Event::Pong {
                query,
                addr: from,
                id: Some(r.id),
            }),
            Purpose::Sample(query) => {
                let sample = r.samples.map(|s| Sample {
                    interval: Duration::from_secs(s.interval.clamp(0, MAX_INTERVAL_SECS) as u64),
                    num: s.num.max(0) as u64,
                    samples: s.iter().take(MAX_SAMPLES_KEPT).collect(),
                    nodes: spoken(self.families(), r)
                        .flat_map(|n| n.iter())
                        .take(MAX_NODES_KEPT)
                        .collect(),
                });
                self.events.push_back(Event::Sampled {
                    query,
                    addr: from,
                    sample,
                });
            }
            Purpose::TablePing => {
                // Answered read-only or under another id: the ping is over all the same.
                if let Some(id) = pending.node_id {
                    self.table_of_mut(&pending.to).ping_done(&id);
                }
            }
        }
    }

    pub(super) fn handle_error(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        e: &ErrorBody<'_>,
    ) {
        let Some(pending) = self.transactions.take(msg.transaction_id, from) else {
            self.stats.dropped.unexpected += 1;
            return;
        };
        self.stats.errors_in += 1;
        if let Some(id) = pending.node_id {
            let table = self.table_of_mut(&pending.to);
            table.ping_done(&id);
            table.set_overdue(&id, &pending.to, false);
        }
        match pending.purpose {
            Purpose::Lookup(query) => {
                if let Some(lookup) = self.lookups.get_mut(&query) {
                    lookup.on_error(from);
                }
                self.advance(now, query);
            }
            Purpose::Announce(query) => {
                self.put_refused(query, e.code);
                self.announce_answered(now, query, false)
            }
            Purpose::Ping(query) => self.events.push_back(Event::Pong {
                query,
                addr: from,
                id: None,
            }),
            Purpose::Sample(query) => self.events.push_back(Event::Sampled {
                query,
                addr: from,
                sample: None,
            }),
            Purpose::TablePing => {}
        }
    }

    /// Counts `voter`'s report that we are `seen`; the address elected by it, if any.
    fn learn_external(&mut self, voter: SocketAddrV4, seen: SocketAddrV4) -> Option<SocketAddrV4> {
        let configured = self
            .config
            .external_addr
            .is_some_and(|a| !a.ip().is_unspecified());
        if configured || seen.ip().is_unspecified() {
            return None;
        }
        let elected = self.address_votes.vote(voter, seen)?;
        self.external = Some(elected);
        Some(elected)
    }
}

/// An answer's `nodes` and `nodes6`, of the families in `ours`.
fn spoken<'r>(ours: Want, r: &Response<'r>) -> impl Iterator<Item = CompactNodes<'r>> + use<'r> {
    let (v4, v6) = (ours.n4, ours.n6);
    r.nodes
        .filter(move |_| v4)
        .into_iter()
        .chain(r.nodes6.filter(move |_| v6))
}
