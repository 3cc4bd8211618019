//! BEP 42 in the routing table, driven by hand: preferring secure ids, a secure newcomer takes
//! a non-secure node's slot in a full bucket, a non-secure one never takes a live secure node's
//! slot, and replacement caches keep secure nodes first; enforcing them, non-secure nodes
//! never enter; with the policy off (the private network), ids are not looked at.

use proptest::prelude::*;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokengo_core::routing::{Insert, RoutingTable, TableConfig};
use tokengo_core::secure_id::{is_secure, secure_id, secure_id_v6};
use tokengo_core::{Config, Id, Network, Node, NodeInfo, SecureIdPolicy};

/// Our id: first bit 0, so that every node below (first bit 1) sits in bucket 0, which stops
/// being the last one (and so stops splitting) after the first split.
const OWN: Id = Id([0; 20]);

fn config(policy: SecureIdPolicy, replacement_cache: usize) -> TableConfig {
    TableConfig {
        k: 4,
        replacement_cache,
        max_nodes_per_ip: 2,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: policy,
        wide_far_buckets: false,
    }
}

/// A public address of its own for node `n`; secure and non-secure nodes never share one.
fn ip(n: u8, secure: bool) -> Ipv4Addr {
    Ipv4Addr::new(if secure { 23 } else { 45 }, n, 7, 1)
}

/// Node `n`, far from [`OWN`], with an id secure for its address or not.
fn node(n: u8, secure: bool) -> NodeInfo {
    let ip = ip(n, secure);
    let id = if secure {
        // BEP 42's 3 random bits (the last byte's low bits) give 8 prefixes per address.
        (0..8u8)
            .map(|r| {
                let mut random = [n; 20];
                random[19] = r;
                secure_id(ip, random)
            })
            .find(|id| id.0[0] & 0x80 != 0)
            .expect("one of the 8 prefixes is far from OWN")
    } else {
        let mut id = Id([0x80 | n; 20]);
        id.0[10] = 0x55;
        id
    };
    assert_eq!(is_secure(&id, ip), secure, "node {n}");
    NodeInfo {
        id,
        addr: SocketAddr::V4(SocketAddrV4::new(ip, 6881)),
    }
}

/// A table whose bucket 0 holds four good nodes, secure or not.
fn full_bucket(policy: SecureIdPolicy, cache: usize, secure: bool, now: Instant) -> RoutingTable {
    let mut table = RoutingTable::new(OWN, config(policy, cache), now);
    for n in 1..=4 {
        assert_eq!(table.on_response(node(n, secure), now), Insert::Added);
    }
    table
}

fn secure_count(table: &RoutingTable) -> usize {
    table.entries().filter(|e| e.secure).count()
}

/// Secure nodes that are not bad (a bad node is dead, and any newcomer may take its slot).
fn live_secure_count(table: &RoutingTable) -> usize {
    table
        .entries()
        .filter(|e| e.secure && e.failures < 2)
        .count()
}

#[test]
fn a_secure_newcomer_takes_the_place_of_a_non_secure_node() {
    let t0 = Instant::now();
    let mut table = full_bucket(SecureIdPolicy::Prefer, 4, false, t0);
    // Node 2 turns questionable (the others are heard from later): it is the one to go.
    let t1 = t0 + Duration::from_secs(960);
    for n in [1, 3, 4] {
        table.on_response(node(n, false), t1);
    }
    assert_eq!(table.on_response(node(10, true), t1), Insert::Added);
    assert!(table.get(&node(10, true).id).is_some());
    assert!(
        table.get(&node(2, false).id).is_none(),
        "the questionable non-secure node should have made way"
    );
    assert_eq!(table.len(), 4);
    assert_eq!(
        table.replacement_count(),
        1,
        "the displaced node waits as a replacement"
    );
    // Another one replaces a good non-secure node, the longest silent one.
    assert_eq!(table.on_response(node(11, true), t1), Insert::Added);
    assert_eq!(secure_count(&table), 2);
    assert!(table.check_invariants().is_ok());

    // With the policy off the same newcomer waits, as before.
    let mut off = full_bucket(SecureIdPolicy::Off, 4, false, t0);
    assert!(matches!(
        off.on_response(node(10, true), t1),
        Insert::Parked { .. }
    ));
    assert!(off.get(&node(10, true).id).is_none());
}

#[test]
fn a_secure_query_sender_does_not_displace_anyone() {
    let t0 = Instant::now();
    let mut table = full_bucket(SecureIdPolicy::Prefer, 4, false, t0);
    // A query's source can be forged: only an answer to our query earns a slot.
    assert_eq!(table.on_query(node(10, true), t0), Insert::Rejected);
    assert_eq!(secure_count(&table), 0);
}

#[test]
fn a_non_secure_newcomer_does_not_displace_a_live_secure_node() {
    let t0 = Instant::now();
    let mut table = full_bucket(SecureIdPolicy::Prefer, 4, true, t0);
    assert_eq!(
        table.on_response(node(10, false), t0),
        Insert::Parked { ping: None }
    );
    assert!(table.get(&node(10, false).id).is_none());

    // All questionable now: a ping goes out and fails once; the secure node keeps its slot
    // (with the policy off, the waiting replacement would take it at once).
    let t1 = t0 + Duration::from_secs(960);
    let Insert::Parked { ping: Some(pinged) } = table.on_response(node(11, false), t1) else {
        panic!("a questionable node should be pinged");
    };
    table.on_failure(&pinged.id, &pinged.addr, t1);
    assert!(
        table.get(&pinged.id).is_some(),
        "one lost ping unseated a secure node"
    );
    assert_eq!(secure_count(&table), 4);

    // Once it is bad, it is dead: a non-secure replacement may take its slot.
    table.on_failure(&pinged.id, &pinged.addr, t1);
    assert!(table.get(&pinged.id).is_none());
    assert_eq!(secure_count(&table), 3);
    assert_eq!(table.len(), 4);
    assert!(table.check_invariants().is_ok());

    let mut off = full_bucket(SecureIdPolicy::Off, 4, true, t0);
    let Insert::Parked { ping: Some(pinged) } = off.on_response(node(11, false), t1) else {
        panic!("a questionable node should be pinged");
    };
    off.on_failure(&pinged.id, &pinged.addr, t1);
    assert!(
        off.get(&pinged.id).is_none(),
        "policy off: the replacement steps in"
    );
}

#[test]
fn replacement_caches_keep_secure_nodes_first() {
    let t0 = Instant::now();
    // A cache of three: non-secure 10, secure 11, non-secure 12 (freshest last).
    let mut table = full_bucket(SecureIdPolicy::Prefer, 3, true, t0);
    for (n, secure) in [(10, false), (11, true), (12, false)] {
        assert!(matches!(
            table.on_response(node(n, secure), t0),
            Insert::Parked { .. }
        ));
    }
    // Node 1 dies: the secure replacement steps in, though a non-secure one is fresher.
    let gone = node(1, true);
    table.on_failure(&gone.id, &gone.addr, t0);
    table.on_failure(&gone.id, &gone.addr, t0);
    assert!(table.get(&node(11, true).id).is_some());
    assert!(table.get(&node(12, false).id).is_none());

    // A full cache of secure nodes turns a non-secure newcomer away.
    let mut table = full_bucket(SecureIdPolicy::Prefer, 2, true, t0);
    for (n, secure) in [(10, true), (11, true), (12, false)] {
        table.on_response(node(n, secure), t0);
    }
    assert_eq!(table.replacement_count(), 2);
    for n in [1, 2] {
        let gone = node(n, true);
        table.on_failure(&gone.id, &gone.addr, t0);
        table.on_failure(&gone.id, &gone.addr, t0);
    }
    assert_eq!(
        secure_count(&table),
        4,
        "both secure replacements stepped in"
    );
    assert!(table.get(&node(12, false).id).is_none());
    assert!(table.check_invariants().is_ok());
}

#[test]
fn enforcing_keeps_non_secure_nodes_out_and_counts_them() {
    let t0 = Instant::now();
    let mut table = RoutingTable::new(OWN, config(SecureIdPolicy::Enforce, 4), t0);
    assert_eq!(table.on_response(node(1, false), t0), Insert::Rejected);
    assert_eq!(table.on_query(node(2, false), t0), Insert::Rejected);
    assert_eq!(table.refused_insecure(), 2);
    assert_eq!(table.on_response(node(3, true), t0), Insert::Added);
    // BEP 42 exempts local addresses: any id passes there.
    let local = NodeInfo {
        id: Id([0xaa; 20]),
        addr: "192.168.1.20:6881".parse().unwrap(),
    };
    assert_eq!(table.on_response(local, t0), Insert::Added);
    assert_eq!(table.len(), 2);
    assert_eq!(table.refused_insecure(), 2);
}

#[test]
fn enforcing_checks_ipv6_nodes_too() {
    let t0 = Instant::now();
    let mut table = RoutingTable::new(OWN, config(SecureIdPolicy::Enforce, 4), t0);
    let ip: std::net::Ipv6Addr = "2001:db8:1:2::9".parse().unwrap();
    let addr = SocketAddr::new(ip.into(), 6881);
    let secure = secure_id_v6(ip, [7; 20]);
    let mut insecure = secure;
    insecure.0[1] ^= 0x40;
    let info = |id| NodeInfo { id, addr };
    assert_eq!(table.on_response(info(insecure), t0), Insert::Rejected);
    assert_eq!(table.refused_insecure(), 1);
    assert_eq!(table.on_response(info(secure), t0), Insert::Added);
    let local = NodeInfo {
        id: Id([0xaa; 20]),
        addr: "[fd00::20]:6881".parse().unwrap(),
    };
    assert_eq!(table.on_response(local, t0), Insert::Added);
}

/// A node with `policy` on `network` that is told of one non-secure public contact.
fn node_told_of_a_non_secure_contact(network: Network, policy: SecureIdPolicy) -> Node {
    let now = Instant::now();
    let mut dht = Node::new(
        Config {
            network,
            secure_id_policy: policy,
            ..Config::default()
        },
        now,
    );
    dht.add_contact(now, node(1, false));
    dht
}

#[test]
fn a_mainline_node_enforcing_secure_ids_counts_what_it_refuses() {
    let node = node_told_of_a_non_secure_contact(Network::Mainline, SecureIdPolicy::Enforce);
    assert!(node.contacts().is_empty());
    assert_eq!(node.stats().nodes_refused_insecure, 1);

    let node = node_told_of_a_non_secure_contact(Network::Mainline, SecureIdPolicy::Prefer);
    assert_eq!(node.contacts().len(), 1);
    assert_eq!(node.stats().nodes_refused_insecure, 0);
}

#[test]
fn the_private_network_ignores_secure_ids() {
    let config = Config {
        secure_id_policy: SecureIdPolicy::Enforce,
        ..Config::default()
    };
    assert_eq!(config.secure_id_policy_in_force(), SecureIdPolicy::Off);
    assert_eq!(
        Config::mainline().secure_id_policy_in_force(),
        SecureIdPolicy::Prefer
    );
    let node = node_told_of_a_non_secure_contact(Network::tokengo(), SecureIdPolicy::Enforce);
    assert_eq!(node.contacts().len(), 1);
    assert_eq!(node.stats().nodes_refused_insecure, 0);
}

#[derive(Debug, Clone)]
enum Op {
    Response(u8, bool),
    Query(u8, bool),
    Failure(u8, bool),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..24, any::<bool>()).prop_map(|(n, s)| Op::Response(n, s)),
        2 => (0u8..24, any::<bool>()).prop_map(|(n, s)| Op::Query(n, s)),
        2 => (0u8..24, any::<bool>()).prop_map(|(n, s)| Op::Failure(n, s)),
        1 => any::<u16>().prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Under any policy the table keeps its invariants; enforcing, it holds secure nodes only;
    /// preferring, only a secure node turning bad lowers the number of live secure nodes.
    #[test]
    fn secure_id_policies_keep_their_promises(
        policy in prop_oneof![
            Just(SecureIdPolicy::Off),
            Just(SecureIdPolicy::Prefer),
            Just(SecureIdPolicy::Enforce),
        ],
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut now = Instant::now();
        let mut table = RoutingTable::new(OWN, config(policy, 3), now);
        for op in ops {
            let before = live_secure_count(&table);
            // Only a secure node that turns bad may leave without a secure one taking its slot.
            let secure_dies = match op {
                Op::Failure(n, true) => table.get(&node(n, true).id).is_some_and(|e| e.failures >= 1),
                _ => false,
            };
            match op {
                Op::Response(n, s) => { table.on_response(node(n, s), now); }
                Op::Query(n, s) => { table.on_query(node(n, s), now); }
                Op::Failure(n, s) => {
                    let info = node(n, s);
                    table.on_failure(&info.id, &info.addr, now);
                }
                Op::Advance(secs) => now += Duration::from_secs(u64::from(secs)),
            }
            prop_assert!(table.check_invariants().is_ok(), "{:?}", table.check_invariants());
            if policy == SecureIdPolicy::Enforce {
                prop_assert!(table.entries().all(|e| e.secure));
            }
            if policy == SecureIdPolicy::Prefer && !secure_dies {
                prop_assert!(live_secure_count(&table) >= before, "a secure node lost its slot");
            }
        }
    }
}
