//! How a node comes to know its neighbours (the nodes nearest its id): a query's sender that
//! would be one of them is pinged at once, so that lookups looking for it can be handed it,
//! and a bootstrap looks up our own id once more when the network around us has had time to
//! verify the nodes that joined with us. Fake senders near our id gain nothing by it. One
//! node, hand-written datagrams.

mod hand_support;

use hand_support::{B, Harness, config, id, v4};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokengo_core::krpc::{self, Body, Query};
use tokengo_core::{Event, Id};

/// A query our node sent: to whom, its transaction id, and the target of a find_node.
struct Out {
    to: SocketAddrV4,
    tid: Vec<u8>,
    find_node: Option<Id>,
}

/// The queries the node sent since the last call (its answers are dropped).
fn queries(h: &mut Harness) -> Vec<Out> {
    let mut out = Vec::new();
    while let Some(t) = h.node.poll_transmit() {
        let SocketAddr::V4(to) = t.to else { continue };
        let msg = krpc::decode(&t.payload).expect("our own datagrams decode");
        if let Body::Query(q) = msg.body {
            let find_node = match q {
                Query::FindNode { target, .. } => Some(target),
                _ => None,
            };
            out.push(Out {
                to,
                tid: msg.transaction_id.to_vec(),
                find_node,
            });
        }
    }
    out
}

/// `from`, as the node `sender`, pings our node; returns the queries the node sent.
fn pinged_by(h: &mut Harness, from: SocketAddrV4, sender: &Id) -> Vec<Out> {
    let datagram = h.with_tag(vec![
        ("a", B::D(vec![("id", B::s(sender.0))])),
        ("q", B::s("ping")),
        ("t", B::s("qq")),
        ("y", B::s("q")),
    ]);
    h.node.handle_input(h.now, SocketAddr::V4(from), &datagram);
    queries(h)
}

/// Answers `query` as the node `id`, with nothing besides the id.
fn answer(h: &mut Harness, query: &Out, id: &Id) {
    let datagram = h.with_tag(vec![
        ("r", B::D(vec![("id", B::s(id.0))])),
        ("t", B::S(query.tid.clone())),
        ("y", B::s("r")),
    ]);
    h.node
        .handle_input(h.now, SocketAddr::V4(query.to), &datagram);
}

/// An id sharing its first `bytes` bytes with ours (0xff..ff), then `tail`.
fn near(bytes: usize, tail: u8) -> Id {
    let mut id = [0xff; 20];
    id[bytes] = tail;
    Id(id)
}

/// A table around 0xff..ff with 8 verified nodes far away and 8 verified neighbours that
/// share two bytes with us.
fn settled() -> (Harness, Vec<Id>) {
    let mut h = Harness::new(config(8));
    for i in 0..8u8 {
        h.verified(&id(0x10 + i, 1), v4(10, 0, 0, 10 + i, 6881));
    }
    let neighbours: Vec<Id> = (0..8u8).map(|i| near(2, 0x10 + i)).collect();
    for (i, n) in neighbours.iter().enumerate() {
        h.verified(n, v4(10, 0, 1, 10 + i as u8, 6881));
    }
    queries(&mut h);
    (h, neighbours)
}

#[test]
fn a_sender_among_our_closest_is_pinged_at_once_and_then_handed_out() {
    let (mut h, _) = settled();
    // Nearer us than any node we know: it is pinged before its query is even answered, not
    // at a later maintenance tick.
    let (newcomer, at) = (near(3, 0x42), v4(10, 0, 2, 1, 6881));
    let sent = pinged_by(&mut h, at, &newcomer);
    let ping = sent
        .iter()
        .find(|q| q.to == at)
        .expect("a would-be neighbour is pinged at once");
    assert_eq!(sent.len(), 1);
    // Asking again while the ping is out sends no second one.
    assert!(pinged_by(&mut h, at, &newcomer).is_empty());
    answer(&mut h, ping, &newcomer);
    assert!(
        h.node
            .routing_table()
            .get(&newcomer)
            .is_some_and(|e| e.verified)
    );
    // Verified, it is handed out to whoever looks for our neighbourhood.
    let asked = h
        .ask(
            v4(10, 9, 9, 9, 6881),
            &id(0x30, 9),
            "find_node",
            vec![("target", B::s(near(3, 0x40).0))],
        )
        .expect("answered");
    assert!(asked.nodes.iter().any(|(n, _)| *n == newcomer));
}

#[test]
fn a_sender_farther_than_our_closest_waits_for_maintenance() {
    let (mut h, _) = settled();
    // Bucket 1 has room, but eight known nodes are nearer us: no ping out of turn.
    let (far, at) = (id(0x80, 7), v4(10, 0, 3, 1, 6881));
    assert!(pinged_by(&mut h, at, &far).is_empty());
    assert!(
        h.node
            .routing_table()
            .get(&far)
            .is_some_and(|e| !e.verified)
    );
}

#[test]
fn fake_senders_near_our_id_cost_one_ping_each_and_take_no_neighbour_slot() {
    let (mut h, neighbours) = settled();
    // Nodes nobody runs, with ids nearer us than our neighbours, from 300 addresses, each
    // asking five times.
    let mut pings = 0;
    for i in 0..300u32 {
        let mut fake = near(4 + (i % 12) as usize, (i / 12) as u8);
        fake.0[19] ^= 0x01;
        let [_, _, c, d] = (i + 1).to_be_bytes();
        let at = v4(10, 100 + c, d, 1, 6881);
        for _ in 0..5 {
            pings += pinged_by(&mut h, at, &fake).len();
        }
    }
    assert!(pings <= 300, "{pings} pings for 300 fake senders");
    let table = h.node.routing_table();
    table.check_invariants().expect("table invariants");
    for n in &neighbours {
        assert!(
            table.get(n).is_some_and(|e| e.verified),
            "a verified neighbour lost its slot"
        );
    }
    // Our answers about our own neighbourhood still name only nodes that answered us.
    let asked = h
        .ask(
            v4(10, 9, 9, 9, 6881),
            &id(0x30, 9),
            "find_node",
            vec![("target", B::s([0xff; 20]))],
        )
        .expect("answered");
    assert_eq!(asked.nodes.len(), 8);
    assert!(asked.nodes.iter().all(|(n, _)| neighbours.contains(n)));
}

#[test]
fn a_bootstrap_looks_up_our_own_id_again_half_a_minute_on() {
    let mut h = Harness::new(config(8));
    let own = h.node.id();
    let (router, at) = (id(0x10, 1), v4(10, 0, 0, 1, 6881));
    h.node.bootstrap(h.now, &[SocketAddr::V4(at)]);
    let start = h.now;
    let mut bootstrapped = None;
    let mut again = None;
    while h.now < start + Duration::from_secs(120) && again.is_none() {
        for q in queries(&mut h) {
            if q.to == at {
                if bootstrapped.is_some() && q.find_node == Some(own) {
                    again = Some(h.now);
                }
                answer(&mut h, &q, &router);
            }
        }
        if h.events()
            .iter()
            .any(|e| matches!(e, Event::Bootstrapped { .. }))
        {
            bootstrapped = Some(h.now);
        }
        h.tick(Duration::from_secs(1));
    }
    let bootstrapped = bootstrapped.expect("bootstrapped");
    let again = again.expect("a second lookup of our own id");
    let after = again - bootstrapped;
    assert!(
        (Duration::from_secs(29)..=Duration::from_secs(31)).contains(&after),
        "looked up our id again {after:?} after the bootstrap"
    );
}
