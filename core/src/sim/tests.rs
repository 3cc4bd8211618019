//! Tests of the harness itself, with small endpoints whose behaviour is known.

use super::*;
use crate::Transmit;

/// Sends `pings` datagrams to `peer` at start-up, one per `interval` timer, and echoes back every
/// datagram that does not start with `b'e'`; reports every datagram it receives.
#[derive(Debug)]
struct Echo {
    peer: Option<SocketAddr>,
    pings: u32,
    interval: Duration,
    next: Option<Instant>,
    out: VecDeque<Transmit>,
    events: VecDeque<(SocketAddr, Vec<u8>)>,
}

impl Echo {
    fn new(now: Instant, peer: Option<SocketAddr>, pings: u32) -> Self {
        let interval = Duration::from_millis(10);
        Echo {
            peer,
            pings,
            interval,
            next: Some(now),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }
}

impl Endpoint for Echo {
    type Event = (SocketAddr, Vec<u8>);

    fn handle_input(&mut self, _now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.events.push_back((from, datagram.to_vec()));
        if datagram.first() != Some(&b'e') {
            let mut reply = b"e".to_vec();
            reply.extend_from_slice(datagram);
            self.out.push_back(Transmit {
                to: from,
                payload: reply,
            });
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let (Some(peer), Some(next)) = (self.peer, self.next) else {
            self.next = None;
            return;
        };
        if now < next {
            return;
        }
        if self.pings == 0 {
            self.next = None;
            return;
        }
        self.pings -= 1;
        self.out.push_back(Transmit {
            to: peer,
            payload: self.pings.to_be_bytes().to_vec(),
        });
        self.next = Some(next + self.interval);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

fn echo_pair(seed: u64, net: NetConfig, pings: u32) -> (Sim<Echo>, NodeHandle, NodeHandle) {
    let mut sim: Sim<Echo> = Sim::new(seed, net);
    let server = sim.add_endpoint(|_, now| Echo::new(now, None, 0));
    let server_addr = sim.addr(server);
    let client = sim.add_endpoint(|_, now| Echo::new(now, Some(server_addr), pings));
    (sim, server, client)
}

fn lossy() -> NetConfig {
    NetConfig::default()
        .with_rtt(Duration::from_millis(20), Duration::from_millis(200))
        .with_loss(0.1)
        .with_duplication(0.05)
        .with_reordering(0.2, Duration::from_millis(30))
        .with_jitter(Duration::from_millis(3))
}

#[test]
fn clean_network_delivers_everything_after_the_link_latency() {
    let (mut sim, server, client) = echo_pair(1, NetConfig::default(), 5);
    sim.run_for(Duration::from_secs(1));
    let latency = sim.link_latency(sim.addr(server), sim.addr(client));
    let at_server: Vec<_> = sim.take_events(server);
    assert_eq!(at_server.len(), 5);
    // The first ping leaves at time zero and arrives after exactly one link latency.
    assert_eq!(at_server[0].0, latency);
    assert!(
        at_server
            .iter()
            .all(|(_, (from, _))| *from == sim.addr(client))
    );
    let echoes = sim.take_events(client);
    assert_eq!(echoes.len(), 5);
    assert_eq!(echoes[0].0, latency * 2);
    let stats = sim.stats();
    assert_eq!(
        (stats.sent, stats.delivered, stats.lost, stats.vanished),
        (10, 10, 0, 0)
    );
    assert_eq!(stats.stuck_timers, 0);
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let run = |seed| {
        let (mut sim, _, _) = echo_pair(seed, lossy(), 200);
        sim.run_for(Duration::from_secs(5));
        (sim.trace().digest(), sim.trace().to_string(), sim.stats())
    };
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert!(
        a.2.lost > 0 && a.2.duplicated > 0 && a.2.reordered > 0,
        "{:?}",
        a.2
    );
}

#[test]
fn reordering_lets_later_datagrams_overtake() {
    let net = NetConfig::default().with_reordering(0.5, Duration::from_millis(100));
    let (mut sim, server, _) = echo_pair(5, net, 100);
    sim.run_for(Duration::from_secs(5));
    let order: Vec<u32> = sim
        .take_events(server)
        .into_iter()
        .map(|(_, (_, p))| u32::from_be_bytes(p.try_into().unwrap_or_default()))
        .collect();
    assert_eq!(order.len(), 100);
    // Pings count down; any rise means one overtook another.
    assert!(
        order.windows(2).any(|w| w[1] > w[0]),
        "no reordering observed"
    );
}

#[test]
fn crashed_and_departed_nodes_swallow_datagrams() {
    let (mut sim, server, client) = echo_pair(2, NetConfig::default(), 10);
    sim.run_for(Duration::from_millis(45));
    sim.crash(server);
    assert!(!sim.is_running(server));
    sim.run_for(Duration::from_secs(1));
    let stats = sim.stats();
    assert!(stats.vanished > 0);
    assert_eq!(stats.sent, stats.delivered + stats.vanished);
    assert!(
        sim.endpoint(server).is_some(),
        "a crashed node stays inspectable"
    );
    assert!(
        sim.with(server, |_, _| ()).is_none(),
        "a crashed node takes no commands"
    );
    sim.leave(client);
    assert!(sim.endpoint(client).is_none());
    let kinds: Vec<_> = sim.trace().records().iter().map(|r| &r.entry).collect();
    assert!(kinds.contains(&&TraceEntry::Crashed) && kinds.contains(&&TraceEntry::Left));
}

#[test]
fn addresses_are_distinct_and_indexed() {
    let mut sim: Sim<Echo> = Sim::new(3, NetConfig::default());
    let handles: Vec<_> = (0..600)
        .map(|_| sim.add_endpoint(|_, now| Echo::new(now, None, 0)))
        .collect();
    let addrs: std::collections::HashSet<_> = handles.iter().map(|&h| sim.addr(h)).collect();
    assert_eq!(addrs.len(), 600);
    for &h in &handles {
        assert_eq!(sim.node_at(sim.addr(h)), Some(h));
        let SocketAddr::V4(v4) = sim.addr(h) else {
            panic!("IPv4 expected")
        };
        assert_eq!(v4.ip().octets()[0], 10);
        assert!(!matches!(v4.ip().octets()[3], 0 | 255));
    }
}

/// Asks to be woken at the same instant forever.
#[derive(Debug)]
struct Stuck(Instant);

impl Endpoint for Stuck {
    type Event = ();
    fn handle_input(&mut self, _: Instant, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.0)
    }
}

#[test]
fn a_node_stuck_on_a_past_deadline_is_counted_not_spun_on() {
    let mut sim: Sim<Stuck> = Sim::new(4, NetConfig::default());
    sim.add_endpoint(|_, now| Stuck(now));
    sim.run_for(Duration::from_millis(10));
    assert!(sim.stats().stuck_timers > 0);
    assert!(sim.stats().timers_fired < 10_000);
}

#[test]
fn run_until_stops_at_the_condition() {
    let (mut sim, server, _) = echo_pair(6, NetConfig::default(), 50);
    let hit = sim.run_until(Duration::from_secs(10), |s| s.events(server).count() >= 3);
    assert!(hit);
    assert_eq!(sim.events(server).count(), 3);
    assert!(sim.elapsed() < Duration::from_secs(1));
    let miss = sim.run_until(Duration::from_secs(2), |s| s.events(server).count() >= 1000);
    assert!(!miss);
}

#[test]
fn a_node_behind_nat_hears_only_those_it_sent_to_and_only_for_a_while() {
    let mut sim: Sim<Echo> = Sim::new(3, NetConfig::default());
    let inside = sim.add_endpoint(|_, now| Echo::new(now, None, 0));
    sim.put_behind_nat(inside);
    let inside_addr = sim.addr(inside);
    // A stranger pings it unsolicited: nothing arrives.
    let stranger = sim.add_endpoint(|_, now| Echo::new(now, Some(inside_addr), 3));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.events(inside).count(), 0);
    assert_eq!(sim.stats().nat_dropped, 3);
    // It sends to the stranger once: the stranger's datagrams now get through.
    let stranger_addr = sim.addr(stranger);
    sim.with(inside, |e, _| {
        e.out.push_back(Transmit {
            to: stranger_addr,
            payload: b"hello".to_vec(),
        })
    });
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.events(inside).count(), 1, "the echo of its hello");
    // After the mapping expires, the stranger is a stranger again.
    sim.run_for(NAT_MAPPING_LIFETIME);
    sim.with(stranger, |e, now| {
        e.pings = 1;
        e.next = Some(now);
    });
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.events(inside).count(), 1);
    assert_eq!(sim.stats().nat_dropped, 4);
}
