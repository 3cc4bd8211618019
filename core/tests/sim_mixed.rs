//! Tagged (private) and untagged (Mainline) nodes sharing one network, bootstrapping from each
//! other on purpose: their routing tables never mix and each network still works.

mod sim_support;

use sim_support::{LOOKUP_LIMIT, check_health, sim};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle};
use tokengo_core::{Config, Id, Network};

const PER_NETWORK: usize = 40;

fn network_of(i: usize) -> Network {
    match i % 3 {
        0 => Network::Mainline,
        1 => Network::tokengo(),
        _ => Network::Tagged(b"other".to_vec()),
    }
}

#[test]
fn tagged_and_untagged_tables_never_mix() {
    let mut sim = sim(3, NetConfig::default().with_loss(0.02));
    // Interleaved joins: every node bootstraps from 4 random earlier nodes of any network plus
    // one of its own (so that it can join at all).
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..3 * PER_NETWORK {
        let node = sim.add_node(Config {
            network: network_of(i),
            ..Config::default()
        });
        let mut contacts: Vec<NodeHandle> = Vec::new();
        if !nodes.is_empty() {
            for _ in 0..4 {
                contacts.push(nodes[sim.rng().below(nodes.len() as u64) as usize]);
            }
        }
        if i >= 3 {
            let own = (i % 3..i).step_by(3).count() as u64;
            contacts.push(nodes[i % 3 + 3 * sim.rng().below(own) as usize]);
        }
        contacts.dedup();
        if !contacts.is_empty() {
            sim.bootstrap(node, &contacts);
        }
        nodes.push(node);
        sim.run_for(Duration::from_millis(10));
    }
    sim.run_for(Duration::from_secs(120));
    let network: HashMap<SocketAddr, Network> = nodes
        .iter()
        .enumerate()
        .map(|(i, &n)| (sim.addr(n), network_of(i)))
        .collect();

    for (i, &node) in nodes.iter().enumerate() {
        let endpoint = sim.endpoint(node).expect("running");
        let contacts = endpoint.contacts();
        for contact in &contacts {
            let theirs = &network[&contact.addr];
            assert_eq!(
                theirs,
                &network_of(i),
                "{node} ({:?}) has a contact from {theirs:?}",
                network_of(i)
            );
        }
    }
    // Not vacuous: nodes did meet the other networks and dropped their messages.
    let wrong: u64 = nodes
        .iter()
        .map(|&n| {
            sim.endpoint(n)
                .expect("running")
                .stats()
                .dropped
                .wrong_network
        })
        .sum();
    assert!(wrong > 0, "no cross-network message was ever dropped");

    // Each network works on its own: announce in each, look up from the same network.
    for group in 0..3 {
        let members: Vec<NodeHandle> = nodes.iter().copied().skip(group).step_by(3).collect();
        let joined = members
            .iter()
            .filter(|&&n| !sim.endpoint(n).expect("running").contacts().is_empty())
            .count();
        assert!(
            joined > PER_NETWORK / 2,
            "group {group}: only {joined} nodes have contacts"
        );
        let key = Id([group as u8 + 1; 20]);
        let query = sim.announce(members[1], key, None, true).expect("running");
        sim.wait(members[1], query, LOOKUP_LIMIT);
        let query = sim
            .get_peers(members[PER_NETWORK - 1], key)
            .expect("running");
        let outcome = sim.wait(members[PER_NETWORK - 1], query, LOOKUP_LIMIT);
        assert_eq!(
            outcome.peers,
            vec![sim.addr(members[1])],
            "group {group}: {outcome:?}"
        );
    }
    check_health(&sim, false);
}
