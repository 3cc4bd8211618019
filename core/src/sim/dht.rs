//! DHT-specific driving: adding [`Node`]s, issuing their commands, building networks and
//! reading the outcome of a query from the events a node reported.

use super::seed::mix;
use super::{NodeHandle, Sim};
use crate::{Config, Event, Id, LookupKind, LookupStats, Node, NodeInfo, QueryId};
use std::net::SocketAddr;
use std::time::Duration;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// A find_node, get_peers, bootstrap or refresh lookup finished.
    Lookup {
        /// Which kind of lookup it was.
        kind: LookupKind,
        /// Its counts and timings.
        stats: LookupStats,
        /// The closest nodes that answered, closest first.
        closest: Vec<NodeInfo>,
    },
    /// An announce finished; `accepted` nodes acknowledged it.
    Announce {
        /// Nodes that acknowledged the announce_peer.
        accepted: usize,
        /// Counts and timings of the get_peers lookup in front of it.
        stats: LookupStats,
    },
    /// A bootstrap finished with this many nodes in the table.
    Bootstrapped {
        /// Nodes in the routing table once it finished.
        table_size: usize,
    },
    /// A ping was answered (`Some` id) or timed out.
    Pong {
        /// The responder's node id; `None` on timeout.
        id: Option<Id>,
    },
}

impl Finished {
    /// The lookup statistics, for the kinds that carry them.
    pub fn stats(&self) -> Option<&LookupStats> {
        match self {
            Finished::Lookup { stats, .. } | Finished::Announce { stats, .. } => Some(stats),
            Finished::Bootstrapped { .. } | Finished::Pong { .. } => None,
        }
    }
}

/// What a node reported so far about one of its commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryOutcome {
    /// Peers found, in the order they arrived (distinct, as the node reports each once).
    pub peers: Vec<SocketAddr>,
    /// Virtual time of the first peer event.
    pub first_peer_at: Option<Duration>,
    /// The completion, once it came.
    pub finished: Option<Finished>,
    /// Virtual time of the completion.
    pub finished_at: Option<Duration>,
}

impl Sim<Node> {
    /// Adds a [`Node`] at the next free address. Its RNG seed is derived from the simulation's
    /// seed, its handle and `config.seed`, so that every node draws differently and the run stays
    /// reproducible.
    pub fn add_node(&mut self, config: Config) -> NodeHandle {
        self.add_node_with(|_| config)
    }

    /// Like [`Sim::add_node`], with a config made from the node's address (for example to set
    /// `external_addr`).
    pub fn add_node_with(&mut self, config: impl FnOnce(SocketAddr) -> Config) -> NodeHandle {
        let seed = mix(self.seed(), self.len() as u64);
        self.add_endpoint(|addr, now| {
            let mut config = config(addr);
            config.seed = mix(seed, config.seed);
            Node::new(config, now)
        })
    }

    /// Like [`Sim::add_node`], at a chosen address (for example several ports of one IP, as
    /// behind a NAT). Panics if the address was ever taken.
    pub fn add_node_at(&mut self, addr: SocketAddr, config: Config) -> NodeHandle {
        let seed = mix(mix(self.seed(), self.len() as u64), config.seed);
        self.add_endpoint_at(addr, |_, now| Node::new(Config { seed, ..config }, now))
    }

    /// Bootstraps `node` from the addresses of `contacts`.
    pub fn bootstrap(&mut self, node: NodeHandle, contacts: &[NodeHandle]) -> Option<QueryId> {
        let addrs: Vec<SocketAddr> = contacts.iter().map(|&c| self.addr(c)).collect();
        self.with(node, |n, now| n.bootstrap(now, &addrs))
    }

    /// Starts a get_peers lookup on `node`.
    pub fn get_peers(&mut self, node: NodeHandle, info_hash: Id) -> Option<QueryId> {
        self.with(node, |n, now| n.get_peers(now, info_hash))
    }

    /// Starts a get_peers lookup on `node` that also asks `via` from the start, as a one-shot
    /// lookup does with its bootstrap nodes ([`Node::get_peers_via`]).
    pub fn get_peers_via(
        &mut self,
        node: NodeHandle,
        info_hash: Id,
        via: &[NodeHandle],
    ) -> Option<QueryId> {
        let addrs: Vec<SocketAddr> = via.iter().map(|&c| self.addr(c)).collect();
        self.with(node, |n, now| n.get_peers_via(now, info_hash, &addrs))
    }

    /// Starts a find_node lookup on `node`.
    pub fn find_node(&mut self, node: NodeHandle, target: Id) -> Option<QueryId> {
        self.with(node, |n, now| n.find_node(now, target))
    }

    /// Announces `info_hash` from `node` (`port: None` uses the source port).
    pub fn announce(
        &mut self,
        node: NodeHandle,
        info_hash: Id,
        port: Option<u16>,
        keep: bool,
    ) -> Option<QueryId> {
        self.with(node, |n, now| n.announce(now, info_hash, port, keep))
    }

    /// Pings `target` from `node`.
    pub fn ping(&mut self, node: NodeHandle, target: NodeHandle) -> Option<QueryId> {
        let addr = self.addr(target);
        self.with(node, |n, now| n.ping(now, addr))
    }

    /// The node's id (`None` once it left).
    pub fn node_id(&self, node: NodeHandle) -> Option<Id> {
        self.endpoint(node).map(Node::id)
    }

    /// What `node` reported about `query` among its collected events.
    pub fn outcome(&self, node: NodeHandle, query: QueryId) -> QueryOutcome {
        let mut outcome = QueryOutcome::default();
        for (at, event) in self.events(node) {
            let finished = match event {
                Event::PeerFound { query: q, peer, .. } if *q == query => {
                    outcome.first_peer_at.get_or_insert(*at);
                    outcome.peers.push(*peer);
                    None
                }
                Event::LookupDone {
                    query: q,
                    kind,
                    stats,
                    closest,
                    ..
                } if *q == query => Some(Finished::Lookup {
                    kind: *kind,
                    stats: *stats,
                    closest: closest.clone(),
                }),
                Event::AnnounceDone {
                    query: q,
                    accepted,
                    stats,
                    ..
                } if *q == query => Some(Finished::Announce {
                    accepted: *accepted,
                    stats: *stats,
                }),
                Event::Bootstrapped {
                    query: q,
                    table_size,
                } if *q == query => Some(Finished::Bootstrapped {
                    table_size: *table_size,
                }),
                Event::Pong { query: q, id, .. } if *q == query => Some(Finished::Pong { id: *id }),
                _ => None,
            };
            if finished.is_some() && outcome.finished.is_none() {
                outcome.finished = finished;
                outcome.finished_at = Some(*at);
            }
        }
        outcome
    }

    /// Whether `node` reported the end of `query`: `outcome(node, query).finished.is_some()`,
    /// without copying anything (run loops ask it after every event).
    pub fn is_finished(&self, node: NodeHandle, query: QueryId) -> bool {
        self.events(node).any(|(_, event)| match event {
            Event::LookupDone { query: q, .. }
            | Event::AnnounceDone { query: q, .. }
            | Event::Bootstrapped { query: q, .. }
            | Event::Pong { query: q, .. } => *q == query,
            _ => false,
        })
    }

    /// Runs until `node` reports the end of `query` or `limit` passes; returns the outcome.
    pub fn wait(&mut self, node: NodeHandle, query: QueryId, limit: Duration) -> QueryOutcome {
        self.run_until(limit, |sim| sim.is_finished(node, query));
        self.outcome(node, query)
    }

    /// Runs until every `(node, query)` has finished or `limit` passes; returns the outcomes in
    /// the same order.
    pub fn wait_all(
        &mut self,
        queries: &[(NodeHandle, QueryId)],
        limit: Duration,
    ) -> Vec<QueryOutcome> {
        let mut pending: Vec<(NodeHandle, QueryId)> = queries.to_vec();
        self.run_until(limit, |sim| {
            pending.retain(|&(node, query)| !sim.is_finished(node, query));
            pending.is_empty()
        });
        queries
            .iter()
            .map(|&(node, query)| self.outcome(node, query))
            .collect()
    }

    /// Adds `count` nodes made by `config(i)` and joins them one after another, `spacing` apart:
    /// each newcomer bootstraps from up to `contacts` nodes drawn among the running ones that
    /// joined before it (the first one bootstraps from nobody). Returns their handles.
    pub fn join_nodes(
        &mut self,
        count: usize,
        mut config: impl FnMut(usize) -> Config,
        contacts: usize,
        spacing: Duration,
    ) -> Vec<NodeHandle> {
        let mut joined: Vec<NodeHandle> = Vec::with_capacity(count);
        for i in 0..count {
            let node = self.add_node(config(i));
            let mut chosen: Vec<NodeHandle> = Vec::new();
            // A few draws more than needed skip crashed or departed nodes without scanning all.
            for _ in 0..contacts.saturating_mul(8) {
                if chosen.len() == contacts || joined.is_empty() {
                    break;
                }
                let pick = joined[self.rng().below(joined.len() as u64) as usize];
                if self.is_running(pick) && !chosen.contains(&pick) {
                    chosen.push(pick);
                }
            }
            if !chosen.is_empty() {
                self.bootstrap(node, &chosen);
            }
            joined.push(node);
            self.run_for(spacing);
        }
        joined
    }
}
