//! One iterative lookup (find_node or get_peers): which candidates to ask next, when it is
//! done, and what it found. Pure bookkeeping; the node sends and times the requests.
//!
//! The window is the k closest live candidates (not failed, not past their short timeout).
//! Up to alpha requests are in flight inside it, and requests to nodes that have left it hold
//! no slot. Once the window has converged (its alpha closest have answered), every candidate
//! in it not yet asked is asked at once. Among those waiting their turn, the nearest bit
//! distance goes first, then nodes known to answer, then the lowest measured RTT.
//!
//! A lookup ends when the whole window has answered, except that a get_peers lookup ends once
//! it holds peers and [`EARLY_QUORUM`] of the window's [`EARLY_CLOSEST`] closest have
//! answered: the nodes storing a key are its closest, so by then the remaining answers rarely
//! add a peer and only add the wait for the slowest of them, and one lost datagram among the
//! closest does not hold the lookup for a short timeout. Announces, bootstraps and refreshes
//! keep the strict rule (an announce needs the tokens of the whole window). A get_peers lookup
//! whose whole window answered without a peer widens once, to the 2k closest, before it ends:
//! on a network whose tables are still forming (a fresh libtorrent swarm on loopback), the
//! nodes storing a key can lie just past the k closest a lookup finds; the cost, k more
//! requests, falls only on lookups that would otherwise have found nothing. The window of an
//! announce's or a put's lookup holds the `replicas` closest instead (2k by default), the nodes
//! it then stores at: a key kept one bit farther out is met a hop sooner by the lookups for it.
//!
//! Candidates of both address families (BEP 32) share one lookup, but each family has its own
//! window: the k closest IPv4 nodes and the k closest IPv6 nodes are asked, announced to and
//! reported, as two lookups over two routing tables would, with one id and one set of events.
//! A family without candidates has an empty window, which is done.
//!
//! Bounds: at most `max_candidates` candidates, of which at most `max_per_ip` share one IP
//! address (loopback excepted), and [`MAX_PEERS_PER_LOOKUP`] distinct peers.

use crate::event::{LookupKind, LookupStats, QueryId};
use crate::id::Id;
use crate::krpc::NodeInfo;
use crate::routing::is_routable;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Distinct peers a lookup tracks (and reports); later ones are not reported.
pub const MAX_PEERS_PER_LOOKUP: usize = 4096;
/// Longest write token we keep from a responder.
pub const MAX_TOKEN_LEN: usize = 64;
/// Answers among the window's [`EARLY_CLOSEST`] closest that end a get_peers lookup that
/// holds peers.
pub const EARLY_QUORUM: usize = 3;
/// How many of the window's closest the [`EARLY_QUORUM`] is counted among.
pub const EARLY_CLOSEST: usize = EARLY_QUORUM + 1;

/// What our routing table knows of a node, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Standing {
    /// It answered us and has failed nothing since.
    Answers,
    /// Never asked, or not in the table.
    #[default]
    Unknown,
    /// It failed to answer lately.
    Failing,
}

/// What the routing table tells a lookup about a candidate, to order its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hint {
    pub standing: Standing,
    /// Its smoothed round-trip time, if measured.
    pub rtt: Option<Duration>,
}

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
    /// Where it sorts: [`rank`] of its id; kept with it because every insertion searches.
    rank: Rank,
    addr: SocketAddr,
    /// Hops from the starting set; candidates at `max_rounds` are not asked.
    depth: u32,
    state: State,
    sends: u8,
    token: Option<Vec<u8>>,
    hint: Hint,
}

/// A candidate's place in the list: id-less ones first, then by XOR distance to the target,
/// as big-endian words (the distance's byte order, compared without `memcmp`).
type Rank = (bool, u128, u32);

fn rank(id: Option<Id>, target: &Id) -> Rank {
    let Some(id) = id else {
        return (false, 0, 0);
    };
    let (high, low) = id.distance_key(target);
    (true, high, low)
}

/// How many candidates share `addr`'s IP address, or `None` if one has `addr` itself. Matches
/// the family once, so the loop compares plain addresses.
fn same_ip_unless_known(candidates: &[Candidate], addr: SocketAddr) -> Option<usize> {
    let mut same_ip = 0;
    match addr {
        SocketAddr::V4(addr) => {
            for c in candidates {
                if let SocketAddr::V4(other) = c.addr {
                    if other == addr {
                        return None;
                    }
                    same_ip += usize::from(other.ip() == addr.ip());
                }
            }
        }
        SocketAddr::V6(addr) => {
            for c in candidates {
                if let SocketAddr::V6(other) = c.addr {
                    if other == addr {
                        return None;
                    }
                    same_ip += usize::from(other.ip() == addr.ip());
                }
            }
        }
    }
    Some(same_ip)
}

/// Lookup tunables (from the node's config).
#[derive(Debug, Clone, Copy)]
pub struct LookupConfig {
    pub k: usize,
    pub alpha: usize,
    pub retries: u8,
    pub max_rounds: u32,
    /// The window of an announce's or a put's lookup, whose nodes store the key (at least k).
    pub replicas: usize,
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
    /// Candidates of each family, IPv4 then IPv6: a family with none is skipped unread.
    per_family: [usize; 2],
    /// Reused for the window's positions, so that choosing requests allocates nothing.
    scratch: Vec<usize>,
    /// The window's size: k, or 2k once a get_peers lookup has widened, or the replicas of an
    /// announce or a put (see the module docs).
    window_size: usize,
    peers: BTreeSet<SocketAddr>,
}

/// A request the node should send for a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub addr: SocketAddr,
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
        seeds: &[(NodeInfo, Hint)],
        routers: &[SocketAddr],
        now: Instant,
    ) -> Self {
        // Grown one by one, the list would be reallocated about seven times per lookup.
        let candidates = Vec::with_capacity(config.max_candidates.min(64));
        let mut lookup = Lookup {
            query,
            kind,
            target,
            started: now,
            stats: LookupStats::default(),
            announce: None,
            own,
            config,
            candidates,
            per_family: [0; 2],
            scratch: Vec::new(),
            window_size: match kind {
                LookupKind::Announce | LookupKind::Put => config.replicas.max(config.k),
                _ => config.k,
            },
            peers: BTreeSet::new(),
        };
        for addr in routers {
            lookup.add_candidate(None, *addr, 0, Hint::default());
        }
        for (seed, hint) in seeds {
            lookup.add_candidate(Some(seed.id), seed.addr, 0, *hint);
        }
        lookup
    }

    fn add_candidate(&mut self, id: Option<Id>, addr: SocketAddr, depth: u32, hint: Hint) {
        if id == Some(self.own) || !is_routable(&addr) {
            return;
        }
        // The candidates are sorted by key and no two share an id: a known id sits where its
        // key would go, found by binary search instead of comparing every id.
        let key = rank(id, &self.target);
        let first = self.candidates.partition_point(|c| c.rank < key);
        if id.is_some() && self.candidates.get(first).is_some_and(|c| c.id == id) {
            return;
        }
        let Some(same_ip) = same_ip_unless_known(&self.candidates, addr) else {
            return;
        };
        if !addr.ip().is_loopback() && same_ip >= self.config.max_per_ip {
            // One host with many ports (or many ids) gets one voice in a lookup.
            return;
        }
        let new = Candidate {
            id,
            rank: key,
            addr,
            depth,
            state: State::Fresh,
            sends: 0,
            token: None,
            hint,
        };
        // After any equal keys (only id-less candidates share one).
        let pos = match id {
            Some(_) => first,
            None => self.candidates.partition_point(|c| c.rank <= key),
        };
        self.candidates.insert(pos, new);
        self.per_family[usize::from(addr.is_ipv6())] += 1;
        if self.candidates.len() > self.config.max_candidates {
            let victim = self
                .candidates
                .iter()
                .rposition(|c| !matches!(c.state, State::InFlight { .. }))
                .unwrap_or(pos);
            let gone = self.candidates.remove(victim);
            self.per_family[usize::from(gone.addr.is_ipv6())] -= 1;
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

    /// The positions of a family's window: its k closest live candidates.
    fn window(&self, v6: bool) -> impl Iterator<Item = usize> + '_ {
        let end = if self.per_family[usize::from(v6)] == 0 {
            0
        } else {
            self.candidates.len()
        };
        (0..end)
            .filter(move |&i| {
                let c = &self.candidates[i];
                c.addr.is_ipv6() == v6 && self.is_live(c)
            })
            .take(self.window_size)
    }

    /// Which waiting candidate to ask first (smallest first).
    fn turn(&self, i: usize) -> (u32, Standing, Duration, usize) {
        let c = &self.candidates[i];
        let bits =
            c.id.map_or(u32::MAX, |id| id.common_prefix_len(&self.target));
        let rtt = c.hint.rtt.unwrap_or(Duration::MAX);
        (u32::MAX - bits, c.hint.standing, rtt, i)
    }

    /// Requests to send now (see the module docs). The returned candidates are marked in
    /// flight.
    pub fn next_requests(&mut self) -> Vec<Request> {
        if self.window_size == self.config.k
            && self.kind == LookupKind::GetPeers
            && self.peers.is_empty()
            && self.is_done()
        {
            // The k closest answered and none holds the key: on a network whose tables are
            // still forming, the nodes storing it may lie just past them.
            self.window_size = self.config.k * 2;
            self.stats.widened = true;
        }
        let mut out = Vec::new();
        self.next_requests_of(false, &mut out);
        self.next_requests_of(true, &mut out);
        out
    }

    fn next_requests_of(&mut self, v6: bool, out: &mut Vec<Request>) {
        let mut window = std::mem::take(&mut self.scratch);
        window.clear();
        window.extend(self.window(v6));
        let busy = window
            .iter()
            .filter(|&&i| self.candidates[i].state == State::InFlight { slow: false })
            .count();
        let converged = !window.is_empty()
            && window
                .iter()
                .take(self.config.alpha)
                .all(|&i| self.candidates[i].state == State::Answered);
        let room = if converged {
            window.len()
        } else {
            self.config.alpha.saturating_sub(busy)
        };
        // What is left of the window: its candidates not asked yet.
        window.retain(|&i| self.candidates[i].state == State::Fresh);
        if window.len() > room {
            window.sort_unstable_by_key(|&i| self.turn(i));
            window.truncate(room);
        }
        for &i in &window {
            let c = &mut self.candidates[i];
            c.state = State::InFlight { slow: false };
            c.sends += 1;
            self.stats.queried += 1;
            out.push(Request {
                addr: c.addr,
                id: c.id,
            });
        }
        self.scratch = window;
    }

    /// Whether the lookup is over (see the module docs for the rule).
    pub fn is_done(&self) -> bool {
        let answered = |i: usize| self.candidates[i].state == State::Answered;
        let early = self.kind == LookupKind::GetPeers && !self.peers.is_empty();
        [false, true].into_iter().all(|v6| {
            if self.per_family[usize::from(v6)] == 0 {
                return true;
            }
            if self.window(v6).next().is_none() {
                // Nobody live is left, but a request past its short timeout may still answer:
                // a lookup that started with a few nodes (one-shot, just joined) would
                // otherwise end with nothing because its first round trips ran long.
                return !self
                    .candidates
                    .iter()
                    .any(|c| c.addr.is_ipv6() == v6 && c.state == State::InFlight { slow: true });
            }
            if early {
                let (mut closest, mut answers) = (0, 0);
                for i in self.window(v6).take(EARLY_CLOSEST) {
                    closest += 1;
                    answers += usize::from(answered(i));
                }
                answers >= EARLY_QUORUM.min(closest)
            } else {
                self.window(v6).all(answered)
            }
        })
    }

    fn find(&mut self, addr: SocketAddr) -> Option<&mut Candidate> {
        self.candidates.iter_mut().find(|c| c.addr == addr)
    }

    /// An answer from `addr` with its id, the nodes it named and its token. Returns whether the
    /// answer was expected (a candidate in flight).
    pub fn on_response(
        &mut self,
        addr: SocketAddr,
        id: Id,
        nodes: impl Iterator<Item = (NodeInfo, Hint)>,
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
            c.rank = rank(c.id, &self.target);
            let key = c.rank;
            let at = self.candidates.partition_point(|o| o.rank <= key);
            self.candidates.insert(at, c);
        }
        for (node, hint) in nodes {
            self.add_candidate(Some(node.id), node.addr, depth, hint);
        }
        true
    }

    /// Records peers from a get_peers answer; returns the ones not seen before.
    pub fn add_peers(
        &mut self,
        peers: impl Iterator<Item = SocketAddr>,
        now: Instant,
    ) -> Vec<SocketAddr> {
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
    pub fn on_short_timeout(&mut self, addr: SocketAddr) {
        if let Some(c) = self.find(addr)
            && c.state == (State::InFlight { slow: false })
        {
            c.state = State::InFlight { slow: true };
            self.stats.short_timeouts += 1;
        }
    }

    /// The request to `addr` reached the full timeout. Returns `true` when it should be sent
    /// again (the candidate stays in flight).
    pub fn on_timeout(&mut self, addr: SocketAddr) -> bool {
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
    pub fn on_error(&mut self, addr: SocketAddr) {
        if let Some(c) = self.find(addr)
            && matches!(c.state, State::InFlight { .. })
        {
            c.state = State::Failed;
            self.stats.errors += 1;
        }
    }

    /// The closest answering nodes, up to k of each family, closest first.
    pub fn closest(&self) -> Vec<NodeInfo> {
        self.answered(self.config.k).map(|(info, _)| info).collect()
    }

    /// The nodes to store at, with their tokens: the closest answering nodes that gave a
    /// token, up to the window's size of each family (the replicas of an announce or a put).
    pub fn closest_with_tokens(&self) -> Vec<(NodeInfo, Vec<u8>)> {
        self.answered(self.window_size)
            .filter_map(|(info, token)| Some((info, token?.to_vec())))
            .collect()
    }

    /// Each family's closest answering nodes (up to `count` of each), IPv4 first.
    fn answered(&self, count: usize) -> impl Iterator<Item = (NodeInfo, Option<&[u8]>)> {
        self.answered_of(false, count)
            .chain(self.answered_of(true, count))
    }

    fn answered_of(
        &self,
        v6: bool,
        count: usize,
    ) -> impl Iterator<Item = (NodeInfo, Option<&[u8]>)> {
        self.candidates
            .iter()
            .filter(move |c| c.state == State::Answered && c.addr.is_ipv6() == v6)
            .filter_map(|c| {
                Some((
                    NodeInfo {
                        id: c.id?,
                        addr: c.addr,
                    },
                    c.token.as_deref(),
                ))
            })
            .take(count)
    }
}
