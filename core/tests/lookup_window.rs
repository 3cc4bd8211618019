//! How a lookup spends its requests: short timeouts that follow measured round trips, slots
//! held only inside the k-closest window, the fan-out once the window has converged, the
//! order of the requests, and when a get_peers lookup may end. One node, hand-written
//! answers, a virtual clock.

mod hand_support;

use hand_support::{B, Harness, Sent, compact, config, id, peer, v4};
use std::net::SocketAddrV4;
use std::time::Duration;
use tokengo_core::{Config, Event, Id};

/// Nodes closer to the zero target than any contact (first byte `1..`), at 10.0.1.x.
fn near(n: u8) -> (Id, SocketAddrV4) {
    (id(n, n), v4(10, 0, 1, n, 6881))
}

fn nodes_field(nodes: &[(Id, SocketAddrV4)]) -> B {
    B::S(nodes.iter().flat_map(|(i, a)| compact(i, *a)).collect())
}

fn asked(sent: &[Sent], who: &[(Id, SocketAddrV4)]) -> usize {
    sent.iter()
        .filter(|s| who.iter().any(|w| w.1 == s.to))
        .count()
}

fn find(sent: &[Sent], addr: SocketAddrV4) -> Sent {
    sent.iter()
        .find(|s| s.to == addr)
        .cloned()
        .unwrap_or_else(|| panic!("{addr} was not asked"))
}

/// With a lookup just started, `contact` names four `silent` nodes that never answer; returns
/// how long after its answer the fourth was asked (three are asked at once, alpha).
fn fourth_silent_asked_after(
    h: &mut Harness,
    contact: (Id, SocketAddrV4),
    silent: &[(Id, SocketAddrV4)],
) -> Duration {
    let start = h.now;
    let first = find(&h.sent(), contact.1);
    h.answer(&first, &contact.0, vec![("nodes", nodes_field(silent))]);
    assert_eq!(asked(&h.sent(), &silent[..3]), 3, "alpha requests");
    while h.now < start + Duration::from_secs(3) {
        h.tick(Duration::from_millis(10));
        if asked(&h.sent(), &silent[3..]) > 0 {
            return h.now - start;
        }
    }
    panic!("the fourth node was not asked within 3 s");
}

#[test]
fn a_silent_node_frees_its_slot_after_a_few_measured_round_trips() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    let silent: Vec<_> = (1..=4).map(near).collect();
    h.node.find_node(h.now, Id::ZERO);
    // Answers came back at once: a silent node stops holding its slot long before the
    // configured one second, and the fourth is asked.
    let waited = fourth_silent_asked_after(&mut h, contact, &silent);
    assert!(
        waited < Duration::from_millis(500),
        "the fourth request waited {waited:?} of virtual time"
    );
}

#[test]
fn requests_outside_the_window_hold_no_slot() {
    let mut h = Harness::new(config(8));
    let contacts = [
        (id(0x80, 0), v4(10, 0, 0, 1, 6881)),
        (id(0x90, 0), v4(10, 0, 0, 2, 6881)),
        (id(0xa0, 0), v4(10, 0, 0, 3, 6881)),
    ];
    for (i, a) in contacts {
        h.verified(&i, a);
    }
    h.node.find_node(h.now, Id::ZERO);
    let sent = h.sent();
    assert_eq!(asked(&sent, &contacts), 3);
    // The first names 8 nodes closer than the other two, which are still silent: they have
    // left the window, so three requests go out, not one.
    let named: Vec<_> = (1..=8).map(near).collect();
    h.answer(
        &find(&sent, contacts[0].1),
        &contacts[0].0,
        vec![("nodes", nodes_field(&named))],
    );
    assert_eq!(asked(&h.sent(), &named), 3);
}

#[test]
fn a_converged_window_asks_every_remaining_candidate_at_once() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.node.find_node(h.now, Id::ZERO);
    let named: Vec<_> = (1..=8).map(near).collect();
    let ask = find(&h.sent(), contact.1);
    h.answer(&ask, &contact.0, vec![("nodes", nodes_field(&named))]);
    let first = h.sent();
    assert_eq!(asked(&first, &named[..3]), 3);
    // The three closest answer and name nobody closer: the window has converged, and the
    // five others are asked together.
    for n in &named[..3] {
        h.answer(&find(&first, n.1), &n.0, vec![]);
    }
    assert_eq!(asked(&h.sent(), &named[3..]), 5);
}

#[test]
fn nodes_known_to_answer_are_asked_before_failing_ones_at_the_same_distance() {
    let mut h = Harness::new(Config {
        alpha: 1,
        ..config(8)
    });
    // Same bit distance to the target; the nearer one by XOR failed a query since.
    let failing = (id(0x40, 1), v4(10, 0, 0, 1, 6881));
    let good = (id(0x40, 9), v4(10, 0, 0, 2, 6881));
    h.verified(&failing.0, failing.1);
    h.verified(&good.0, good.1);
    // A first lookup asks it, and it stays silent.
    h.node.find_node(h.now, failing.0);
    let failures = |h: &Harness| h.node.routing_table().get(&failing.0).map(|e| e.failures);
    for _ in 0..100 {
        if failures(&h) != Some(0) {
            break;
        }
        for query in h.sent() {
            if query.to == good.1 {
                h.answer(&query, &good.0, vec![]);
            }
        }
        h.tick(Duration::from_millis(100));
    }
    let entry = h.node.routing_table().get(&failing.0).expect("kept");
    assert_eq!(entry.failures, 1);
    h.sent();
    h.node.find_node(h.now, Id::ZERO);
    let sent = h.sent();
    assert_eq!(
        sent.len(),
        1,
        "{:?}",
        sent.iter().map(|s| s.to).collect::<Vec<_>>()
    );
    assert_eq!(sent[0].to, good.1, "asked the failing node first");
}

#[test]
fn get_peers_ends_once_it_has_peers_and_the_closest_have_answered() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.events();
    h.node.get_peers(h.now, Id::ZERO);
    let named: Vec<_> = (1..=8).map(near).collect();
    let ask = find(&h.sent(), contact.1);
    h.answer(
        &ask,
        &contact.0,
        vec![("nodes", nodes_field(&named)), ("token", B::s("tk"))],
    );
    let first = h.sent();
    let stored = v4(10, 0, 9, 9, 7000);
    for n in &named[..3] {
        h.answer(
            &find(&first, n.1),
            &n.0,
            vec![("token", B::s("tk")), ("values", B::L(vec![peer(stored)]))],
        );
    }
    // The other five were asked and stay silent; nobody waits for them.
    let events = h.events();
    assert!(
        events.iter().any(|e| matches!(e, Event::PeerFound { .. })),
        "{events:?}"
    );
    let done = events.iter().find_map(|e| match e {
        Event::LookupDone { stats, .. } => Some(*stats),
        _ => None,
    });
    let stats = done.expect("the lookup ended once the three closest answered with peers");
    assert_eq!((stats.answered, stats.peers), (4, 1), "{stats:?}");
}

#[test]
fn one_silent_node_among_the_closest_does_not_hold_a_get_peers_lookup_with_peers() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.events();
    h.node.get_peers(h.now, Id::ZERO);
    let named: Vec<_> = (1..=8).map(near).collect();
    let ask = find(&h.sent(), contact.1);
    h.answer(&ask, &contact.0, vec![("nodes", nodes_field(&named))]);
    let first = h.sent();
    let stored = v4(10, 0, 9, 9, 7000);
    let with_peer = || vec![("token", B::s("tk")), ("values", B::L(vec![peer(stored)]))];
    // The closest never answers (its datagram was lost); the next three do, at once.
    for n in &named[1..3] {
        h.answer(&find(&first, n.1), &n.0, with_peer());
    }
    let next = h.sent();
    h.answer(&find(&next, named[3].1), &named[3].0, with_peer());
    let events = h.events();
    let done = events.iter().find_map(|e| match e {
        Event::LookupDone { stats, .. } => Some(*stats),
        _ => None,
    });
    let stats = done.expect("three of the four closest answered with peers: the lookup is over");
    assert_eq!(
        stats.short_timeouts, 0,
        "nobody waited for the silent one: {stats:?}"
    );
    assert_eq!(stats.peers, 1, "{stats:?}");
}

#[test]
fn find_node_waits_for_the_whole_window() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.events();
    h.node.find_node(h.now, Id::ZERO);
    let named: Vec<_> = (1..=8).map(near).collect();
    let ask = find(&h.sent(), contact.1);
    h.answer(&ask, &contact.0, vec![("nodes", nodes_field(&named))]);
    let first = h.sent();
    for n in &named[..3] {
        h.answer(&find(&first, n.1), &n.0, vec![]);
    }
    let events = h.events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::LookupDone { .. })),
        "{events:?}"
    );
}

#[test]
fn a_lookup_whose_every_request_runs_late_waits_for_a_late_answer() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    // It answered the ping at once, so its short timeout sits at the floor.
    h.verified(&contact.0, contact.1);
    h.events();
    h.node.get_peers(h.now, Id::ZERO);
    let ask = find(&h.sent(), contact.1);
    let start = h.now;
    while h.now < start + Duration::from_millis(300) {
        h.tick(Duration::from_millis(10));
    }
    let events = h.events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::LookupDone { .. })),
        "the lookup ended with nothing while its one request could still answer: {events:?}"
    );
    let stored = v4(10, 0, 9, 9, 7000);
    h.answer(
        &ask,
        &contact.0,
        vec![("token", B::s("tk")), ("values", B::L(vec![peer(stored)]))],
    );
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PeerFound { peer, .. }
            if *peer == std::net::SocketAddr::V4(stored))),
        "the late answer's peer: {events:?}"
    );
}

#[test]
fn one_very_late_answer_does_not_stretch_later_short_timeouts() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    // It answered the ping at once: every estimate sits at the floor.
    h.verified(&contact.0, contact.1);
    // Then it answers a lookup 1.5 s late, past the short timeout's one-second bound.
    h.node.find_node(h.now, Id([0xff; 20]));
    let late = find(&h.sent(), contact.1);
    let asked_at = h.now;
    while h.now < asked_at + Duration::from_millis(1500) {
        h.tick(Duration::from_millis(10));
    }
    h.answer(&late, &contact.0, vec![("nodes", B::s(""))]);
    h.events();
    // A lookup towards nodes nobody has measured uses everyone's estimate: the late answer
    // must not have pushed it to the bound.
    let silent: Vec<_> = (1..=4).map(near).collect();
    h.node.find_node(h.now, Id::ZERO);
    let waited = fourth_silent_asked_after(&mut h, contact, &silent);
    assert!(
        waited < Duration::from_millis(500),
        "after one late answer the fourth request waited {waited:?} of virtual time"
    );
}

/// Answers every request to one of `named`, with `reply` for that node, until the lookup asks
/// nothing more; returns the nodes asked, in order, and whether a peer was reported.
fn answer_until_quiet(
    h: &mut Harness,
    named: &[(Id, SocketAddrV4)],
    mut reply: impl FnMut(&Id) -> Vec<(&'static str, B)>,
) -> (Vec<SocketAddrV4>, bool) {
    let (mut asked, mut found) = (Vec::new(), false);
    for _ in 0..40 {
        let sent = h.sent();
        if sent.is_empty() {
            break;
        }
        for q in sent {
            let n = named.iter().find(|n| n.1 == q.to).expect("a named node");
            asked.push(n.1);
            h.answer(&q, &n.0, reply(&n.0));
        }
        found |= h
            .events()
            .iter()
            .any(|e| matches!(e, Event::PeerFound { .. }));
    }
    (asked, found)
}

#[test]
fn get_peers_that_found_nothing_in_the_k_closest_asks_the_next_k_once() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.events();
    h.node.get_peers(h.now, Id::ZERO);
    // The contact names 16 nodes; the 8 closest answer with neither peers nor closer nodes.
    let named: Vec<_> = (1..=16).map(near).collect();
    let ask = find(&h.sent(), contact.1);
    h.answer(&ask, &contact.0, vec![("nodes", nodes_field(&named))]);
    let stored = v4(10, 0, 9, 9, 7000);
    // The storer is the 12th closest: past the first window.
    let storer = named[11].0;
    let (asked, found) = answer_until_quiet(&mut h, &named, |id| {
        if *id == storer {
            vec![("token", B::s("tk")), ("values", B::L(vec![peer(stored)]))]
        } else {
            vec![("token", B::s("tk"))]
        }
    });
    assert!(found, "the storer past the k closest was asked: {asked:?}");
    assert!(asked.len() <= 16, "it widened once: {asked:?}");
}

#[test]
fn find_node_does_not_widen() {
    let mut h = Harness::new(config(8));
    let contact = (id(0x80, 0), v4(10, 0, 0, 1, 6881));
    h.verified(&contact.0, contact.1);
    h.node.find_node(h.now, Id::ZERO);
    let named: Vec<_> = (1..=16).map(near).collect();
    let ask = find(&h.sent(), contact.1);
    h.answer(&ask, &contact.0, vec![("nodes", nodes_field(&named))]);
    let (asked, _) = answer_until_quiet(&mut h, &named, |_| vec![("nodes", B::s(""))]);
    assert_eq!(asked.len(), 8, "a find_node asks the k closest only");
}
