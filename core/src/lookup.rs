//! One iterative lookup (find_node or get_peers): which candidates to ask next, when it is
//! done, and what it found. Pure bookkeeping; the node sends and times the requests.
//!
//! Bounds: at most `max_candidates` candidates, of which at most `max_per_ip` share one IP
//! address (loopback excepted), and [`MAX_PEERS_PER_LOOKUP`] distinct peers.

use crate::event::{LookupKind, LookupStats, QueryId};
use crate::id::Id;
use crate::krpc::NodeInfo;
use crate::routing::is_routable;
use std::collections::BTreeSet;
use std::net::SocketAddrV4;
use std::time::Instant;

/// Distinct peers a lookup tracks (and reports); later ones are not reported.
pub const MAX_PEERS_PER_LOOKUP: usize = 4096;
/// Longest write token we keep from a responder.
pub const MAX_TOKEN_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fresh,
    /// A request is out; `slow` once it passed the short timeout (it no longer holds a slot).
    InFlight {
        slow: bool,
    },
    Answered,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    /// `None` for bootstrap addresses whose id we learn from their answer.
    id: Option<Id>,
    addr: SocketAddrV4,
    /// Hops from the starting set; candidates at `max_rounds` are not asked.
    depth: u32,
    state: State,
    sends: u8,
    token: Option<Vec<u8>>,
}

/// Lookup tunables (from the node's config).
#[derive(Debug, Clone, Copy)]
pub struct LookupConfig {
    pub k: usize,
    pub alpha: usize,
    pub retries: u8,
    pub max_rounds: u32,
    pub max_candidates: usize,
    /// Candidates sharing one (non-loopback) IP address.
    pub max_per_ip: usize,
}

/// Where an announce stands once its lookup is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncePhase {
    /// `None`: implied port.
    pub port: Option<u16>,
    pub outstanding: usize,
    pub accepted: usize,
    pub started: bool,
}

/// One lookup.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub query: QueryId,
    pub kind: LookupKind,
    pub target: Id,
    pub started: Instant,
    pub stats: LookupStats,
    pub announce: Option<AnnouncePhase>,
    own: Id,
    config: LookupConfig,
    candidates: Vec<Candidate>,
    peers: BTreeSet<SocketAddrV4>,
}

/// A request the node should send for a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub addr: SocketAddrV4,
    pub id: Option<Id>,
}

impl Lookup {
    /// A lookup for `target` starting from `seeds` (nodes) and `routers` (addresses only).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        query: QueryId,
        kind: LookupKind,
        target: Id,
        own: Id,
        config: LookupConfig,
        seeds: &[NodeInfo],
        routers: &[SocketAddrV4],
        now: Instant,
    ) -> Self {
        let mut lookup = Lookup {
            query,
            kind,
            target,
            started: now,
            stats: LookupStats::default(),
            announce: None,
            own,
            config,
            candidates: Vec::new(),
            peers: BTreeSet::new(),
        };
        for addr in routers {
            lookup.add_candidate(None, *addr, 0);
        }
        for seed in seeds {
            lookup.add_candidate(Some(seed.id), seed.addr, 0);
        }
        lookup
    }

    fn sort_key(&self, c: &Candidate) -> (bool, Id) {
        match c.id {
            None => (false, Id::ZERO),
            Some(id) => (true, id.distance(&self.target)),
        }
    }

    fn add_candidate(&mut self, id: Option<Id>, addr: SocketAddrV4, depth: u32) {
        if id == Some(self.own) || !is_routable(&addr) {
            return;
        }
        if self
            .candidates
            .iter()
            .any(|c| c.addr == addr || (id.is_some() && c.id == id))
        {
            return;
        }
        if !addr.ip().is_loopback()
            && self
                .candidates
                .iter()
                .filter(|c| c.addr.ip() == addr.ip())
                .count()
                >= self.config.max_per_ip
        {
            // One host with many ports (or many ids) gets one voice in a lookup.
            return;
        }
        let new = Candidate {
            id,
            addr,
            depth,
            state: State::Fresh,
            sends: 0,
            token: None,
        };
        let key = self.sort_key(&new);
        let pos = self.candidates.partition_point(|c| self.sort_key(c) <= key);
        self.candidates.insert(pos, new);
        if self.candidates.len() > self.config.max_candidates {
            let victim = self
                .candidates
                .iter()
                .rposition(|c| !matches!(c.state, State::InFlight { .. }))
                .unwrap_or(pos);
            self.candidates.remove(victim);
        }
    }

    /// Whether a candidate counts among the k closest: not failed, not past the short timeout
    /// (a slow node's late answer is still taken, but nobody waits for it), and, if not asked
    /// yet, within the round limit.
    fn is_live(&self, c: &Candidate) -> bool {
        match c.state {
            State::Failed | State::InFlight { slow: true } => false,
            State::Fresh => c.depth < self.config.max_rounds,
            State::InFlight { slow: false } | State::Answered => true,
        }
    }

    /// Requests to send now: keeps `alpha` requests in flight among the k closest live
    /// candidates. The returned candidates are marked in flight.
    pub fn next_requests(&mut self) -> Vec<Request> {
        let mut busy = self
            .candidates
            .iter()
            .filter(|c| c.state == State::InFlight { slow: false })
            .count();
        let mut out = Vec::new();
        let mut live_seen = 0;
        for i in 0..self.candidates.len() {
            if busy >= self.config.alpha || live_seen >= self.config.k {
                break;
            }
            if !self.is_live(&self.candidates[i]) {
                continue;
            }
            live_seen += 1;
            let c = &mut self.candidates[i];
            if c.state == State::Fresh {
                c.state = State::InFlight { slow: false };
                c.sends += 1;
                busy += 1;
                self.stats.queried += 1;
                out.push(Request {
                    addr: c.addr,
                    id: c.id,
                });
            }
        }
        out
    }

    /// Whether the k closest live candidates have all answered (or none is left).
    pub fn is_done(&self) -> bool {
        self.candidates
            .iter()
            .filter(|c| self.is_live(c))
            .take(self.config.k)
            .all(|c| c.state == State::Answered)
    }

    fn find(&mut self, addr: SocketAddrV4) -> Option<&mut Candidate> {
        self.candidates.iter_mut().find(|c| c.addr == addr)
    }

    /// An answer from `addr` with its id, the nodes it named and its token. Returns whether the
    /// answer was expected (a candidate in flight).
    pub fn on_response(
        &mut self,
        addr: SocketAddrV4,
        id: Id,
        nodes: impl Iterator<Item = NodeInfo>,
        token: Option<&[u8]>,
    ) -> bool {
        let Some(pos) = self.candidates.iter().position(|c| c.addr == addr) else {
            return false;
        };
        let c = &mut self.candidates[pos];
        if !matches!(c.state, State::InFlight { .. }) {
            return false;
        }
        if c.id.is_some_and(|known| known != id) {
            // It answered under another id than the one we were told: not the node we wanted.
            c.state = State::Failed;
            self.stats.errors += 1;
            return true;
        }
        c.state = State::Answered;
        c.token = token
            .filter(|t| t.len() <= MAX_TOKEN_LEN)
            .map(<[u8]>::to_vec);
        let depth = c.depth + 1;
        self.stats.answered += 1;
        if c.id.is_none() {
            let mut c = self.candidates.remove(pos);
            if id == self.own {
                // A router that shares our id (a misconfigured restart): do not ask it again.
                c.state = State::Failed;
            }
            c.id = Some(id);
            if self.candidates.iter().any(|o| o.id == Some(id)) {
                c.id = None;
                c.state = State::Failed;
            }
            let key = self.sort_key(&c);
            let at = self.candidates.partition_point(|o| self.sort_key(o) <= key);
            self.candidates.insert(at, c);
        }
        for node in nodes {
            self.add_candidate(Some(node.id), node.addr, depth);
        }
        true
    }

    /// Records peers from a get_peers answer; returns the ones not seen before.
    pub fn add_peers(
        &mut self,
        peers: impl Iterator<Item = SocketAddrV4>,
        now: Instant,
    ) -> Vec<SocketAddrV4> {
        let mut fresh = Vec::new();
        for peer in peers {
            if !is_routable(&peer) || self.peers.len() >= MAX_PEERS_PER_LOOKUP {
                continue;
            }
            if self.peers.insert(peer) {
                fresh.push(peer);
            }
        }
        if !fresh.is_empty() && self.stats.time_to_first_peer.is_none() {
            self.stats.time_to_first_peer = Some(now.saturating_duration_since(self.started));
        }
        self.stats.peers = self.peers.len() as u32;
        fresh
    }

    /// The request to `addr` passed the short timeout: it stops holding a slot.
    pub fn on_short_timeout(&mut self, addr: SocketAddrV4) {
        if let Some(c) = self.find(addr)
            && c.state == (State::InFlight { slow: false })
        {
            c.state = State::InFlight { slow: true };
        }
    }

    /// The request to `addr` reached the full timeout. Returns `true` when it should be sent
    /// again (the candidate stays in flight).
    pub fn on_timeout(&mut self, addr: SocketAddrV4) -> bool {
        let retries = self.config.retries;
        let Some(c) = self.candidates.iter_mut().find(|c| c.addr == addr) else {
            return false;
        };
        if !matches!(c.state, State::InFlight { .. }) {
            return false;
        }
        let retry = c.sends <= retries;
        if retry {
            c.sends += 1;
            c.state = State::InFlight { slow: false };
            self.stats.queried += 1;
        } else {
            c.state = State::Failed;
        }
        self.stats.timed_out += 1;
        retry
    }

    /// `addr` answered with an error, or could not be asked.
    pub fn on_error(&mut self, addr: SocketAddrV4) {
        if let Some(c) = self.find(addr)
            && matches!(c.state, State::InFlight { .. })
        {
            c.state = State::Failed;
            self.stats.errors += 1;
        }
    }

    /// The closest answering nodes, up to k, closest first.
    pub fn closest(&self) -> Vec<NodeInfo> {
        self.answered().map(|(info, _)| info).collect()
    }

    /// The closest answering nodes that gave a token, up to k, with their tokens.
    pub fn closest_with_tokens(&self) -> Vec<(NodeInfo, Vec<u8>)> {
        self.answered()
            .filter_map(|(info, token)| Some((info, token?.to_vec())))
            .collect()
    }

    fn answered(&self) -> impl Iterator<Item = (NodeInfo, Option<&[u8]>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .filter_map(|c| {
                Some((
                    NodeInfo {
                        id: c.id?,
                        addr: c.addr,
                    },
                    c.token.as_deref(),
                ))
            })
            .take(self.config.k)
    }
}
