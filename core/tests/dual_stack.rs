//! BEP 32 in the node: one routing table per family, answers in the families `want` asks for
//! (the querier's own by default), peers of both families, lookups over both, and an
//! IPv4-only node that drops IPv6 as it always did.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokengo_core::krpc::{Body, Message, Query, Response, Want, decode};
use tokengo_core::{Config, Event, Id, Node};

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last).into(),
        port,
    )
}

fn v4(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new([10, 0, 0, last].into(), port)
}

fn id(first: u8) -> Id {
    let mut id = [0u8; 20];
    id[0] = first;
    Id(id)
}

fn dual() -> Config {
    Config {
        id: Some(Id([0xff; 20])),
        network: tokengo_core::Network::Mainline,
        ipv6: true,
        query_rate_per_ip: 0,
        ..Config::default()
    }
}

/// What a node answered: its nodes, nodes6 and values, decoded.
#[derive(Debug, Default)]
struct Answer {
    nodes: Option<Vec<SocketAddr>>,
    nodes6: Option<Vec<SocketAddr>>,
    values: Vec<SocketAddr>,
    token: Option<Vec<u8>>,
}

/// Sends `query` from `from` and returns the node's answer to it.
fn ask(node: &mut Node, now: Instant, from: SocketAddr, query: Query<'_>) -> Option<Answer> {
    let tag = node.config().network.tag().map(<[u8]>::to_vec);
    let message = Message {
        transaction_id: b"qq",
        version: None,
        requester_ip: None,
        read_only: false,
        network: tag.as_deref(),
        body: Body::Query(query),
    };
    node.handle_input(now, from, &message.to_vec().unwrap());
    let mut answer = None;
    while let Some(t) = node.poll_transmit() {
        if t.to != from {
            continue;
        }
        if let Body::Response(r) = decode(&t.payload).unwrap().body {
            answer = Some(read(&r));
        }
    }
    answer
}

fn read(r: &Response<'_>) -> Answer {
    Answer {
        nodes: r.nodes.map(|n| n.iter().map(|n| n.addr).collect()),
        nodes6: r.nodes6.map(|n| n.iter().map(|n| n.addr).collect()),
        values: r.values.map(|v| v.iter().collect()).unwrap_or_default(),
        token: r.token.map(<[u8]>::to_vec),
    }
}

fn ping(node: &mut Node, now: Instant, from: SocketAddr, who: Id) {
    ask(node, now, from, Query::Ping { id: who }).expect("pinged");
}

fn find_node(node: &mut Node, now: Instant, from: SocketAddr, want: Want) -> Answer {
    let query = Query::FindNode {
        id: id(0x77),
        target: id(0x10),
        want,
    };
    ask(node, now, from, query).expect("answered")
}

#[test]
fn each_family_has_its_own_table_and_is_answered_in_its_own_family() {
    let now = Instant::now();
    let mut node = Node::new(dual(), now);
    ping(&mut node, now, v4(1, 6881), id(0x11));
    ping(&mut node, now, v6(1, 6881), id(0x12));
    assert_eq!(node.routing_table().len(), 1);
    assert_eq!(node.routing_table6().len(), 1);
    assert_eq!(
        node.routing_table6().get(&id(0x12)).unwrap().addr,
        v6(1, 6881)
    );
    assert!(node.routing_table().get(&id(0x12)).is_none());
    assert_eq!(node.stats().nodes_v6, 1);

    let from6 = find_node(&mut node, now, v6(9, 6881), Want::UNSAID);
    assert_eq!(from6.nodes, None, "an IPv6 querier gets nodes6 by default");
    assert!(from6.nodes6.as_ref().unwrap().contains(&v6(1, 6881)));
    let from4 = find_node(&mut node, now, v4(9, 6881), Want::UNSAID);
    assert_eq!(from4.nodes6, None, "an IPv4 querier gets nodes by default");
    assert!(from4.nodes.as_ref().unwrap().contains(&v4(1, 6881)));
    let both = find_node(&mut node, now, v4(9, 6881), Want::BOTH);
    assert!(both.nodes.unwrap().contains(&v4(1, 6881)));
    assert!(both.nodes6.unwrap().contains(&v6(1, 6881)));
    let only6 = find_node(
        &mut node,
        now,
        v4(9, 6881),
        Want {
            n4: false,
            n6: true,
        },
    );
    assert_eq!(only6.nodes, None);
    assert!(only6.nodes6.unwrap().iter().all(SocketAddr::is_ipv6));
}

#[test]
fn an_ipv4_only_node_drops_ipv6_and_never_answers_nodes6() {
    let now = Instant::now();
    let mut node = Node::new(
        Config {
            ipv6: false,
            ..dual()
        },
        now,
    );
    let answer = ask(&mut node, now, v6(1, 6881), Query::Ping { id: id(0x12) });
    assert!(answer.is_none());
    assert_eq!(node.stats().dropped.unsupported_address, 1);
    assert!(node.routing_table6().is_empty());
    ping(&mut node, now, v4(1, 6881), id(0x11));
    // An IPv4-mapped address is its IPv4 address.
    let mapped = SocketAddr::new(
        std::net::Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped().into(),
        6881,
    );
    let message = Message {
        transaction_id: b"qq",
        version: None,
        requester_ip: None,
        read_only: false,
        network: None,
        body: Body::Query(Query::Ping { id: id(0x13) }),
    };
    node.handle_input(now, mapped, &message.to_vec().unwrap());
    let reply = node.poll_transmit().expect("answered");
    assert_eq!(reply.to, v4(2, 6881), "answered at its IPv4 address");
    assert_eq!(
        node.routing_table().get(&id(0x13)).unwrap().addr,
        v4(2, 6881)
    );
    let both = find_node(&mut node, now, v4(9, 6881), Want::BOTH);
    let nodes = both.nodes.unwrap();
    assert!(nodes.contains(&v4(1, 6881)) && nodes.contains(&v4(2, 6881)));
    assert_eq!(both.nodes6, None, "no nodes6 from a node without IPv6");
    // Its own lookups say nothing of want: answers come in its family, as before BEP 32.
    node.find_node(now, id(0x10));
    while let Some(t) = node.poll_transmit() {
        let Body::Query(Query::FindNode { want, .. }) = decode(&t.payload).unwrap().body else {
            continue;
        };
        assert_eq!(want, Want::UNSAID);
        assert!(t.to.is_ipv4());
    }
}

#[test]
fn peers_of_both_families_are_stored_and_answered_per_want() {
    let now = Instant::now();
    let mut node = Node::new(dual(), now);
    let info_hash = id(0x42);
    for from in [v4(5, 6000), v6(5, 6000)] {
        let token = ask(
            &mut node,
            now,
            from,
            Query::GetPeers {
                id: id(0x55),
                info_hash,
                want: Want::UNSAID,
            },
        )
        .unwrap()
        .token
        .unwrap();
        let ack = ask(
            &mut node,
            now,
            from,
            Query::AnnouncePeer {
                id: id(0x55),
                info_hash,
                port: 7000,
                token: &token,
                implied_port: false,
            },
        );
        assert!(ack.is_some(), "announce from {from} refused");
    }
    assert_eq!(node.stats().stored_peers, 2);
    let get = |want| Query::GetPeers {
        id: id(0x66),
        info_hash,
        want,
    };
    let peer4 = v4(5, 7000);
    let peer6 = v6(5, 7000);
    let from4 = ask(&mut node, now, v4(9, 1), get(Want::UNSAID)).unwrap();
    assert_eq!(from4.values, vec![peer4]);
    let from6 = ask(&mut node, now, v6(9, 1), get(Want::UNSAID)).unwrap();
    assert_eq!(from6.values, vec![peer6]);
    let mut both = ask(&mut node, now, v4(9, 1), get(Want::BOTH))
        .unwrap()
        .values;
    both.sort();
    assert_eq!(both, vec![peer4, peer6]);
    // A token is bound to the address it was issued to, IPv6 ones too.
    let stolen = ask(&mut node, now, v6(5, 6000), get(Want::UNSAID))
        .unwrap()
        .token;
    let refused = ask(
        &mut node,
        now,
        v6(6, 6000),
        Query::AnnouncePeer {
            id: id(0x57),
            info_hash,
            port: 7001,
            token: &stolen.unwrap(),
            implied_port: false,
        },
    );
    assert!(refused.is_none());
}

/// Nodes that exchange datagrams instantly; each has one address per family it speaks.
struct Net {
    now: Instant,
    nodes: Vec<Node>,
    addrs: BTreeMap<SocketAddr, usize>,
    events: Vec<(usize, Event)>,
}

impl Net {
    fn new() -> Self {
        Net {
            now: Instant::now(),
            nodes: Vec::new(),
            addrs: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn add(&mut self, seed: u64, addrs: &[SocketAddr]) -> usize {
        let config = Config {
            seed,
            ipv4: addrs.iter().any(SocketAddr::is_ipv4),
            ipv6: addrs.iter().any(SocketAddr::is_ipv6),
            query_rate_per_ip: 0,
            ..Config::default()
        };
        let index = self.nodes.len();
        self.nodes.push(Node::new(config, self.now));
        for addr in addrs {
            self.addrs.insert(*addr, index);
        }
        index
    }

    /// The address of node `index` in the family of `to`.
    fn source(&self, index: usize, to: &SocketAddr) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(a, i)| **i == index && a.is_ipv6() == to.is_ipv6())
            .map(|(a, _)| *a)
    }

    fn flush(&mut self) {
        loop {
            let mut moved = false;
            for from in 0..self.nodes.len() {
                while let Some(t) = self.nodes[from].poll_transmit() {
                    moved = true;
                    let (Some(&to), Some(src)) = (self.addrs.get(&t.to), self.source(from, &t.to))
                    else {
                        continue;
                    };
                    self.nodes[to].handle_input(self.now, src, &t.payload);
                }
                while let Some(e) = self.nodes[from].poll_event() {
                    self.events.push((from, e));
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn run_until(&mut self, mut done: impl FnMut(&Net) -> bool) {
        let end = self.now + Duration::from_secs(120);
        loop {
            self.flush();
            if done(self) {
                return;
            }
            let next = self
                .nodes
                .iter()
                .filter_map(Node::poll_timeout)
                .min()
                .unwrap();
            assert!(next <= end, "not done in time");
            self.now = next.max(self.now);
            for node in &mut self.nodes {
                node.handle_timeout(self.now);
            }
        }
    }
}

#[test]
fn an_ipv6_only_node_finds_over_ipv6_what_a_dual_stack_node_announced() {
    let mut net = Net::new();
    let seed4 = v4(1, 6881);
    let seed6 = v6(1, 6881);
    let seed = net.add(1, &[seed4, seed6]);
    let announcer = net.add(2, &[v4(2, 6881), v6(2, 6881)]);
    let reader = net.add(3, &[v6(3, 6881)]);
    let info_hash = id(0x42);

    // The announcer knows the seed only by its IPv4 address: the seed's nodes6 (asked for
    // with want n4 n6) is how the IPv6 side of its lookup fills.
    let now = net.now;
    net.nodes[seed].bootstrap(now, &[]);
    net.nodes[reader].bootstrap(now, &[seed6]);
    net.run_until(|n| {
        n.events
            .iter()
            .any(|(i, e)| *i == reader && matches!(e, Event::Bootstrapped { .. }))
    });
    net.nodes[announcer].bootstrap(now, &[seed4]);
    net.run_until(|n| {
        n.events
            .iter()
            .any(|(i, e)| *i == announcer && matches!(e, Event::Bootstrapped { .. }))
    });
    assert!(
        !net.nodes[announcer].routing_table6().is_empty(),
        "the IPv6 table stayed empty"
    );

    let now = net.now;
    net.nodes[announcer].announce(now, info_hash, Some(7000), false);
    net.run_until(|n| {
        n.events
            .iter()
            .any(|(_, e)| matches!(e, Event::AnnounceDone { .. }))
    });
    let accepted = net.events.iter().find_map(|(_, e)| match e {
        Event::AnnounceDone { accepted, .. } => Some(*accepted),
        _ => None,
    });
    assert!(
        accepted.unwrap() >= 2,
        "announced to one family only: {accepted:?}"
    );

    let now = net.now;
    let query = net.nodes[reader].get_peers(now, info_hash);
    net.run_until(|n| {
        n.events
            .iter()
            .any(|(_, e)| matches!(e, Event::LookupDone { query: q, .. } if *q == query))
    });
    let found: Vec<SocketAddr> = net
        .events
        .iter()
        .filter_map(|(i, e)| match e {
            Event::PeerFound { query: q, peer, .. } if *i == reader && *q == query => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(
        found,
        vec![v6(2, 7000)],
        "the IPv6-only reader sees the IPv6 peer only"
    );
}
