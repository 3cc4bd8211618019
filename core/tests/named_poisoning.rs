//! A responder that names fabricated nodes (ids near the targets we look up, addresses where
//! nothing answers) fills only the free slots of our wide far buckets, and we never hand its
//! inventions out while we know enough nodes that answered us. One node, hand-written answers.

mod hand_support;

use hand_support::{B, Harness, compact, config, id, v4};
use std::net::SocketAddrV4;
use std::time::Duration;
use tokengo_core::Id;
use tokengo_core::routing::FAR_BUCKET_FACTORS;

#[test]
fn fabricated_nodes_stay_bounded_and_are_never_handed_out() {
    let (mut h, honest, liar) = poisoned_setup();

    let mut fabricated: Vec<(Id, SocketAddrV4)> = Vec::new();
    for round in 0..40u8 {
        // A lookup near the liar's id asks it first; it names 8 inventions each time.
        let target = id(0x40, 100 + round);
        h.node.find_node(h.now, target);
        let ask = h
            .sent()
            .into_iter()
            .find(|s| s.to == liar.1)
            .expect("the liar is asked");
        let names = inventions(round);
        let field = B::S(names.iter().flat_map(|(i, a)| compact(i, *a)).collect());
        h.answer(&ask, &liar.0, vec![("nodes", field)]);
        fabricated.extend(names);
        h.tick(Duration::from_millis(1));
        h.sent();
    }

    let table = h.node.routing_table();
    let kept = fabricated
        .iter()
        .filter(|(i, _)| table.get(i).is_some())
        .count();
    let bucket_0 = 8 * FAR_BUCKET_FACTORS[0];
    assert!(kept > 0, "answers' nodes fill the wide bucket");
    // Its free slots: all but the honest nodes' and the liar's.
    let free = bucket_0 - honest.len() - 1;
    assert!(
        kept <= free,
        "{kept} inventions kept, over the bucket's free slots"
    );
    table.check_invariants().expect("invariants");

    // Asked about the region the liar poisoned, we answer with nodes that answered us.
    let asker = (id(0x90, 7), v4(10, 0, 50, 1, 6881));
    for round in 0..40u8 {
        let answer = h
            .ask(
                asker.1,
                &asker.0,
                "find_node",
                vec![("target", B::s(id(0x40, round).0))],
            )
            .expect("an answer");
        assert_eq!(answer.nodes.len(), 8);
        for (i, a) in &answer.nodes {
            assert!(
                !fabricated.iter().any(|f| f.0 == *i || f.1 == *a),
                "handed out an invention: {i} at {a}"
            );
        }
    }
}

#[test]
fn a_fabricated_node_costs_our_lookups_a_bounded_number_of_requests() {
    let (mut h, honest, liar) = poisoned_setup();
    let max_failures = u32::from(h.node.config().node_max_failures);

    // The liar names 8 inventions in each of the first 20 lookups; nothing answers at their
    // addresses, while every honest node and the liar answer every query.
    let mut fabricated: Vec<(Id, SocketAddrV4)> = Vec::new();
    let mut asked: std::collections::HashMap<SocketAddrV4, u32> = Default::default();
    for round in 0..60u8 {
        let target = id(0x40, 100 + round);
        h.node.find_node(h.now, target);
        let lying = round < 20;
        let names = inventions(round);
        if lying {
            fabricated.extend(names.iter().copied());
        }
        let fakes = fabricated.clone();
        let (_, sent) = hand_support::run_lookup(&mut h, |h, query| {
            if query.to == liar.1 {
                let nodes = if lying { &names[..] } else { &[][..] };
                let field = B::S(nodes.iter().flat_map(|(i, a)| compact(i, *a)).collect());
                h.answer(query, &liar.0, vec![("nodes", field)]);
            } else if let Some((i, _)) = honest.iter().find(|(_, a)| *a == query.to) {
                h.answer(query, i, vec![("nodes", B::S(Vec::new()))]);
            }
            true
        });
        for s in sent {
            if fakes.iter().any(|(_, a)| *a == s.to) {
                *asked.entry(s.to).or_default() += 1;
            }
        }
    }
    // Maintenance goes on for ten minutes: the liveness pings that still reach inventions
    // count against them too.
    let end = h.now + Duration::from_secs(600);
    while h.now < end {
        h.tick(Duration::from_secs(1));
        for s in h.sent() {
            if fabricated.iter().any(|(_, a)| *a == s.to) {
                *asked.entry(s.to).or_default() += 1;
            }
        }
    }

    assert!(!asked.is_empty(), "the inventions were asked at all");
    let worst = asked.values().copied().max().unwrap_or(0);
    // A named node is dropped once it fails `max_failures` queries in a row; a ping and a
    // lookup's query may both be in flight when it does.
    assert!(
        worst <= 2 * max_failures,
        "an invention drew {worst} requests, over {}",
        2 * max_failures
    );
    let total: u32 = asked.values().sum();
    let table = h.node.routing_table();
    let kept: Vec<_> = fabricated
        .iter()
        .filter(|(i, _)| table.get(i).is_some())
        .collect();
    assert!(
        kept.is_empty(),
        "{} inventions still in the table",
        kept.len()
    );
    table.check_invariants().expect("invariants");
    eprintln!(
        "{} inventions, {} asked, {total} requests to them, worst {worst}",
        fabricated.len(),
        asked.len()
    );
}

type Contact = (Id, SocketAddrV4);

/// Our node (id 0xff..ff, see `config`: ids below 0x80.. are in bucket 0) knowing 8 honest
/// nodes in bucket 0, one near us that splits the table (so bucket 0 is a wide bucket), and
/// the liar, all verified.
fn poisoned_setup() -> (Harness, Vec<Contact>, Contact) {
    let mut h = Harness::new(config(8));
    let honest: Vec<Contact> = (0..8)
        .map(|i| (id(0x10 + i, 1), v4(10, 0, 0, 10 + i, 6881)))
        .collect();
    for (i, a) in &honest {
        h.verified(i, *a);
    }
    h.verified(&id(0xff, 1), v4(10, 0, 0, 99, 6881));
    let liar = (id(0x40, 0), v4(10, 0, 9, 1, 6881));
    h.verified(&liar.0, liar.1);
    h.sent();
    (h, honest, liar)
}

/// The 8 inventions the liar names in `round`: ids near the round's target, each at an IP of
/// its own where nothing answers.
fn inventions(round: u8) -> Vec<Contact> {
    (0..8u8)
        .map(|j| {
            let mut fake = id(0x40, round);
            fake.0[1] = j + 1;
            (fake, v4(10, 200 + j / 4, round, j, 6881))
        })
        .collect()
}
