//! End-to-end flows of a few nodes wired back to back with instant delivery: the smallest
//! networks (1, 2, 3 nodes), the server's error answers, network tags and read-only mode.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokengo_core::krpc::{self, Body, Query};
use tokengo_core::{Config, Event, Id, Node, QueryId};

/// Nodes that exchange datagrams instantly; time jumps to the next deadline when idle.
struct Net {
    now: Instant,
    nodes: BTreeMap<SocketAddr, Node>,
    events: Vec<(SocketAddr, Event)>,
    /// Datagrams to addresses with no node (a silent address).
    lost: usize,
}

impl Net {
    fn new() -> Self {
        Net {
            now: Instant::now(),
            nodes: BTreeMap::new(),
            events: Vec::new(),
            lost: 0,
        }
    }

    fn add(&mut self, port: u16, mut config: Config) -> SocketAddr {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        config.seed = port as u64;
        if let SocketAddr::V4(a) = addr {
            config.external_addr = Some(a);
        }
        self.nodes.insert(addr, Node::new(config, self.now));
        addr
    }

    fn node(&mut self, addr: SocketAddr) -> &mut Node {
        self.nodes.get_mut(&addr).unwrap()
    }

    /// Delivers everything in flight, repeatedly, until quiet.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            let addrs: Vec<SocketAddr> = self.nodes.keys().copied().collect();
            for from in addrs {
                while let Some(t) = self.node(from).poll_transmit() {
                    moved = true;
                    let now = self.now;
                    match self.nodes.get_mut(&t.to) {
                        Some(to) => to.handle_input(now, from, &t.payload),
                        None => self.lost += 1,
                    }
                }
                while let Some(e) = self.node(from).poll_event() {
                    self.events.push((from, e));
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs until `done` holds, moving time forward deadline by deadline (at most `limit`).
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) {
        let end = self.now + limit;
        loop {
            self.flush();
            if done(self) {
                return;
            }
            let next = self
                .nodes
                .values()
                .filter_map(Node::poll_timeout)
                .min()
                .unwrap();
            assert!(next <= end, "condition not reached in {limit:?}");
            self.now = self.now.max(next);
            let now = self.now;
            for node in self.nodes.values_mut() {
                if node.poll_timeout().is_some_and(|t| t <= now) {
                    node.handle_timeout(now);
                }
            }
        }
    }

    fn done(&self, (node, query): (SocketAddr, QueryId)) -> Option<&Event> {
        self.events
            .iter()
            .filter(|(at, _)| *at == node)
            .map(|(_, e)| e)
            .find(|e| match e {
                Event::LookupDone { query: q, .. }
                | Event::AnnounceDone { query: q, .. }
                | Event::Bootstrapped { query: q, .. }
                | Event::Pong { query: q, .. }
                | Event::GetDone { query: q, .. }
                | Event::PutDone { query: q, .. }
                | Event::Sampled { query: q, .. } => *q == query,
                Event::PeerFound { .. } => false,
            })
    }

    fn peers(&self, (node, query): (SocketAddr, QueryId)) -> Vec<SocketAddr> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::PeerFound { query: q, peer, .. } if *q == query && *at == node => {
                    Some(*peer)
                }
                _ => None,
            })
            .collect()
    }
}

fn ih(n: u8) -> Id {
    Id([n; 20])
}

#[test]
fn lone_node_serves_its_own_announce() {
    let mut net = Net::new();
    let a = net.add(4001, Config::default());
    let now = net.now;
    let q = (a, net.node(a).announce(now, ih(7), Some(9000), true));
    net.run_until(Duration::from_secs(5), |n| n.done(q).is_some());
    assert!(matches!(
        net.done(q),
        Some(Event::AnnounceDone { accepted: 0, .. })
    ));
    let q = (a, net.node(a).get_peers(now, ih(7)));
    net.run_until(Duration::from_secs(5), |n| n.done(q).is_some());
    assert_eq!(
        net.peers(q),
        vec!["127.0.0.1:9000".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn two_nodes_bootstrap_announce_and_find() {
    let mut net = Net::new();
    let seed = net.add(4001, Config::default());
    let b = net.add(4002, Config::default());
    let now = net.now;
    let q = (b, net.node(b).bootstrap(now, &[seed]));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert!(matches!(
        net.done(q),
        Some(Event::Bootstrapped { table_size: 1, .. })
    ));
    // The seed learned about b from b's queries: a lone seed grows a table.
    assert_eq!(net.node(seed).routing_table().len(), 1);

    let q = (b, net.node(b).announce(now, ih(1), Some(7000), false));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert!(
        matches!(net.done(q), Some(Event::AnnounceDone { accepted: 1, .. })),
        "{:?}",
        net.done(q)
    );
    let now = net.now;
    let q = (seed, net.node(seed).get_peers(now, ih(1)));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert_eq!(
        net.peers(q),
        vec!["127.0.0.1:7000".parse::<SocketAddr>().unwrap()]
    );

    // The seed announces itself with an implied port; b finds it through the seed.
    let now = net.now;
    let q = (seed, net.node(seed).announce(now, ih(2), Some(4433), false));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    let now = net.now;
    let q = (b, net.node(b).get_peers(now, ih(2)));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert_eq!(
        net.peers(q),
        vec!["127.0.0.1:4433".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn eight_nodes_find_each_others_announces() {
    let mut net = Net::new();
    let seed = net.add(5000, Config::default());
    let mut all = vec![seed];
    for i in 1..8 {
        let addr = net.add(5000 + i, Config::default());
        let now = net.now;
        let q = (addr, net.node(addr).bootstrap(now, &[seed]));
        net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
        all.push(addr);
    }
    for (i, addr) in all.iter().enumerate() {
        let now = net.now;
        let q = (
            *addr,
            net.node(*addr)
                .announce(now, ih(100 + i as u8), Some(6000 + i as u16), false),
        );
        net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    }
    for (i, addr) in all.iter().enumerate() {
        let j = (i + 3) % all.len();
        let now = net.now;
        let q = (*addr, net.node(*addr).get_peers(now, ih(100 + j as u8)));
        net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
        let want: SocketAddr = format!("127.0.0.1:{}", 6000 + j).parse().unwrap();
        assert!(
            net.peers(q).contains(&want),
            "node {i} looking for {j}: {:?}",
            net.peers(q)
        );
        match net.done(q) {
            Some(Event::LookupDone { stats, .. }) => {
                assert!(stats.answered >= 1 && stats.time_to_first_peer.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn silent_address_times_out() {
    let mut net = Net::new();
    let a = net.add(4001, Config::default());
    let silent: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let now = net.now;
    let q = (a, net.node(a).ping(now, silent));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert!(matches!(net.done(q), Some(Event::Pong { id: None, .. })));
    let now = net.now;
    let q = (a, net.node(a).get_peers(now, ih(3)));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    let now = net.now;
    let q = (a, net.node(a).bootstrap(now, &[silent]));
    net.run_until(Duration::from_secs(30), |n| n.done(q).is_some());
    assert!(matches!(
        net.done(q),
        Some(Event::Bootstrapped { table_size: 0, .. })
    ));
    match net.done(q) {
        Some(Event::Bootstrapped { .. }) => {}
        other => panic!("{other:?}"),
    }
    // An empty table re-bootstraps with exponential backoff (1 s, 2 s, 4 s, ...).
    let before = net.lost;
    let start = net.now;
    net.run_until(Duration::from_secs(60), |n| n.lost >= before + 3);
    assert!(
        net.now - start >= Duration::from_secs(7),
        "backoff doubles: {:?}",
        net.now - start
    );
}

/// Sends one raw datagram to `to` from a fake address and returns the decoded answer's body
/// summary: ("r", _) or ("e", code).
fn raw_exchange(node: &mut Node, now: Instant, datagram: &[u8]) -> Option<(char, i64)> {
    let from: SocketAddr = "127.0.0.1:6666".parse().unwrap();
    node.handle_input(now, from, datagram);
    let t = node.poll_transmit()?;
    let msg = krpc::decode(&t.payload).unwrap();
    Some(match msg.body {
        Body::Response(_) => ('r', 0),
        Body::Error(e) => ('e', e.code),
        Body::Query(_) => ('q', 0),
    })
}

#[test]
fn server_error_codes_and_tags() {
    let now = Instant::now();
    let mut node = Node::new(Config::mainline(), now);
    let id = "abcdefghij0123456789";
    let ping = format!("d1:ad2:id20:{id}e1:q4:ping1:t2:aa1:y1:qe");
    assert_eq!(
        raw_exchange(&mut node, now, ping.as_bytes()),
        Some(('r', 0))
    );
    let unknown = format!("d1:ad2:id20:{id}e1:q4:fooo1:t2:aa1:y1:qe");
    assert_eq!(
        raw_exchange(&mut node, now, unknown.as_bytes()),
        Some(('e', 204))
    );
    let malformed = "d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe";
    assert_eq!(
        raw_exchange(&mut node, now, malformed.as_bytes()),
        Some(('e', 203))
    );
    let bad_token = format!(
        "d1:ad2:id20:{id}9:info_hash20:{id}4:porti80e5:token4:nopee1:q13:announce_peer1:t2:aa1:y1:qe"
    );
    assert_eq!(
        raw_exchange(&mut node, now, bad_token.as_bytes()),
        Some(('e', 203))
    );
    // A tagged message is dropped by an untagged node before it touches any state.
    let tagged = format!("d1:ad2:id20:{id}e3:net7:tokengo1:q4:ping1:t2:aa1:y1:qe");
    assert_eq!(raw_exchange(&mut node, now, tagged.as_bytes()), None);
    assert_eq!(node.stats().dropped.wrong_network, 1);
    assert_eq!(raw_exchange(&mut node, now, b"garbage"), None);
    assert_eq!(node.stats().dropped.malformed, 1);

    let mut private = Node::new(Config::default(), now);
    assert_eq!(raw_exchange(&mut private, now, ping.as_bytes()), None);
    assert_eq!(
        raw_exchange(&mut private, now, tagged.as_bytes()),
        Some(('r', 0))
    );
    let wrong_tag = format!("d1:ad2:id20:{id}e3:net5:other1:q4:ping1:t2:aa1:y1:qe");
    assert_eq!(raw_exchange(&mut private, now, wrong_tag.as_bytes()), None);
    assert_eq!(private.stats().dropped.wrong_network, 2);
    assert!(
        private.routing_table().len() == 1,
        "only the tagged sender is known"
    );
}

#[test]
fn announce_with_valid_token_is_stored_and_served() {
    let now = Instant::now();
    let mut node = Node::new(Config::mainline(), now);
    let id = "abcdefghij0123456789";
    let ih = "IIIIIIIIIIIIIIIIIIII";
    let get = format!("d1:ad2:id20:{id}9:info_hash20:{ih}e1:q9:get_peers1:t1:x1:y1:qe");
    let from: SocketAddr = "127.0.0.1:6666".parse().unwrap();
    node.handle_input(now, from, get.as_bytes());
    let reply = node.poll_transmit().unwrap();
    let token = match krpc::decode(&reply.payload).unwrap().body {
        Body::Response(r) => r.token.unwrap().to_vec(),
        other => panic!("{other:?}"),
    };
    let mut announce = format!(
        "d1:ad2:id20:{id}12:implied_porti1e9:info_hash20:{ih}4:porti1e5:token{}:",
        token.len()
    )
    .into_bytes();
    announce.extend_from_slice(&token);
    announce.extend_from_slice(b"e1:q13:announce_peer1:t2:zz1:y1:qe");
    node.handle_input(now, from, &announce);
    let ack = node.poll_transmit().unwrap();
    let ack = krpc::decode(&ack.payload).unwrap();
    assert_eq!(ack.transaction_id, b"zz");
    assert!(matches!(ack.body, Body::Response(_)));
    assert_eq!(
        (node.stats().stored_keys, node.stats().stored_peers),
        (1, 1)
    );
    node.handle_input(now, from, get.as_bytes());
    let reply = node.poll_transmit().unwrap();
    let msg = krpc::decode(&reply.payload).unwrap();
    assert_eq!(
        msg.transaction_id, b"x",
        "a one-byte transaction id is echoed unchanged"
    );
    match msg.body {
        Body::Response(r) => {
            let peers: Vec<SocketAddr> = r.values.unwrap().iter().collect();
            assert_eq!(
                peers,
                vec!["127.0.0.1:6666".parse().unwrap()],
                "implied port used"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn read_only_node_marks_queries_and_answers_nothing() {
    let mut net = Net::new();
    let seed = net.add(4001, Config::default());
    let ro = net.add(
        4002,
        Config {
            read_only: true,
            ..Config::default()
        },
    );
    let now = net.now;
    let q = (ro, net.node(ro).bootstrap(now, &[seed]));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert!(matches!(
        net.done(q),
        Some(Event::Bootstrapped { table_size: 1, .. })
    ));
    assert_eq!(
        net.node(seed).routing_table().len(),
        0,
        "read-only senders are never stored"
    );
    let probe = net.node(ro).poll_transmit();
    assert!(probe.is_none());
    // Queries to the read-only node go unanswered.
    let now = net.now;
    let q = (seed, net.node(seed).ping(now, ro));
    net.run_until(Duration::from_secs(10), |n| n.done(q).is_some());
    assert!(matches!(net.done(q), Some(Event::Pong { id: None, .. })));
    let mut ro_node = Node::new(
        Config {
            read_only: true,
            ..Config::default()
        },
        now,
    );
    let _ = ro_node.ping(now, seed);
    let sent = ro_node.poll_transmit().unwrap();
    let msg = krpc::decode(&sent.payload).unwrap();
    assert!(msg.read_only && matches!(msg.body, Body::Query(Query::Ping { .. })));
}

#[test]
fn query_flood_from_one_ip_is_rate_limited() {
    let now = Instant::now();
    let mut node = Node::new(Config::mainline(), now);
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let flooder: SocketAddr = "192.0.2.1:6881".parse().unwrap();
    for _ in 0..200 {
        node.handle_input(now, flooder, ping);
    }
    let mut answered = 0;
    while node.poll_transmit().is_some() {
        answered += 1;
    }
    let burst = Config::mainline().query_burst_per_ip as usize;
    assert_eq!(answered, burst);
    assert_eq!(node.stats().dropped.over_limit, (200 - burst) as u64);
    // Another source is still served.
    node.handle_input(now, "192.0.2.2:6881".parse().unwrap(), ping);
    assert!(node.poll_transmit().is_some());
}

/// Answers `count` pings from `from` at `now`; returns how many were answered.
fn answered_pings(node: &mut Node, now: Instant, from: &str, count: usize) -> usize {
    let ping = b"d1:ad2:id20:abcdefghij0123456789e3:net7:tokengo1:q4:ping1:t2:aa1:y1:qe";
    let from: SocketAddr = from.parse().unwrap();
    for _ in 0..count {
        node.handle_input(now, from, ping);
    }
    std::iter::from_fn(|| node.poll_transmit()).count()
}

#[test]
fn query_flood_from_one_loopback_address_is_rate_limited() {
    let now = Instant::now();
    let mut node = Node::new(Config::default(), now);
    let burst = Config::default().query_burst_per_ip as usize;
    assert_eq!(answered_pings(&mut node, now, "127.0.0.2:6881", 200), burst);
    assert_eq!(node.stats().dropped.over_limit, (200 - burst) as u64);
    // Another loopback address, and another local node on the same IP (its own port), are
    // still served.
    assert_eq!(answered_pings(&mut node, now, "127.0.0.3:6881", 1), 1);
    assert_eq!(answered_pings(&mut node, now, "127.0.0.2:6882", 1), 1);
    // The flooder's budget refills at the configured rate.
    let later = now + Duration::from_secs(1);
    let rate = Config::default().query_rate_per_ip as usize;
    assert_eq!(
        answered_pings(&mut node, later, "127.0.0.2:6881", 200),
        rate
    );
}

#[test]
fn loopback_exemption_is_a_config_choice() {
    let now = Instant::now();
    let mut node = Node::new(
        Config {
            rate_limit_loopback: false,
            ..Config::default()
        },
        now,
    );
    assert_eq!(answered_pings(&mut node, now, "127.0.0.2:6881", 200), 200);
    assert_eq!(node.stats().dropped.over_limit, 0);
    // Other sources stay limited.
    let burst = Config::default().query_burst_per_ip as usize;
    assert_eq!(answered_pings(&mut node, now, "192.0.2.1:6881", 200), burst);
}

/// Hands every datagram `from` has queued to `to`.
fn deliver(from: (&mut Node, SocketAddr), to: (&mut Node, SocketAddr), now: Instant) {
    while let Some(t) = from.0.poll_transmit() {
        assert_eq!(t.to, to.1);
        to.0.handle_input(now, from.1, &t.payload);
    }
}

#[test]
fn heavy_strangers_share_one_budget_that_light_senders_known_nodes_and_answers_skip() {
    let now = Instant::now();
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (
        "192.0.2.100:6881".parse().unwrap(),
        "192.0.2.200:6881".parse().unwrap(),
    );
    let mut a = Node::new(Config::default(), now);
    let mut b = Node::new(
        Config {
            seed: 2,
            ..Config::default()
        },
        now,
    );
    // B answers A's ping: B is a verified node of A's table.
    let _ = a.ping(now, b_addr);
    deliver((&mut a, a_addr), (&mut b, b_addr), now);
    deliver((&mut b, b_addr), (&mut a, a_addr), now);
    assert!(a.routing_table().get(&b.id()).is_some_and(|e| e.verified));
    while a.poll_event().is_some() {}
    // A flood from 200 IPs, each spending its whole per-IP burst, from nodes A does not
    // know. While an IP has half its burst left it is a light sender and answered; past that,
    // its queries share the node-wide budget with every other heavy stranger.
    let config = Config::default();
    let (ips, per_ip) = (200usize, config.query_burst_per_ip as usize);
    let light = ips * (per_ip - per_ip / 2);
    let budget = config.unsolicited_query_burst as usize;
    let ping = b"d1:ad2:id20:abcdefghij0123456789e3:net7:tokengo1:q4:ping1:t2:aa1:y1:qe";
    let _ = a.ping(now, b_addr);
    for i in 0..ips as u32 {
        let [_, x, y, z] = (i + 1).to_be_bytes();
        let from = SocketAddr::from(([10, x, y, z], 6881));
        for _ in 0..per_ip {
            a.handle_input(now, from, ping);
        }
    }
    let (mut to_b, mut answers) = (Vec::new(), 0);
    while let Some(t) = a.poll_transmit() {
        if t.to == b_addr {
            to_b.push(t);
        } else {
            answers += 1;
        }
    }
    assert_eq!(answers, light + budget, "unsolicited queries answered");
    assert_eq!(
        a.stats().dropped.over_limit,
        (ips * per_ip - light - budget) as u64
    );
    // With the shared budget spent, a stranger that sends little is still answered.
    let stranger = SocketAddr::from(([10, 9, 9, 9], 6881));
    a.handle_input(now, stranger, ping);
    assert_eq!(a.poll_transmit().map(|t| t.to), Some(stranger));
    // The known node's queries, and answers to our own queries, are still handled.
    for t in to_b {
        b.handle_input(now, a_addr, &t.payload);
    }
    let _ = b.ping(now, a_addr);
    deliver((&mut b, b_addr), (&mut a, a_addr), now);
    let to_b: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
    assert_eq!(to_b.len(), 1, "B's ping answered");
    assert_eq!(to_b[0].to, b_addr);
    let pongs = std::iter::from_fn(|| a.poll_event())
        .filter(|e| matches!(e, Event::Pong { id: Some(id), .. } if *id == b.id()))
        .count();
    assert_eq!(pongs, 1, "B's answer to A's second ping arrived");
}

#[test]
fn node_without_known_address_reports_its_own_announce_on_loopback() {
    let now = Instant::now();
    let mut node = Node::new(Config::default(), now);
    node.announce(now, ih(9), Some(7000), false);
    let q = node.get_peers(now, ih(9));
    let mut found = Vec::new();
    while let Some(e) = node.poll_event() {
        if let Event::PeerFound { query, peer, .. } = e
            && query == q
        {
            found.push(peer);
        }
    }
    assert_eq!(found, vec!["127.0.0.1:7000".parse::<SocketAddr>().unwrap()]);
}

/// Every node joins through one seed only. A self-lookup alone leaves some nodes without any
/// contact in the far half of the keyspace; the bootstrap's far-bucket lookups must fix that so
/// that any key is found from any node.
#[test]
fn single_seed_network_reaches_the_whole_keyspace() {
    let mut net = Net::new();
    let seed = net.add(20000, Config::default());
    let mut all = vec![seed];
    for i in 1..256 {
        let addr = net.add(20000 + i, Config::default());
        let now = net.now;
        let q = (addr, net.node(addr).bootstrap(now, &[seed]));
        net.run_until(Duration::from_secs(30), |n| n.done(q).is_some());
        all.push(addr);
    }
    for i in 0..32u8 {
        let key = Id([i.wrapping_mul(8); 20]);
        let announcer = all[(usize::from(i) * 7 + 3) % all.len()];
        let now = net.now;
        let q = (
            announcer,
            net.node(announcer)
                .announce(now, key, Some(30000 + u16::from(i)), false),
        );
        net.run_until(Duration::from_secs(30), |n| n.done(q).is_some());
        let searcher = net.add(
            40000 + u16::from(i),
            Config {
                read_only: true,
                ..Config::default()
            },
        );
        let q = (searcher, net.node(searcher).bootstrap(now, &[seed]));
        net.run_until(Duration::from_secs(30), |n| n.done(q).is_some());
        let now = net.now;
        let q = (searcher, net.node(searcher).get_peers(now, key));
        net.run_until(Duration::from_secs(30), |n| n.done(q).is_some());
        let want: SocketAddr = format!("127.0.0.1:{}", 30000 + u16::from(i))
            .parse()
            .unwrap();
        assert!(
            net.peers(q).contains(&want),
            "key {i} not found from a fresh node"
        );
    }
}
