//! BEP 44 storage end to end: puts and gets between core nodes in the simulator, the server's
//! answers and error codes on hand-made queries, and a client that refuses forged items.

mod sim_support;

use sim_support::{LOOKUP_LIMIT, build, private, sim};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokengo_core::item::{Item, MutableItem, SigningKey, Value, mutable_target};
use tokengo_core::krpc::{self, Body, ItemFields, Message, Response, error_code};
use tokengo_core::sim::{NetConfig, NodeHandle, Sim};
use tokengo_core::{Config, Event, Id, Node, QueryId};

/// The end of a get: the item found.
fn got(sim: &mut Sim<Node>, node: NodeHandle, query: QueryId) -> Option<Item> {
    match wait_item(sim, node, query) {
        Event::GetDone { item, .. } => item,
        other => panic!("not a get's end: {other:?}"),
    }
}

/// The end of a put: how many nodes accepted it, and the codes of those that refused.
fn put(sim: &mut Sim<Node>, node: NodeHandle, query: QueryId) -> (usize, Vec<i64>) {
    match wait_item(sim, node, query) {
        Event::PutDone {
            accepted, refused, ..
        } => (accepted, refused),
        other => panic!("not a put's end: {other:?}"),
    }
}

fn wait_item(sim: &mut Sim<Node>, node: NodeHandle, query: QueryId) -> Event {
    let find = |sim: &Sim<Node>| {
        sim.events(node).find_map(|(_, e)| match e {
            Event::GetDone { query: q, .. } | Event::PutDone { query: q, .. } if *q == query => {
                Some(e.clone())
            }
            _ => None,
        })
    };
    sim.run_until(LOOKUP_LIMIT, |sim| find(sim).is_some());
    find(sim).expect("the command finished")
}

fn signed(key: &SigningKey, salt: &[u8], seq: i64, text: &str) -> MutableItem {
    MutableItem::sign(key, salt, seq, Value::string(text.as_bytes()).unwrap()).unwrap()
}

/// A seed and two nodes that joined through it.
fn three_nodes(seed: u64) -> (Sim<Node>, NodeHandle, NodeHandle, NodeHandle) {
    let mut sim = sim(seed, NetConfig::default());
    let hub = sim.add_node(private());
    let a = sim.add_node(private());
    let b = sim.add_node(private());
    for node in [a, b] {
        sim.bootstrap(node, &[hub]);
    }
    sim.run_for(Duration::from_secs(10));
    (sim, hub, a, b)
}

#[test]
fn an_immutable_item_put_by_one_node_is_got_by_another_through_a_lone_seed() {
    let (mut sim, hub, a, b) = three_nodes(44);
    let value = Value::string(b"hello, dht").unwrap();
    let q = sim
        .with(a, |n, now| n.put_immutable(now, value.clone()))
        .unwrap();
    let (accepted, refused) = put(&mut sim, a, q);
    assert!(accepted >= 1, "nobody stored it: {refused:?}");
    assert_eq!(sim.endpoint(hub).unwrap().stats().stored_items, 1);

    let target = Item::Immutable(value.clone()).target();
    let q = sim.with(b, |n, now| n.get_immutable(now, target)).unwrap();
    assert_eq!(got(&mut sim, b, q), Some(Item::Immutable(value)));

    let absent = Id([9; 20]);
    let q = sim.with(b, |n, now| n.get_immutable(now, absent)).unwrap();
    assert_eq!(got(&mut sim, b, q), None);
}

#[test]
fn mutable_updates_are_seen_and_older_or_mismatched_puts_are_refused() {
    let (mut sim, _hub, a, b) = three_nodes(45);
    let key = SigningKey::from_seed([3; 32]);
    for (seq, text) in [(1, "first"), (2, "second")] {
        let item = signed(&key, b"topic", seq, text);
        let q = sim
            .with(a, |n, now| n.put_mutable(now, item, None))
            .unwrap();
        let (accepted, refused) = put(&mut sim, a, q);
        assert!(
            accepted >= 1 && refused.is_empty(),
            "seq {seq}: {refused:?}"
        );
    }
    let pk = key.public_key();
    let q = sim
        .with(b, |n, now| n.get_mutable(now, pk, b"topic"))
        .unwrap()
        .unwrap();
    let item = got(&mut sim, b, q).expect("found");
    assert_eq!(item.seq(), Some(2));
    assert_eq!(item.value().as_string(), Some(&b"second"[..]));

    // a's puts went to the hub and b, which hold seq 2; b's go to the hub and a, which holds
    // nothing (a node does not store its own puts).
    let older = signed(&key, b"topic", 1, "first");
    let q = sim
        .with(b, |n, now| n.put_mutable(now, older, None))
        .unwrap();
    assert_eq!(
        put(&mut sim, b, q),
        (1, vec![error_code::SEQ_LESS_THAN_CURRENT])
    );

    // Now the hub holds 2 and a holds 1: a cas of 1 passes only at a.
    let third = signed(&key, b"topic", 3, "third");
    let q = sim
        .with(b, |n, now| n.put_mutable(now, third, Some(1)))
        .unwrap();
    assert_eq!(put(&mut sim, b, q), (1, vec![error_code::CAS_MISMATCH]));
    // b asks the hub (seq 2) and a (seq 3): the highest valid one wins.
    let q = sim
        .with(b, |n, now| n.get_mutable(now, pk, b"topic"))
        .unwrap()
        .unwrap();
    assert_eq!(got(&mut sim, b, q).and_then(|i| i.seq()), Some(3));

    // Another salt is another item.
    let q = sim
        .with(a, |n, now| n.get_mutable(now, pk, b""))
        .unwrap()
        .unwrap();
    assert_eq!(got(&mut sim, a, q), None);
}

#[test]
fn a_mutable_item_put_on_1000_lossy_nodes_is_got_by_99_percent_of_200_readers() {
    let mut sim = sim(4444, NetConfig::default().with_loss(0.05));
    let nodes = build(&mut sim, 1000, |_| private());
    let key = SigningKey::from_seed([5; 32]);
    let item = signed(&key, b"", 7, "the record");
    let q = sim
        .with(nodes[0], |n, now| n.put_mutable(now, item.clone(), None))
        .unwrap();
    let (accepted, _) = put(&mut sim, nodes[0], q);
    assert!(accepted >= 4, "only {accepted} nodes stored it");
    let readers = &nodes[300..500];
    let queries: Vec<(NodeHandle, QueryId)> = readers
        .iter()
        .map(|&r| {
            (
                r,
                sim.with(r, |n, now| n.get_mutable(now, key.public_key(), b""))
                    .unwrap()
                    .unwrap(),
            )
        })
        .collect();
    let mut found = 0;
    for (reader, query) in queries {
        if got(&mut sim, reader, query) == Some(Item::Mutable(item.clone())) {
            found += 1;
        }
    }
    eprintln!("{found} of 200 readers got the item ({accepted} nodes stored it)");
    assert!(found >= 198, "{found} of 200 readers got the item");
}

const FROM: &str = "127.0.0.1:6666";
const ID: &[u8; 20] = b"abcdefghij0123456789";

/// Sends one datagram to `node` from [`FROM`] and decodes its answer into owned parts.
fn exchange(node: &mut Node, now: Instant, datagram: &[u8]) -> Answer {
    node.handle_input(now, FROM.parse().unwrap(), datagram);
    let t = node.poll_transmit().expect("an answer");
    assert!(node.poll_transmit().is_none());
    let msg = krpc::decode(&t.payload).expect("our answer decodes");
    match msg.body {
        Body::Response(r) => Answer::Response {
            token: r.token.map(<[u8]>::to_vec),
            nodes: r.nodes.map_or(0, |n| n.len()),
            value: r.item.value.map(<[u8]>::to_vec),
            seq: r.item.seq,
            signed: r.item.key.is_some() && r.item.signature.is_some(),
        },
        Body::Error(e) => Answer::Error(e.code),
        Body::Query(_) => panic!("a query in answer"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Response {
        token: Option<Vec<u8>>,
        nodes: usize,
        value: Option<Vec<u8>>,
        seq: Option<i64>,
        signed: bool,
    },
    Error(i64),
}

fn bencode_get(target: &Id, seq: Option<i64>) -> Vec<u8> {
    let seq = seq.map(|s| format!("3:seqi{s}e")).unwrap_or_default();
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(ID);
    out.extend_from_slice(seq.as_bytes());
    out.extend_from_slice(b"6:target20:");
    out.extend_from_slice(&target.0);
    out.extend_from_slice(b"e1:q3:get1:t2:gg1:y1:qe");
    out
}

fn token_of(answer: &Answer) -> Vec<u8> {
    match answer {
        Answer::Response { token: Some(t), .. } => t.clone(),
        other => panic!("no token: {other:?}"),
    }
}

/// A put query as mainline and libtorrent send it (keys sorted).
fn bencode_put(
    token: &[u8],
    value: &[u8],
    mutable: Option<(&MutableItem, Option<i64>)>,
) -> Vec<u8> {
    let mut a = Vec::new();
    if let Some((_, Some(cas))) = mutable {
        a.extend_from_slice(format!("3:casi{cas}e").as_bytes());
    }
    a.extend_from_slice(b"2:id20:");
    a.extend_from_slice(ID);
    if let Some((m, _)) = mutable {
        a.extend_from_slice(b"1:k32:");
        a.extend_from_slice(m.key());
        if !m.salt().is_empty() {
            a.extend_from_slice(format!("4:salt{}:", m.salt().len()).as_bytes());
            a.extend_from_slice(m.salt());
        }
        a.extend_from_slice(format!("3:seqi{}e3:sig64:", m.seq()).as_bytes());
        a.extend_from_slice(m.signature());
    }
    a.extend_from_slice(format!("5:token{}:", token.len()).as_bytes());
    a.extend_from_slice(token);
    a.extend_from_slice(b"1:v");
    a.extend_from_slice(value);
    [b"d1:ad".to_vec(), a, b"e1:q3:put1:t2:pp1:y1:qe".to_vec()].concat()
}

fn contact(node: &mut Node, now: Instant, port: u16) {
    node.add_contact(
        now,
        tokengo_core::NodeInfo {
            id: Id([port as u8; 20]),
            addr: format!("127.0.0.{}:{port}", port % 200 + 2)
                .parse()
                .unwrap(),
        },
    );
}

#[test]
fn a_get_is_answered_with_a_token_and_nodes_whether_or_not_an_item_is_stored() {
    let now = Instant::now();
    let mut node = Node::new(Config::mainline(), now);
    for port in 1000..1010 {
        contact(&mut node, now, port);
    }
    let answer = exchange(&mut node, now, &bencode_get(&Id([1; 20]), None));
    let Answer::Response {
        token,
        nodes,
        value,
        seq,
        ..
    } = &answer
    else {
        panic!("{answer:?}");
    };
    assert!(token.is_some());
    assert_eq!((*nodes, value, seq), (8, &None, &None));

    let value = b"5:hello";
    let target = Item::Immutable(Value::new(value).unwrap()).target();
    let token = token_of(&exchange(&mut node, now, &bencode_get(&target, None)));
    let put = bencode_put(&token, value, None);
    assert!(matches!(
        exchange(&mut node, now, &put),
        Answer::Response { .. }
    ));
    let answer = exchange(&mut node, now, &bencode_get(&target, None));
    assert!(matches!(
        answer,
        Answer::Response { nodes: 8, value: Some(ref v), token: Some(_), .. } if v == value
    ));
}

#[test]
fn a_get_with_seq_gets_no_value_unless_the_stored_one_is_newer() {
    let now = Instant::now();
    let mut node = Node::new(Config::mainline(), now);
    let key = SigningKey::from_seed([8; 32]);
    let item = signed(&key, b"", 5, "five");
    let target = item.target();
    let token = token_of(&exchange(&mut node, now, &bencode_get(&target, None)));
    let put = bencode_put(&token, item.value().as_bytes(), Some((&item, None)));
    assert!(matches!(
        exchange(&mut node, now, &put),
        Answer::Response { .. }
    ));

    for (have, sent) in [
        (None, true),
        (Some(4), true),
        (Some(5), false),
        (Some(9), false),
    ] {
        let answer = exchange(&mut node, now, &bencode_get(&target, have));
        let Answer::Response {
            value, seq, signed, ..
        } = answer
        else {
            panic!("{answer:?}");
        };
        assert_eq!(seq, Some(5), "have {have:?}");
        assert_eq!(value.is_some(), sent, "have {have:?}");
        assert_eq!(signed, sent, "have {have:?}");
    }
}

#[test]
fn bad_puts_get_bep44_error_codes() {
    let now = Instant::now();
    let mut node = Node::new(Config::mainline(), now);
    let key = SigningKey::from_seed([2; 32]);
    let token = token_of(&exchange(&mut node, now, &bencode_get(&Id([1; 20]), None)));

    let big = Value::string(&[b'x'; 996]).unwrap();
    let too_big = [b"1001:".as_slice(), &[b'x'; 1001]].concat();
    assert!(matches!(
        exchange(&mut node, now, &bencode_put(&token, big.as_bytes(), None)),
        Answer::Response { .. }
    ));
    assert_eq!(
        exchange(&mut node, now, &bencode_put(&token, &too_big, None)),
        Answer::Error(205)
    );

    let item = signed(&key, b"", 1, "one");
    let mut forged = bencode_put(&token, item.value().as_bytes(), Some((&item, None)));
    let at = forged.windows(4).position(|w| w == b"3:on").unwrap();
    forged[at + 2] = b'O';
    assert_eq!(exchange(&mut node, now, &forged), Answer::Error(206));

    let salted = signed(&key, &[b's'; 64], 1, "one");
    let ok = bencode_put(&token, salted.value().as_bytes(), Some((&salted, None)));
    assert!(matches!(
        exchange(&mut node, now, &ok),
        Answer::Response { .. }
    ));
    let long_salt = ok.replace_salt(&[b's'; 65]);
    assert_eq!(exchange(&mut node, now, &long_salt), Answer::Error(207));

    let bad_token = bencode_put(b"nope", item.value().as_bytes(), Some((&item, None)));
    assert_eq!(exchange(&mut node, now, &bad_token), Answer::Error(203));
    // A mutable put without its signature is malformed.
    let unsigned = [
        b"d1:ad2:id20:abcdefghij0123456789".as_slice(),
        b"1:k32:kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk3:seqi1e",
        format!("5:token{}:", token.len()).as_bytes(),
        &token,
        b"1:v3:onee1:q3:put1:t2:pp1:y1:qe",
    ]
    .concat();
    assert_eq!(exchange(&mut node, now, &unsigned), Answer::Error(203));
    assert_eq!(node.stats().stored_items, 2);
}

/// Replaces the salt of an encoded put (only for the test above).
trait ReplaceSalt {
    fn replace_salt(&self, salt: &[u8]) -> Vec<u8>;
}

impl ReplaceSalt for Vec<u8> {
    fn replace_salt(&self, salt: &[u8]) -> Vec<u8> {
        let at = self.windows(7).position(|w| w == b"4:salt6").unwrap();
        let end = at + b"4:salt64:".len() + 64;
        let mut out = self[..at].to_vec();
        out.extend_from_slice(format!("4:salt{}:", salt.len()).as_bytes());
        out.extend_from_slice(salt);
        out.extend_from_slice(&self[end..]);
        out
    }
}

/// Answers the one `get` `node` sent to `peer` with `item`, and returns the node's events.
fn answer_get(node: &mut Node, now: Instant, peer: SocketAddr, item: ItemFields<'_>) -> Vec<Event> {
    let t = node.poll_transmit().expect("a get");
    assert_eq!(t.to, peer);
    let query = krpc::decode(&t.payload).unwrap();
    let reply = Message {
        transaction_id: query.transaction_id,
        version: None,
        requester_ip: None,
        read_only: false,
        network: None,
        body: Body::Response(Response {
            token: Some(b"tok"),
            item,
            ..Response::with_id(Id([0x55; 20]))
        }),
    };
    node.handle_input(now, peer, &reply.to_vec().unwrap());
    std::iter::from_fn(|| node.poll_event()).collect()
}

fn only_get_done(events: Vec<Event>) -> Option<Item> {
    match &events[..] {
        [Event::GetDone { item, .. }] => item.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_refuses_forged_or_foreign_items() {
    let now = Instant::now();
    let peer: SocketAddr = "10.1.2.3:6881".parse().unwrap();
    let key = SigningKey::from_seed([4; 32]);
    let item = signed(&key, b"", 3, "three");
    let fresh = || {
        let mut node = Node::new(Config::mainline(), now);
        node.add_contact(
            now,
            tokengo_core::NodeInfo {
                id: Id([0x55; 20]),
                addr: "10.1.2.3:6881".parse().unwrap(),
            },
        );
        node
    };
    let fields = |m: &MutableItem, sig: [u8; 64]| ItemFields {
        value: Some(b"5:three"),
        key: Some(*m.key()),
        signature: Some(sig),
        seq: Some(m.seq()),
    };

    let mut node = fresh();
    node.get_mutable(now, key.public_key(), b"").unwrap();
    let mut forged = *item.signature();
    forged[0] ^= 1;
    assert_eq!(
        only_get_done(answer_get(&mut node, now, peer, fields(&item, forged))),
        None
    );

    // Signed by another key than the one asked for.
    let other = signed(&SigningKey::from_seed([6; 32]), b"", 3, "three");
    let mut node = fresh();
    node.get_mutable(now, key.public_key(), b"").unwrap();
    let events = answer_get(&mut node, now, peer, fields(&other, *other.signature()));
    assert_eq!(only_get_done(events), None);

    let mut node = fresh();
    node.get_mutable(now, key.public_key(), b"").unwrap();
    let events = answer_get(&mut node, now, peer, fields(&item, *item.signature()));
    assert_eq!(only_get_done(events), Some(Item::Mutable(item.clone())));
    assert_eq!(item.target(), mutable_target(&key.public_key(), b""));

    // An immutable value that does not hash to the target.
    let mut node = fresh();
    let target = Item::Immutable(Value::string(b"right").unwrap()).target();
    node.get_immutable(now, target);
    let wrong = ItemFields {
        value: Some(b"5:wrong"),
        ..ItemFields::default()
    };
    assert_eq!(only_get_done(answer_get(&mut node, now, peer, wrong)), None);
    let mut node = fresh();
    node.get_immutable(now, target);
    let right = ItemFields {
        value: Some(b"5:right"),
        ..ItemFields::default()
    };
    let found = only_get_done(answer_get(&mut node, now, peer, right));
    assert_eq!(found.map(|i| i.target()), Some(target));
}
