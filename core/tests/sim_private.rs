//! Private (tagged) networks of one, two and eight nodes: no hidden minimum size; an announced
//! key is found by every other node, and a lone node serves its own announce.

mod sim_support;

use sim_support::{LOOKUP_LIMIT, check_health, private, sim};
use std::net::SocketAddr;
use tokengo_core::sim::{Finished, NetConfig, NodeHandle, Sim};
use tokengo_core::{Config, Id, LookupKind, Node};

fn with_port(addr: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(addr.ip(), port)
}

/// Announces `key` from `by` on `port` and checks the announce finished.
fn announce(sim: &mut Sim<Node>, by: NodeHandle, key: Id, port: Option<u16>) -> Option<Finished> {
    let query = sim.announce(by, key, port, true).expect("running");
    let outcome = sim.wait(by, query, LOOKUP_LIMIT);
    assert!(
        outcome.finished.is_some(),
        "announce from {by} did not finish: {outcome:?}"
    );
    outcome.finished
}

/// A get_peers for `key` from `asker`; returns the peers it found after checking it finished.
fn get_peers(sim: &mut Sim<Node>, asker: NodeHandle, key: Id) -> Vec<SocketAddr> {
    let query = sim.get_peers(asker, key).expect("running");
    let outcome = sim.wait(asker, query, LOOKUP_LIMIT);
    match &outcome.finished {
        Some(Finished::Lookup {
            kind: LookupKind::GetPeers,
            ..
        }) => {}
        other => panic!("get_peers from {asker} did not finish as a get_peers lookup: {other:?}"),
    }
    outcome.peers
}

#[test]
fn one_node_finds_its_own_announce() {
    let mut sim = sim(1, NetConfig::default());
    // Nobody told this node its address: it reports itself on loopback.
    let alone = sim.add_node(private());
    let key = Id([0x11; 20]);
    announce(&mut sim, alone, key, Some(7000));
    assert_eq!(
        get_peers(&mut sim, alone, key),
        vec![SocketAddr::from(([127, 0, 0, 1], 7000))]
    );

    // A node configured with its address reports that one.
    let known = sim.add_node_with(|addr| match addr {
        SocketAddr::V4(external) => Config {
            external_addr: Some(external),
            ..private()
        },
        SocketAddr::V6(_) => panic!("the simulator hands out IPv4 addresses"),
    });
    let addr = sim.addr(known);
    announce(&mut sim, known, key, Some(7001));
    assert_eq!(get_peers(&mut sim, known, key), vec![with_port(addr, 7001)]);
    check_health(&sim, true);
}

#[test]
fn two_nodes_find_each_others_announces() {
    let mut sim = sim(2, NetConfig::default());
    let seed = sim.add_node(private());
    let joiner = sim.add_node(private());
    let query = sim.bootstrap(joiner, &[seed]).expect("running");
    let boot = sim.wait(joiner, query, LOOKUP_LIMIT);
    assert_eq!(
        boot.finished,
        Some(Finished::Bootstrapped { table_size: 1 }),
        "{boot:?}"
    );

    let (a, b) = (Id([0x21; 20]), Id([0x22; 20]));
    // The joiner announces with an explicit port, the seed with the implied (source) port.
    let accepted = announce(&mut sim, joiner, a, Some(7001));
    assert!(
        matches!(accepted, Some(Finished::Announce { accepted: 1.., .. })),
        "{accepted:?}"
    );
    let accepted = announce(&mut sim, seed, b, None);
    assert!(
        matches!(accepted, Some(Finished::Announce { accepted: 1.., .. })),
        "{accepted:?}"
    );

    assert_eq!(
        get_peers(&mut sim, seed, a),
        vec![with_port(sim.addr(joiner), 7001)]
    );
    assert_eq!(get_peers(&mut sim, joiner, b), vec![sim.addr(seed)]);
    // The lone seed grew a table from the node that queried it.
    let seed_contacts = sim.endpoint(seed).expect("running").contacts();
    assert_eq!(seed_contacts.len(), 1);
    assert_eq!(seed_contacts[0].addr, sim.addr(joiner));
    check_health(&sim, true);
}

#[test]
fn eight_nodes_all_find_one_announce() {
    let mut sim = sim(8, NetConfig::default());
    let seed = sim.add_node(private());
    let others: Vec<NodeHandle> = (0..7).map(|_| sim.add_node(private())).collect();
    let boots: Vec<_> = others
        .iter()
        .map(|&n| (n, sim.bootstrap(n, &[seed]).expect("running")))
        .collect();
    for outcome in sim.wait_all(&boots, LOOKUP_LIMIT) {
        assert!(
            matches!(outcome.finished, Some(Finished::Bootstrapped { table_size }) if table_size >= 1),
            "{outcome:?}"
        );
    }
    let all: Vec<NodeHandle> = std::iter::once(seed)
        .chain(others.iter().copied())
        .collect();
    // Let the tables fill from the queries the nodes exchange.
    sim.run_for(std::time::Duration::from_secs(60));

    let announcer = others[3];
    let key = Id([0x88; 20]);
    announce(&mut sim, announcer, key, None);
    for &asker in all.iter().filter(|&&n| n != announcer) {
        assert_eq!(
            get_peers(&mut sim, asker, key),
            vec![sim.addr(announcer)],
            "asked from {asker}"
        );
    }
    // Every node knows every other one: eight nodes fit in one bucket.
    for &node in &all {
        let contacts = sim.endpoint(node).expect("running").contacts().len();
        assert_eq!(contacts, 7, "{node} knows {contacts} of 7 others");
    }
    check_health(&sim, true);
}
