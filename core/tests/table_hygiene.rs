//! One node driven by hand-written datagrams: which nodes its replies hand out, what it makes
//! of sloppy or hostile answers, and what it stores. Every peer here is a fake address whose
//! answers the test writes byte by byte.

mod hand_support;

use hand_support::{Answer, B, Harness, compact, config, id, peer, run_lookup, v4};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokengo_core::{Config, Event, Id, LookupStats};

#[test]
fn replies_hand_out_only_nodes_that_answered_and_are_not_failing() {
    let mut h = Harness::new(config(3));
    let target = Id::ZERO;
    // Closest to the target: one node that only queried us, one that answered once then
    // failed a query. Farther: three that answered.
    let (unverified, failing) = (id(0x00, 1), id(0x00, 2));
    let (unverified_at, failing_at) = (v4(10, 0, 0, 1, 6881), v4(10, 0, 0, 2, 6881));
    let good = [
        (id(0x80, 0), v4(10, 0, 1, 1, 6881)),
        (id(0xc0, 0), v4(10, 0, 1, 2, 6881)),
        (id(0xe0, 0), v4(10, 0, 1, 3, 6881)),
    ];
    h.ask(unverified_at, &unverified, "ping", vec![]);
    h.verified(&failing, failing_at);
    for (peer_id, addr) in good {
        h.verified(&peer_id, addr);
    }
    // A lookup asks the closest ones; the good ones answer, the other two stay silent.
    h.node.find_node(h.now, target);
    let deadline = h.now + Duration::from_secs(60);
    while h.now < deadline {
        for query in h.sent() {
            if let Some((peer_id, _)) = good.iter().find(|(_, a)| *a == query.to) {
                h.answer(&query, peer_id, vec![]);
            }
        }
        let done = h
            .events()
            .iter()
            .any(|e| matches!(e, Event::LookupDone { .. }));
        if done {
            break;
        }
        h.tick(Duration::from_secs(1));
    }
    // The lookup ends once the silent ones pass the short timeout; their requests fail later.
    for _ in 0..5 {
        h.tick(Duration::from_secs(1));
    }
    let failed = h
        .node
        .routing_table()
        .get(&failing)
        .expect("one failure keeps it");
    assert_eq!(failed.failures, 1, "{failed:?}");
    let answer = h
        .ask(
            v4(10, 9, 9, 9, 6881),
            &id(0xf0, 9),
            "find_node",
            vec![("target", B::s(target.0))],
        )
        .expect("answered");
    assert_eq!(
        answer.nodes,
        good.to_vec(),
        "reply holds unverified or failing nodes"
    );
}

#[test]
fn a_tiny_network_still_hands_out_nodes_that_only_queried_us() {
    // A lone seed knows its two peers only from their queries: it must still introduce them.
    let mut h = Harness::new(config(8));
    let (a, b) = (
        (id(0x10, 1), v4(10, 0, 0, 1, 6881)),
        (id(0x20, 2), v4(10, 0, 0, 2, 6881)),
    );
    h.ask(a.1, &a.0, "ping", vec![]);
    let answer = h
        .ask(b.1, &b.0, "find_node", vec![("target", B::s(b.0.0))])
        .expect("answered");
    assert_eq!(answer.nodes, vec![b, a]);
}

#[test]
fn ragged_nodes_field_keeps_its_whole_entries() {
    let mut h = Harness::new(config(8));
    let router = (id(0x10, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&router.0, router.1);
    let named = [
        (id(0x01, 1), v4(10, 0, 2, 1, 6881)),
        (id(0x01, 2), v4(10, 0, 2, 2, 6881)),
    ];
    let mut nodes = compact(&named[0].0, named[0].1);
    nodes.extend(compact(&named[1].0, named[1].1));
    nodes.extend_from_slice(b"xyz"); // a truncated third entry, as sloppy peers send
    h.node.find_node(h.now, Id::ZERO);
    let (stats, sent) = run_lookup(&mut h, |h, query| {
        if query.to == router.1 {
            h.answer(query, &router.0, vec![("nodes", B::S(nodes.clone()))]);
            true
        } else {
            false
        }
    });
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert!(
        stats.answered >= 1,
        "the ragged answer counted as a failure: {stats:?}"
    );
    for (_, addr) in named {
        assert!(sent.iter().any(|s| s.to == addr), "{addr} was never asked");
    }
    let router_entry = h.node.routing_table().get(&router.0).expect("kept");
    assert_eq!(router_entry.failures, 0);
}

/// Peers a get_peers lookup reported when its one contact answered with `values`.
fn peers_found(config: Config, values: Vec<B>) -> (LookupStats, Vec<SocketAddr>) {
    let mut h = Harness::new(config);
    let contact = (id(0x10, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.events();
    h.node.get_peers(h.now, Id::ZERO);
    let mut found = Vec::new();
    let deadline = h.now + Duration::from_secs(120);
    while h.now < deadline {
        for query in h.sent() {
            if query.to == contact.1 {
                h.answer(
                    &query,
                    &contact.0,
                    vec![("token", B::s("tk")), ("values", B::L(values.clone()))],
                );
            }
        }
        for event in h.events() {
            match event {
                Event::PeerFound { peer, .. } => found.push(peer),
                Event::LookupDone { stats, .. } => return (stats, found),
                _ => {}
            }
        }
        h.tick(Duration::from_secs(1));
    }
    panic!("lookup did not finish");
}

#[test]
fn values_of_the_wrong_length_are_skipped_and_the_rest_kept() {
    let good = [v4(10, 0, 5, 1, 6881), v4(10, 0, 5, 2, 6882)];
    let values = vec![
        peer(good[0]),
        B::s("short"),
        B::S(vec![7; 18]), // a BEP 32 IPv6 peer
        B::S(vec![]),
        peer(good[1]),
    ];
    let (stats, found) = peers_found(config(8), values);
    assert_eq!(stats.answered, 1, "{stats:?}");
    assert_eq!(found, good.map(SocketAddr::V4).to_vec());
}

#[test]
fn values_with_a_non_string_item_keep_their_peers() {
    let good = v4(10, 0, 5, 1, 6881);
    let values = vec![B::I(42), peer(good), B::L(vec![B::s("x")])];
    let (stats, found) = peers_found(config(8), values);
    assert_eq!(
        stats.answered, 1,
        "the answer counted as a failure: {stats:?}"
    );
    assert_eq!(found, vec![SocketAddr::V4(good)]);
}

/// Queries a lookup sends to each IP when its one contact names `named`.
fn lookup_queries_per_ip(config: Config, named: &[(Id, SocketAddrV4)]) -> Vec<(Ipv4Addr, usize)> {
    let mut h = Harness::new(config);
    let contact = (id(0x10, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    let nodes: Vec<u8> = named.iter().flat_map(|(i, a)| compact(i, *a)).collect();
    h.node.find_node(h.now, Id::ZERO);
    let (_, sent) = run_lookup(&mut h, |h, query| {
        if query.to == contact.1 {
            h.answer(query, &contact.0, vec![("nodes", B::S(nodes.clone()))]);
        }
        true
    });
    let mut per_ip = std::collections::BTreeMap::new();
    for s in sent.iter().filter(|s| s.to != contact.1) {
        *per_ip.entry(*s.to.ip()).or_insert(0) += 1;
    }
    per_ip.into_iter().collect()
}

#[test]
fn a_lookup_keeps_one_candidate_per_ip_on_mainline() {
    let config = Config {
        id: Some(Id([0xff; 20])),
        query_rate_per_ip: 0,
        ..Config::mainline()
    };
    // Six ids near the target behind one IP (a Sybil), and two honest nodes.
    let mut named: Vec<(Id, SocketAddrV4)> = (1..=6u8)
        .map(|n| (id(0x00, n), v4(10, 0, 7, 7, 7000 + u16::from(n))))
        .collect();
    named.push((id(0x01, 1), v4(10, 0, 8, 1, 6881)));
    named.push((id(0x01, 2), v4(10, 0, 8, 2, 6881)));
    let per_ip = lookup_queries_per_ip(config.clone(), &named);
    assert_eq!(
        per_ip,
        vec![
            (Ipv4Addr::new(10, 0, 7, 7), 1),
            (Ipv4Addr::new(10, 0, 8, 1), 1),
            (Ipv4Addr::new(10, 0, 8, 2), 1),
        ]
    );
    // Loopback is a local test network where every node shares one IP: no cap there.
    let local: Vec<(Id, SocketAddrV4)> = (1..=6u8)
        .map(|n| (id(0x00, n), v4(127, 0, 0, 1, 7000 + u16::from(n))))
        .collect();
    let per_ip = lookup_queries_per_ip(config, &local);
    assert_eq!(per_ip, vec![(Ipv4Addr::LOCALHOST, 6)]);
}

impl Harness {
    /// get_peers for `key` from `from`: the answer's values and token.
    fn get_peers_from(&mut self, from: SocketAddrV4, key: &Id) -> Answer {
        let asker = id(0x33, from.ip().octets()[3]);
        self.ask(from, &asker, "get_peers", vec![("info_hash", B::s(key.0))])
            .expect("answered")
    }

    /// announce_peer of `key` at `from`'s IP and `port`; whether it was acknowledged.
    fn announce_from(&mut self, from: SocketAddrV4, key: &Id, port: u16) -> bool {
        let token = self.get_peers_from(from, key).token.expect("token");
        let asker = id(0x33, from.ip().octets()[3]);
        self.ask(
            from,
            &asker,
            "announce_peer",
            vec![
                ("info_hash", B::s(key.0)),
                ("port", B::I(i64::from(port))),
                ("token", B::S(token)),
            ],
        )
        .is_some()
    }
}

#[test]
fn an_announce_from_the_same_ip_replaces_its_previous_port() {
    let mut h = Harness::new(config(8));
    let key = id(0x55, 1);
    let host = v4(10, 0, 3, 3, 6881);
    assert!(h.announce_from(host, &key, 1000));
    assert!(h.announce_from(host, &key, 2000));
    assert!(h.announce_from(v4(10, 0, 3, 4, 6881), &key, 3000));
    let mut values = h.get_peers_from(v4(10, 0, 9, 9, 6881), &key).values;
    values.sort();
    assert_eq!(values, vec![v4(10, 0, 3, 3, 2000), v4(10, 0, 3, 4, 3000)]);
    assert_eq!(h.node.stats().stored_peers, 2);
}

#[test]
fn one_ip_cannot_keep_every_key_alive() {
    let mut h = Harness::new(Config {
        max_stored_keys: 60,
        ..config(8)
    });
    let flooder = v4(10, 0, 3, 3, 6881);
    for n in 0..60u8 {
        h.announce_from(flooder, &id(0x66, n), 1000);
    }
    assert!(h.node.stats().stored_keys < 60, "one IP filled the store");
    // Someone else's new key still finds room.
    assert!(h.announce_from(v4(10, 0, 3, 4, 6881), &id(0x77, 1), 1000));
}

fn mainline() -> Config {
    Config {
        id: Some(Id([0xff; 20])),
        query_rate_per_ip: 0,
        ..Config::mainline()
    }
}

#[test]
fn unroutable_peers_are_not_reported_on_mainline() {
    let good = v4(10, 0, 5, 1, 6881);
    let values = vec![
        peer(v4(0, 0, 0, 0, 6881)),
        peer(v4(224, 0, 0, 1, 6881)),
        peer(v4(255, 255, 255, 255, 6881)),
        peer(v4(10, 0, 5, 1, 0)),
        peer(good),
    ];
    let (_, found) = peers_found(mainline(), values);
    assert_eq!(found, vec![SocketAddr::V4(good)]);
}

#[test]
fn unroutable_nodes_enter_neither_lookups_nor_the_table() {
    let named = [
        (id(0x00, 1), v4(224, 0, 0, 1, 6881)),
        (id(0x00, 2), v4(255, 255, 255, 255, 6881)),
        (id(0x00, 3), v4(0, 1, 2, 3, 6881)),
        (id(0x00, 4), v4(10, 0, 8, 1, 6881)),
    ];
    let per_ip = lookup_queries_per_ip(mainline(), &named);
    assert_eq!(per_ip, vec![(Ipv4Addr::new(10, 0, 8, 1), 1)]);
    let mut h = Harness::new(mainline());
    for (n, from) in [
        v4(224, 0, 0, 5, 6881),
        v4(255, 255, 255, 255, 6881),
        v4(10, 1, 1, 1, 0),
    ]
    .into_iter()
    .enumerate()
    {
        h.ask(from, &id(0x40, n as u8), "ping", vec![]);
    }
    assert_eq!(h.node.contacts(), vec![], "unroutable senders in the table");
}
