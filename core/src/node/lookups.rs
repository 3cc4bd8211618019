//! Running lookups: starting one, sending the queries it asks for, the announce phase that
//! follows a get_peers lookup, and the event (or bootstrap step) that ends it.

use super::Node;
use crate::event::{Event, LookupKind, QueryId};
use crate::id::Id;
use crate::krpc::NodeInfo;
use crate::krpc::{Query, Want};
use crate::lookup::{AnnouncePhase, Hint, Lookup, LookupConfig, Standing};
use crate::routing::RoutingTable;
use crate::transaction::Purpose;
use std::net::SocketAddr;
use std::time::Instant;

impl Node {
    /// The query a lookup of `kind` sends: get_peers for peer lookups and announces, BEP 44
    /// get for item gets and puts, find_node otherwise.
    pub(super) fn lookup_query(&self, kind: LookupKind, target: Id) -> Query<'static> {
        if matches!(kind, LookupKind::Get | LookupKind::Put) {
            Query::Get {
                id: self.id,
                target,
                seq: None,
                want: self.query_want(),
            }
        } else if matches!(kind, LookupKind::GetPeers | LookupKind::Announce) {
            Query::GetPeers {
                id: self.id,
                info_hash: target,
                want: self.query_want(),
            }
        } else {
            Query::FindNode {
                id: self.id,
                target,
                want: self.query_want(),
            }
        }
    }

    /// The `want` of our queries: both families when we speak both, so that either family's
    /// answers fill the other's window; nothing otherwise (the answer comes in our family).
    pub(super) fn query_want(&self) -> Want {
        let ours = self.families();
        if ours == Want::BOTH {
            Want::BOTH
        } else {
            Want::UNSAID
        }
    }

    pub(super) fn start_lookup(
        &mut self,
        now: Instant,
        query: QueryId,
        kind: LookupKind,
        target: Id,
        routers: &[SocketAddr],
    ) {
        if self.lookups.len() >= self.config.max_lookups {
            self.stats.dropped.over_limit += 1;
            let lookup = Lookup::new(
                query,
                kind,
                target,
                self.id,
                self.lookup_config(),
                &[],
                &[],
                now,
            );
            self.finish(now, lookup);
            return;
        }
        let seeds: Vec<(NodeInfo, Hint)> = [&self.table, &self.table6]
            .into_iter()
            .flat_map(|table| {
                table
                    .closest_seeds(&target, self.config.k * 2)
                    .into_iter()
                    .map(|n| (n, hint(table, &n)))
            })
            .collect();
        let routers = self.routers_for(kind, seeds.len(), routers);
        let mut lookup = Lookup::new(
            query,
            kind,
            target,
            self.id,
            self.lookup_config(),
            &seeds,
            &routers,
            now,
        );
        if matches!(kind, LookupKind::GetPeers | LookupKind::Announce) {
            let local = self.local_peers(&target, now);
            for peer in lookup.add_peers(local.into_iter(), now) {
                self.events.push_back(Event::PeerFound {
                    query,
                    info_hash: target,
                    peer,
                });
            }
        }
        self.lookups.insert(query, lookup);
        self.advance(now, query);
    }

    /// The addresses a lookup asks besides its seeds from the table: `given`, and, while the
    /// table offers fewer than k seeds, the bootstrap addresses too, so that a lookup started
    /// right after joining (with one or two nodes known) does not hang on them alone. Not for
    /// the bootstrap's own lookups (they have the routers already) nor refreshes, which would
    /// ask the routers again for every far bucket.
    fn routers_for(&self, kind: LookupKind, seeds: usize, given: &[SocketAddr]) -> Vec<SocketAddr> {
        let mut routers = given.to_vec();
        let joining = !matches!(kind, LookupKind::Bootstrap | LookupKind::Refresh);
        if joining && seeds < self.config.k {
            for &router in &self.routers {
                if !routers.contains(&router) {
                    routers.push(router);
                }
            }
        }
        routers
    }

    fn lookup_config(&self) -> LookupConfig {
        LookupConfig {
            k: self.config.k.max(1),
            alpha: self.config.alpha.max(1),
            retries: self.config.retries,
            max_rounds: self.config.max_rounds,
            replicas: self.config.replicas,
            max_candidates: self.config.max_lookup_candidates.max(self.config.k.max(1)),
            max_per_ip: self.config.lookup_candidates_per_ip(),
        }
    }

    /// Sends what a lookup wants sent, and finishes it when it is done.
    pub(super) fn advance(&mut self, now: Instant, query: QueryId) {
        let Some(lookup) = self.lookups.get_mut(&query) else {
            return;
        };
        if lookup.announce.is_some_and(|a| a.started) {
            if lookup.announce.is_some_and(|a| a.outstanding == 0)
                && let Some(lookup) = self.lookups.remove(&query)
            {
                self.finish(now, lookup);
            }
            return;
        }
        let (kind, target) = (lookup.kind, lookup.target);
        loop {
            let Some(lookup) = self.lookups.get_mut(&query) else {
                return;
            };
            let requests = lookup.next_requests();
            if requests.is_empty() {
                break;
            }
            for request in requests {
                let q = self.lookup_query(kind, target);
                if self
                    .send_query(now, request.addr, request.id, q, Purpose::Lookup(query))
                    .is_none()
                    && let Some(lookup) = self.lookups.get_mut(&query)
                {
                    lookup.on_error(request.addr);
                }
            }
        }
        let done = self.lookups.get(&query).is_some_and(Lookup::is_done);
        if !done {
            return;
        }
        let announcing = self.lookups.get(&query).and_then(|l| l.announce);
        match announcing {
            Some(phase) if !phase.started => self.send_announces(now, query, phase),
            _ => {
                if let Some(lookup) = self.lookups.remove(&query) {
                    self.finish(now, lookup);
                }
            }
        }
    }

    fn send_announces(&mut self, now: Instant, query: QueryId, phase: AnnouncePhase) {
        let Some(lookup) = self.lookups.get_mut(&query) else {
            return;
        };
        let targets = lookup.closest_with_tokens();
        let info_hash = lookup.target;
        let put = self.item_ops.get(&query).and_then(|op| op.put.clone());
        let mut outstanding = 0;
        for (node, token) in targets {
            let q = match &put {
                Some(put) => self.put_query(put, &token),
                None => Query::AnnouncePeer {
                    id: self.id,
                    info_hash,
                    port: phase.port.unwrap_or(0),
                    token: &token,
                    implied_port: phase.port.is_none(),
                },
            };
            if self
                .send_query(now, node.addr, Some(node.id), q, Purpose::Announce(query))
                .is_some()
            {
                outstanding += 1;
            }
        }
        if let Some(lookup) = self.lookups.get_mut(&query) {
            lookup.announce = Some(AnnouncePhase {
                outstanding,
                started: true,
                ..phase
            });
        }
        self.advance(now, query);
    }

    pub(super) fn finish(&mut self, now: Instant, mut lookup: Lookup) {
        lookup.stats.duration = now.saturating_duration_since(lookup.started);
        let query = lookup.query;
        match lookup.kind {
            LookupKind::Bootstrap => {
                if self.tables_empty() {
                    self.bootstrap_done(now, query);
                } else {
                    self.refresh_far_buckets(now, query);
                }
            }
            LookupKind::Refresh => {
                if let Some(bootstrap) = self.join_refreshes.remove(&query)
                    && !self.join_refreshes.values().any(|b| *b == bootstrap)
                {
                    self.bootstrap_done(now, bootstrap);
                }
            }
            LookupKind::Announce => {
                let accepted = lookup.announce.map_or(0, |a| a.accepted);
                self.events.push_back(Event::AnnounceDone {
                    query,
                    info_hash: lookup.target,
                    accepted,
                    stats: lookup.stats,
                });
            }
            LookupKind::Get => {
                let found = self.item_ops.remove(&query).and_then(|op| op.found);
                self.events.push_back(Event::GetDone {
                    query,
                    target: lookup.target,
                    item: found,
                    stats: lookup.stats,
                });
            }
            LookupKind::Put => {
                let refused = self
                    .item_ops
                    .remove(&query)
                    .map(|op| op.refused)
                    .unwrap_or_default();
                self.events.push_back(Event::PutDone {
                    query,
                    target: lookup.target,
                    accepted: lookup.announce.map_or(0, |a| a.accepted),
                    refused,
                    stats: lookup.stats,
                });
            }
            LookupKind::FindNode | LookupKind::GetPeers => {
                self.events.push_back(Event::LookupDone {
                    query,
                    kind: lookup.kind,
                    target: lookup.target,
                    stats: lookup.stats,
                    closest: lookup.closest(),
                });
            }
        }
    }
}

/// What the table knows of `node`, for a lookup to order its requests.
pub(super) fn hint(table: &RoutingTable, node: &NodeInfo) -> Hint {
    let Some(entry) = table.get(&node.id).filter(|e| e.addr == node.addr) else {
        return Hint::default();
    };
    let standing = if entry.failures > 0 {
        Standing::Failing
    } else if entry.verified {
        Standing::Answers
    } else {
        Standing::Unknown
    };
    Hint {
        standing,
        rtt: entry.rtt.map(|r| r.srtt),
    }
}
