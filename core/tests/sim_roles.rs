//! Nodes with other roles in the network: BEP 43 read-only nodes (clients and exits behind NAT)
//! look things up but are never stored; many nodes behind one IP take at most
//! `max_nodes_per_ip` places in anyone's table.

mod sim_support;

use sim_support::{LOOKUP_LIMIT, announce_random, build, check_health, lookup_round, private, sim};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokengo_core::Config;
use tokengo_core::sim::{NetConfig, NodeHandle};

#[test]
fn read_only_nodes_look_up_but_are_never_stored() {
    let mut sim = sim(43, NetConfig::default().with_loss(0.02));
    let servers = build(&mut sim, 60, |_| private());
    let mut clients: Vec<NodeHandle> = Vec::new();
    for i in 0..20 {
        let client = sim.add_node(Config {
            read_only: true,
            ..private()
        });
        let contacts = [servers[i], servers[(i * 7 + 3) % servers.len()]];
        sim.bootstrap(client, &contacts);
        clients.push(client);
    }
    sim.run_for(Duration::from_secs(120));
    let announced = announce_random(&mut sim, &servers, 20);

    // Every client finds every announce.
    let mut queries = Vec::new();
    for (client, a) in clients.iter().zip(&announced) {
        queries.push((*client, sim.get_peers(*client, a.key).expect("running")));
    }
    let outcomes = sim.wait_all(&queries, LOOKUP_LIMIT);
    for ((client, outcome), a) in clients.iter().zip(&outcomes).zip(&announced) {
        assert!(
            outcome.peers.contains(&a.peer),
            "{client} did not find {}: {outcome:?}",
            a.key
        );
    }
    // Clients know servers; nobody knows a client.
    let client_addrs: HashSet<SocketAddr> = clients.iter().map(|&c| sim.addr(c)).collect();
    for &node in servers.iter().chain(&clients) {
        let contacts = sim.endpoint(node).expect("running").contacts();
        for contact in contacts {
            assert!(
                !client_addrs.contains(&contact.addr),
                "{node} stored read-only {}",
                contact.addr
            );
        }
    }
    for &client in &clients {
        let endpoint = sim.endpoint(client).expect("running");
        assert!(!endpoint.contacts().is_empty(), "{client} has no contacts");
        assert_eq!(
            endpoint.stats().responses_out,
            0,
            "{client} answered a query"
        );
    }
    check_health(&sim, true);
}

#[test]
fn many_nodes_behind_one_ip_take_few_places() {
    let mut sim = sim(44, NetConfig::default());
    let mut nodes = build(&mut sim, 40, |_| private());
    // Thirty nodes share one address, on different ports.
    let shared_ip: IpAddr = "10.200.0.1".parse().expect("literal");
    for port in 0..30u16 {
        let node = sim.add_node_at(SocketAddr::new(shared_ip, 20_000 + port), private());
        let contacts = [
            nodes[usize::from(port) % 40],
            nodes[(usize::from(port) * 3 + 1) % 40],
        ];
        sim.bootstrap(node, &contacts);
        nodes.push(node);
        sim.run_for(Duration::from_millis(10));
    }
    sim.run_for(Duration::from_secs(120));
    let mut saturated = 0;
    for &node in &nodes {
        let endpoint = sim.endpoint(node).expect("running");
        let cap = endpoint.config().max_nodes_per_ip;
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for contact in endpoint.contacts() {
            *per_ip.entry(contact.addr.ip()).or_default() += 1;
        }
        let worst = per_ip.values().copied().max().unwrap_or(0);
        assert!(
            worst <= cap,
            "{node} holds {worst} nodes of one IP (cap {cap}): {per_ip:?}"
        );
        saturated += usize::from(per_ip.get(&shared_ip) == Some(&cap));
    }
    // Not vacuous: the shared IP did reach the cap in some tables.
    assert!(saturated > 0, "no table holds nodes of the shared IP");
    // The shared-IP nodes still work as clients of the network.
    let announced = announce_random(&mut sim, &nodes[..40], 10);
    let round = lookup_round(&mut sim, &nodes[40..], &announced);
    assert_eq!(round.found, 10, "{round:?}");
    check_health(&sim, true);
}
