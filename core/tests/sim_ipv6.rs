//! BEP 32 in the simulator: a network of 300 IPv6-only nodes (one 2001:db8::/48 /64 each, their
//! IPv4 side off) on a lossy network. Lookups run over the IPv6 table alone: announced keys are
//! found by nearly every node, every peer found is an IPv6 address, and no node keeps an IPv4
//! contact.

mod sim_support;

use sim_support::{LOOKUP_LIMIT, private, sim};
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle, SIM_PORT};
use tokengo_core::{Config, Id};

const NODES: u16 = 300;
const KEYS: usize = 5;
const ASKERS: usize = 40;

fn v6(n: u16) -> SocketAddr {
    // One /64 per node: a /64 is one host to the rate limiter, as it is on the Internet.
    SocketAddr::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, n, 0, 0, 0, 1).into(),
        SIM_PORT,
    )
}

fn ipv6_only() -> Config {
    Config {
        ipv4: false,
        ipv6: true,
        ..private()
    }
}

#[test]
fn an_ipv6_only_network_finds_announced_keys_over_lossy_links() {
    let net = NetConfig {
        loss: 0.05,
        ..NetConfig::default()
    };
    let mut sim = sim(32, net);
    let nodes: Vec<NodeHandle> = (1..=NODES)
        .map(|n| sim.add_node_at(v6(n), ipv6_only()))
        .collect();
    for (i, &node) in nodes.iter().enumerate().skip(1) {
        // Each joins through up to three of the nodes before it, 10 ms apart.
        let contacts: Vec<NodeHandle> = (0..3)
            .map(|_| nodes[sim.rng().below(i as u64) as usize])
            .collect();
        sim.bootstrap(node, &contacts);
        sim.run_for(Duration::from_millis(10));
    }
    sim.run_for(Duration::from_secs(60));

    let mut announced = Vec::new();
    for k in 0..KEYS {
        let key = Id(sim.rng().bytes20());
        let by = nodes[(k * 61 + 7) % nodes.len()];
        let port = 7000 + k as u16;
        let query = sim.announce(by, key, Some(port), false).expect("running");
        let outcome = sim.wait(by, query, LOOKUP_LIMIT);
        assert!(outcome.finished.is_some(), "announce {k} did not finish");
        announced.push((key, SocketAddr::new(sim.addr(by).ip(), port)));
    }

    let mut found = 0;
    let mut asked = 0;
    for a in 0..ASKERS {
        let asker = nodes[(a * 37 + 3) % nodes.len()];
        let (key, peer) = announced[a % KEYS];
        let query = sim.get_peers(asker, key).expect("running");
        let outcome = sim.wait(asker, query, LOOKUP_LIMIT);
        assert!(outcome.peers.iter().all(SocketAddr::is_ipv6), "{outcome:?}");
        asked += 1;
        found += usize::from(outcome.peers.contains(&peer));
    }
    assert!(found * 100 >= asked * 95, "found {found} of {asked}");
    for &node in &nodes {
        let contacts = sim.with(node, |n, _| n.contacts()).expect("running");
        assert!(contacts.iter().all(|c| c.addr.is_ipv6()));
        let stats = sim.with(node, |n, _| n.stats()).expect("running");
        assert_eq!(
            stats.nodes_v6,
            sim.with(node, |n, _| n.routing_table6().len()).unwrap()
        );
    }
    let total: usize = nodes
        .iter()
        .map(|&n| sim.with(n, |node, _| node.routing_table6().len()).unwrap())
        .sum();
    assert!(
        total / nodes.len() >= 8,
        "IPv6 tables average {} nodes",
        total / nodes.len()
    );
}
