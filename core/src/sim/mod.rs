//! A deterministic network simulator: many sans-IO endpoints (normally [`Node`]s) in one
//! process, on a virtual clock, over a seeded lossy network.
//!
//! Nothing here reads the clock after start-up (one `Instant` is taken as the base of the
//! virtual timeline), spawns a thread or sends a packet: every node gets a virtual IPv4 address
//! (`10.x.y.z:6881`), every datagram a fate drawn from the seed (per-link latency, jitter, loss,
//! duplication, reordering), and the simulation advances by popping the earliest due item
//! (a delivery or a node's deadline) off one agenda. The same seed and the same calls give the
//! same [`Trace`], bit for bit; [`seed_from_env`] lets `SEED=<n>` replay a run, and a [`Sim`]
//! dropped during a panic prints its seed.
//!
//! ```
//! use std::time::Duration;
//! use tokengo_core::sim::{NetConfig, Sim};
//! use tokengo_core::{Config, Id};
//!
//! let mut sim = Sim::new(7, NetConfig::default());
//! let seed = sim.add_node(Config::default());
//! let peer = sim.add_node(Config::default());
//! sim.bootstrap(peer, &[seed]);
//! sim.run_for(Duration::from_secs(10));
//! let key = Id([1; 20]);
//! let query = sim.get_peers(seed, key).unwrap();
//! let outcome = sim.wait(seed, query, Duration::from_secs(60));
//! let _ = (outcome.finished, outcome.peers);
//! ```

mod dht;
mod endpoint;
mod network;
mod queue;
mod seed;
mod trace;

pub use dht::{Finished, QueryOutcome};
pub use endpoint::Endpoint;
pub use network::NetConfig;
pub use seed::{SEED_VAR, SeedGuard, seed_from_env};
pub use trace::{NodeHandle, Trace, TraceEntry, TraceRecord};

use crate::Node;
use crate::rng::Rng;
use network::{Fate, NetModel};
use queue::{Agenda, Due};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// The port every simulated node listens on.
pub const SIM_PORT: u16 = 6881;
/// Default bound of each node's collected events (the oldest are dropped beyond it).
pub const DEFAULT_INBOX_CAPACITY: usize = 4096;
/// Default bound of the trace's kept records (the digest still covers everything).
pub const DEFAULT_TRACE_CAPACITY: usize = 1 << 20;
/// How long a NAT keeps a mapping open after the node behind it last sent through it.
pub const NAT_MAPPING_LIFETIME: Duration = Duration::from_secs(60);
/// Mappings a NAT holds before it forgets the expired ones.
const NAT_PRUNE_AT: usize = 4096;
/// Deadlines in a row that a node leaves in the past at one instant before the simulator
/// pushes its timer 1 ms ahead (and counts a stuck timer) instead of spinning forever.
const MAX_TIMER_SPINS: u32 = 64;

/// Counters of what the simulated network and clock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagram copies handed to a running node.
    pub delivered: u64,
    /// Datagrams the network lost.
    pub lost: u64,
    /// Datagrams the network delivered twice.
    pub duplicated: u64,
    /// Datagrams the network held back (reordered).
    pub reordered: u64,
    /// Datagram copies addressed to a crashed, departed or unknown node.
    pub vanished: u64,
    /// Datagram copies a node behind NAT never got: unsolicited (no recent datagram of its own
    /// to their sender).
    pub nat_dropped: u64,
    /// Node deadlines that fired.
    pub timers_fired: u64,
    /// Times a node kept asking to be woken at an instant already handled (a node bug).
    pub stuck_timers: u64,
    /// Events nodes reported.
    pub events: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Running,
    Crashed,
    Left,
}

#[derive(Debug)]
struct Slot<N: Endpoint> {
    addr: SocketAddr,
    status: Status,
    endpoint: Option<N>,
    /// The node's deadline, and the agenda sequence number reserved when it was set.
    timer_at: Option<u64>,
    timer_seq: u64,
    /// The node's one wake-up that counts on the agenda (others there are stale): never later
    /// than `timer_at`; an early one re-queues itself for `timer_at`, so that a deadline moved
    /// later costs no push (most answers move a node's deadline later).
    wake: Option<(u64, u64)>,
    spins: u32,
    inbox: VecDeque<(Duration, N::Event)>,
    inbox_dropped: u64,
    /// Behind NAT: the addresses it sent to, with when each mapping expires.
    nat: Option<HashMap<SocketAddr, u64>>,
}

/// The simulation: endpoints, the virtual clock, the agenda, the network model and the trace.
#[derive(Debug)]
pub struct Sim<N: Endpoint = Node> {
    seed: u64,
    base: Instant,
    now_nanos: u64,
    agenda: Agenda,
    net: NetModel,
    rng: Rng,
    slots: Vec<Slot<N>>,
    by_addr: HashMap<SocketAddr, usize>,
    next_ip: u32,
    trace: Trace<N::Event>,
    inbox_capacity: usize,
    stats: SimStats,
    transmit_scratch: Vec<crate::Transmit>,
}

impl<N: Endpoint> Sim<N> {
    /// A simulation of no nodes at virtual time zero.
    pub fn new(seed: u64, net: NetConfig) -> Self {
        // The base sits a year after the real clock's reading so that a node subtracting long
        // durations from `now` never reaches before the platform's epoch.
        let base = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        Sim {
            seed,
            base,
            now_nanos: 0,
            agenda: Agenda::default(),
            net: NetModel::new(net, seed),
            rng: Rng::new(seed::mix(seed, 0x7363_656e)),
            slots: Vec::new(),
            by_addr: HashMap::new(),
            next_ip: u32::from(Ipv4Addr::new(10, 0, 0, 0)),
            trace: Trace::new(DEFAULT_TRACE_CAPACITY),
            inbox_capacity: DEFAULT_INBOX_CAPACITY,
            stats: SimStats::default(),
            transmit_scratch: Vec::new(),
        }
    }

    /// Keeps at most `capacity` trace records (the digest still covers every one).
    pub fn set_trace_capacity(&mut self, capacity: usize) {
        self.trace = Trace::new(capacity);
    }

    /// Keeps at most `capacity` events per node (older ones are dropped).
    pub fn set_inbox_capacity(&mut self, capacity: usize) {
        self.inbox_capacity = capacity.max(1);
    }

    /// The simulation's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.now_nanos)
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now_nanos)
    }

    /// The network conditions in force.
    pub fn net(&self) -> &NetConfig {
        self.net.config()
    }

    /// Changes the network conditions for datagrams sent from now on.
    pub fn set_net(&mut self, net: NetConfig) {
        self.net.set_config(net);
    }

    /// The fixed one-way latency of the link between two addresses.
    pub fn link_latency(&self, a: SocketAddr, b: SocketAddr) -> Duration {
        self.net.link_latency(a, b)
    }

    /// A seeded RNG for the scenario's own choices (which node asks, which key), separate from
    /// the network's draws.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Counters of the network and the clock.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Items waiting on the agenda (deliveries in flight plus timers, stale ones included).
    pub fn pending(&self) -> usize {
        self.agenda.len()
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace<N::Event> {
        &self.trace
    }

    /// Adds an endpoint at the next free virtual address; `make` gets the address and the
    /// current instant. Its first deadline is scheduled at once.
    pub fn add_endpoint(&mut self, make: impl FnOnce(SocketAddr, Instant) -> N) -> NodeHandle {
        let addr = self.next_addr();
        self.add_endpoint_at(addr, make)
    }

    /// Adds an endpoint at `addr`. Panics if a node (running, crashed or departed) already holds
    /// it: virtual addresses are never reused, so that stale datagrams cannot reach a newcomer.
    pub fn add_endpoint_at(
        &mut self,
        addr: SocketAddr,
        make: impl FnOnce(SocketAddr, Instant) -> N,
    ) -> NodeHandle {
        assert!(!self.by_addr.contains_key(&addr), "address {addr} is taken");
        let index = self.slots.len();
        let endpoint = make(addr, self.now());
        self.slots.push(Slot {
            addr,
            status: Status::Running,
            endpoint: Some(endpoint),
            timer_at: None,
            timer_seq: 0,
            wake: None,
            spins: 0,
            inbox: VecDeque::new(),
            inbox_dropped: 0,
            nat: None,
        });
        self.by_addr.insert(addr, index);
        let handle = NodeHandle(index);
        self.trace
            .record(self.elapsed(), handle, TraceEntry::Joined(addr));
        self.settle(index, false);
        handle
    }

    fn next_addr(&mut self) -> SocketAddr {
        loop {
            self.next_ip = self.next_ip.wrapping_add(1);
            let ip = Ipv4Addr::from_bits(self.next_ip);
            let last = ip.octets()[3];
            if last != 0 && last != 255 {
                let addr = SocketAddr::V4(SocketAddrV4::new(ip, SIM_PORT));
                if !self.by_addr.contains_key(&addr) {
                    return addr;
                }
            }
        }
    }

    /// Every node ever added, in order.
    pub fn handles(&self) -> impl Iterator<Item = NodeHandle> + '_ {
        (0..self.slots.len()).map(NodeHandle)
    }

    /// The nodes still running.
    pub fn running(&self) -> impl Iterator<Item = NodeHandle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.status == Status::Running)
            .map(|(i, _)| NodeHandle(i))
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` before the first node is added.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The node's virtual address.
    pub fn addr(&self, node: NodeHandle) -> SocketAddr {
        self.slots[node.0].addr
    }

    /// The node at `addr`, whatever its status.
    pub fn node_at(&self, addr: SocketAddr) -> Option<NodeHandle> {
        self.by_addr.get(&addr).copied().map(NodeHandle)
    }

    /// `true` while the node neither crashed nor left.
    pub fn is_running(&self, node: NodeHandle) -> bool {
        self.slots
            .get(node.0)
            .is_some_and(|s| s.status == Status::Running)
    }

    /// The endpoint, for inspection (crashed nodes stay inspectable; departed ones are gone).
    pub fn endpoint(&self, node: NodeHandle) -> Option<&N> {
        self.slots.get(node.0).and_then(|s| s.endpoint.as_ref())
    }

    /// Calls `f` on a running node with the current instant (to issue a command), then sends
    /// what it queued and collects its events. `None` if the node is not running.
    pub fn with<R>(&mut self, node: NodeHandle, f: impl FnOnce(&mut N, Instant) -> R) -> Option<R> {
        let now = self.now();
        let slot = self.slots.get_mut(node.0)?;
        if slot.status != Status::Running {
            return None;
        }
        let result = f(slot.endpoint.as_mut()?, now);
        self.settle(node.0, false);
        Some(result)
    }

    /// Puts a node behind a NAT: from now on it receives a datagram only from an address it
    /// sent one to within [`NAT_MAPPING_LIFETIME`]. It can query anyone; nobody can reach it
    /// unsolicited.
    pub fn put_behind_nat(&mut self, node: NodeHandle) {
        if let Some(slot) = self.slots.get_mut(node.0) {
            slot.nat.get_or_insert_with(HashMap::new);
        }
    }

    /// Crashes a node: it processes nothing more and datagrams to it vanish; its state stays
    /// inspectable.
    pub fn crash(&mut self, node: NodeHandle) {
        if self.set_stopped(node, Status::Crashed) {
            self.trace.record(self.elapsed(), node, TraceEntry::Crashed);
        }
    }

    /// Removes a node gracefully (its endpoint is dropped); datagrams to it vanish.
    pub fn leave(&mut self, node: NodeHandle) {
        if self.set_stopped(node, Status::Left) {
            self.slots[node.0].endpoint = None;
            self.trace.record(self.elapsed(), node, TraceEntry::Left);
        }
    }

    fn set_stopped(&mut self, node: NodeHandle, status: Status) -> bool {
        match self.slots.get_mut(node.0) {
            Some(slot) if slot.status == Status::Running => {
                slot.status = status;
                slot.timer_at = None;
                true
            }
            _ => false,
        }
    }

    /// The events a node reported and that were not taken yet, with their virtual times.
    pub fn events(&self, node: NodeHandle) -> impl Iterator<Item = &(Duration, N::Event)> + '_ {
        self.slots
            .get(node.0)
            .into_iter()
            .flat_map(|s| s.inbox.iter())
    }

    /// Takes the node's collected events.
    pub fn take_events(&mut self, node: NodeHandle) -> Vec<(Duration, N::Event)> {
        self.slots
            .get_mut(node.0)
            .map(|s| s.inbox.drain(..).collect())
            .unwrap_or_default()
    }

    /// Events dropped from the node's full inbox.
    pub fn events_dropped(&self, node: NodeHandle) -> u64 {
        self.slots.get(node.0).map_or(0, |s| s.inbox_dropped)
    }

    /// Processes the earliest due item. `false` when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let Some((at, due)) = self.agenda.pop() else {
            return false;
        };
        debug_assert!(at >= self.now_nanos, "the agenda went back in time");
        self.now_nanos = self.now_nanos.max(at);
        match due {
            Due::Delivery { from, to, payload } => self.deliver(from, to, &payload),
            Due::Timer { node, seq } => self.fire(node, at, seq),
        }
        true
    }

    /// Runs everything due within `duration`, then sets the clock to its end.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now_nanos.saturating_add(nanos(duration));
        while self.agenda.peek_time().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now_nanos = end;
    }

    /// Runs until `done` holds (checked at the start and after every step in which a node
    /// reported an event) or `limit` of virtual time has passed. Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        if done(self) {
            return true;
        }
        let end = self.now_nanos.saturating_add(nanos(limit));
        while self.agenda.peek_time().is_some_and(|t| t <= end) {
            let events = self.stats.events;
            self.step();
            if self.stats.events != events && done(self) {
                return true;
            }
        }
        self.now_nanos = end;
        false
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        let now = self.now();
        let target = self.by_addr.get(&to).copied();
        let now_nanos = self.now_nanos;
        if let Some(nat) = target.and_then(|i| self.slots[i].nat.as_ref())
            && nat.get(&from).is_none_or(|&until| until < now_nanos)
        {
            self.stats.nat_dropped += 1;
            return;
        }
        let running = target.and_then(|i| {
            let slot = &mut self.slots[i];
            (slot.status == Status::Running).then_some(())?;
            slot.endpoint.as_mut().map(|ep| (i, ep))
        });
        match running {
            Some((index, endpoint)) => {
                endpoint.handle_input(now, from, payload);
                self.stats.delivered += 1;
                self.settle(index, false);
            }
            None => self.stats.vanished += 1,
        }
    }

    fn fire(&mut self, index: usize, at: u64, seq: u64) {
        let now = self.now();
        let slot = &mut self.slots[index];
        if slot.status != Status::Running || slot.wake != Some((at, seq)) {
            return;
        }
        slot.wake = None;
        match slot.timer_at {
            Some(deadline) if (deadline, slot.timer_seq) == (at, seq) => {}
            Some(deadline) => {
                // The deadline moved later since this wake-up was queued.
                let seq = slot.timer_seq;
                slot.wake = Some((deadline, seq));
                self.agenda
                    .push_reserved(deadline, seq, Due::Timer { node: index, seq });
                return;
            }
            None => return,
        }
        slot.timer_at = None;
        let Some(endpoint) = slot.endpoint.as_mut() else {
            return;
        };
        endpoint.handle_timeout(now);
        self.stats.timers_fired += 1;
        self.trace.timer(self.elapsed(), NodeHandle(index));
        self.settle(index, true);
    }

    /// After any call into a node: send its datagrams, collect its events, reschedule its timer.
    fn settle(&mut self, index: usize, after_timer: bool) {
        let at = self.elapsed();
        let handle = NodeHandle(index);
        let slot = &mut self.slots[index];
        let Some(endpoint) = slot.endpoint.as_mut() else {
            return;
        };
        let mut transmits = std::mem::take(&mut self.transmit_scratch);
        while let Some(transmit) = endpoint.poll_transmit() {
            transmits.push(transmit);
        }
        while let Some(event) = endpoint.poll_event() {
            self.stats.events += 1;
            if slot.inbox.len() >= self.inbox_capacity {
                slot.inbox.pop_front();
                slot.inbox_dropped += 1;
            }
            self.trace
                .record(at, handle, TraceEntry::Event(event.clone()));
            slot.inbox.push_back((at, event));
        }
        let deadline = endpoint
            .poll_timeout()
            .map(|t| nanos(t.saturating_duration_since(self.base)));
        self.schedule(index, deadline, after_timer);
        let now_nanos = self.now_nanos;
        let slot = &mut self.slots[index];
        if let Some(nat) = slot.nat.as_mut() {
            if nat.len() >= NAT_PRUNE_AT {
                nat.retain(|_, until| *until >= now_nanos);
            }
            let until = now_nanos + nanos(NAT_MAPPING_LIFETIME);
            for transmit in &transmits {
                nat.insert(transmit.to, until);
            }
        }
        let from = slot.addr;
        for transmit in transmits.drain(..) {
            self.send(from, transmit.to, transmit.payload);
        }
        self.transmit_scratch = transmits;
    }

    fn schedule(&mut self, index: usize, deadline: Option<u64>, after_timer: bool) {
        let now = self.now_nanos;
        let slot = &mut self.slots[index];
        let Some(mut at) = deadline else {
            slot.timer_at = None;
            return;
        };
        if at <= now && after_timer {
            slot.spins += 1;
            if slot.spins > MAX_TIMER_SPINS {
                self.stats.stuck_timers += 1;
                slot.spins = 0;
                at = now + 1_000_000;
            }
        } else if at > now {
            slot.spins = 0;
        }
        let at = at.max(now);
        if slot.timer_at != Some(at) {
            // The sequence number is taken whether or not a wake-up is queued, so that ties
            // at one instant resolve as if every deadline change had been queued.
            let seq = self.agenda.reserve();
            slot.timer_at = Some(at);
            slot.timer_seq = seq;
            if slot.wake.is_none_or(|(wake, _)| wake >= at) {
                slot.wake = Some((at, seq));
                self.agenda
                    .push_reserved(at, seq, Due::Timer { node: index, seq });
            }
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, payload: Vec<u8>) {
        self.stats.sent += 1;
        let at = self.elapsed();
        match self.net.fate(from, to) {
            Fate::Lost => {
                self.stats.lost += 1;
                self.trace.datagram(at, from, to, &payload, 0);
            }
            Fate::Delivered { delay, reordered } => {
                self.stats.reordered += u64::from(reordered);
                self.trace.datagram(at, from, to, &payload, 1);
                self.agenda.push(
                    self.now_nanos + nanos(delay),
                    Due::Delivery { from, to, payload },
                );
            }
            Fate::Duplicated { first, second } => {
                self.stats.duplicated += 1;
                self.trace.datagram(at, from, to, &payload, 2);
                let copy = payload.clone();
                self.agenda.push(
                    self.now_nanos + nanos(first),
                    Due::Delivery { from, to, payload },
                );
                self.agenda.push(
                    self.now_nanos + nanos(second),
                    Due::Delivery {
                        from,
                        to,
                        payload: copy,
                    },
                );
            }
        }
    }
}

impl<N: Endpoint> Drop for Sim<N> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "simulation failed at virtual time {:.6}s with SEED={} (replay: SEED={} cargo test ...)",
                self.elapsed().as_secs_f64(),
                self.seed,
                self.seed
            );
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    duration.as_nanos().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests;
