//! Routing-table invariants under random sequences of operations.

use proptest::prelude::*;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use tokengo_core::routing::{Insert, NodeState, RoutingTable, TableConfig};
use tokengo_core::{Id, NodeInfo, SecureIdPolicy};

/// RTT bounds wide enough that every sample here is folded in.
const FLOOR: Duration = Duration::from_millis(10);
const BOUND: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
enum Op {
    Response(u8, u16),
    /// A node answering from another node's address (a restart under a new id).
    Moved(u8, u8, u16),
    Query(u8, u16),
    Failure(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u16>()).prop_map(|(n, ip)| Op::Response(n, ip)),
        (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(n, m, ip)| Op::Moved(n, m, ip)),
        (any::<u8>(), any::<u16>()).prop_map(|(n, ip)| Op::Query(n, ip)),
        any::<u8>().prop_map(Op::Failure),
        any::<u16>().prop_map(Op::Advance),
    ]
}

/// Node ids drawn from a small pool, biased to share prefixes with our own id so that
/// buckets split deep.
fn node_id(own: &Id, n: u8) -> Id {
    let mut id = own.random_with_prefix(u32::from(n % 24), [n.wrapping_mul(37); 20]);
    id.0[19] ^= n;
    id
}

fn addr(n: u8, ip: u16) -> SocketAddrV4 {
    let [a, b] = ip.to_be_bytes();
    SocketAddrV4::new([10, a % 4, b % 4, n % 8].into(), 1000 + u16::from(n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn invariants_hold(own in any::<[u8; 20]>(), ops in proptest::collection::vec(op(), 1..300)) {
        let own = Id(own);
        let config = TableConfig {
            k: 8,
            replacement_cache: 4,
            max_nodes_per_ip: 2,
            stale_after: Duration::from_secs(900),
            max_failures: 2,
            secure_ids: SecureIdPolicy::Off,
            wide_far_buckets: false,
        };
        let mut now = Instant::now();
        let mut table = RoutingTable::new(own, config, now);
        for op in ops {
            match op {
                Op::Response(n, ip) => {
                    let info = NodeInfo { id: node_id(&own, n), addr: std::net::SocketAddr::V4(addr(n, ip)) };
                    if table.on_response(info, now) == Insert::Added {
                        let entry = table.get(&info.id).expect("added node is present");
                        prop_assert_eq!(table.state(entry, now), NodeState::Good);
                    }
                }
                Op::Moved(n, m, ip) => {
                    let info = NodeInfo { id: node_id(&own, n), addr: std::net::SocketAddr::V4(addr(m, ip)) };
                    if table.on_response(info, now) == Insert::Added {
                        prop_assert_eq!(table.entries().filter(|e| e.addr == info.addr).count(), 1);
                    }
                }
                Op::Query(n, ip) => {
                    let info = NodeInfo { id: node_id(&own, n), addr: std::net::SocketAddr::V4(addr(n, ip)) };
                    table.on_query(info, now);
                }
                Op::Failure(n) => {
                    let id = node_id(&own, n);
                    if let Some(e) = table.get(&id).cloned() {
                        table.on_failure(&id, &e.addr, now);
                    }
                }
                Op::Advance(secs) => now += Duration::from_secs(u64::from(secs)),
            }
            prop_assert!(table.check_invariants().is_ok(), "{:?}", table.check_invariants());
            let mut per_ip = std::collections::BTreeMap::new();
            for e in table.entries() {
                *per_ip.entry(e.addr.ip()).or_insert(0) += 1;
            }
            prop_assert!(per_ip.values().all(|&c| c <= 2), "per-IP cap: {per_ip:?}");
            let closest = table.closest(&own, 8);
            prop_assert!(closest.windows(2).all(|w| w[0].id.distance(&own) <= w[1].id.distance(&own)));
            prop_assert!(closest.len() <= 8);
        }
    }
}

#[test]
fn full_bucket_parks_newcomer_and_pings_questionable() {
    let own = Id([0; 20]);
    let config = TableConfig {
        k: 2,
        replacement_cache: 2,
        max_nodes_per_ip: 8,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let t0 = Instant::now();
    let mut table = RoutingTable::new(own, config, t0);
    // Three far nodes (first bit set) all land in bucket 0 after the first split.
    let far = |n: u8| NodeInfo {
        id: Id([0x80 | n; 20]),
        addr: std::net::SocketAddr::V4(SocketAddrV4::new([10, 0, 0, n].into(), 6881)),
    };
    assert_eq!(table.on_response(far(1), t0), Insert::Added);
    assert_eq!(table.on_response(far(2), t0), Insert::Added);
    // Both good: the newcomer waits in the replacement cache; nobody to ping.
    assert_eq!(table.on_response(far(3), t0), Insert::Parked { ping: None });
    // 16 minutes later both are questionable: the least recently seen is pinged.
    let later = t0 + Duration::from_secs(960);
    assert_eq!(
        table.on_response(far(4), later),
        Insert::Parked { ping: Some(far(1)) }
    );
    // It fails once while replacements wait: the freshest one takes its place at once.
    table.on_failure(&far(1).id, &far(1).addr, later);
    assert!(
        table.get(&far(1).id).is_none(),
        "a failing node kept its slot while a replacement waited"
    );
    assert!(table.get(&far(4).id).is_some());
    assert!(table.check_invariants().is_ok());
}

#[test]
fn a_failure_with_nobody_waiting_gets_a_second_chance() {
    let own = Id([0; 20]);
    let config = TableConfig {
        k: 2,
        replacement_cache: 2,
        max_nodes_per_ip: 8,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let t0 = Instant::now();
    let mut table = RoutingTable::new(own, config, t0);
    let node = NodeInfo {
        id: Id([0x80; 20]),
        addr: std::net::SocketAddr::V4(SocketAddrV4::new([10, 0, 0, 1].into(), 6881)),
    };
    table.on_response(node, t0);
    table.on_failure(&node.id, &node.addr, t0);
    let entry = table.get(&node.id).expect("one failure keeps it");
    assert_eq!(table.state(entry, t0), NodeState::Questionable);
    table.on_failure(&node.id, &node.addr, t0);
    assert!(table.closest(&node.id, 8).is_empty());
}

#[test]
fn answers_build_a_round_trip_estimate() {
    let own = Id([0; 20]);
    let config = TableConfig {
        k: 8,
        replacement_cache: 2,
        max_nodes_per_ip: 8,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let t0 = Instant::now();
    let mut table = RoutingTable::new(own, config, t0);
    let node = NodeInfo {
        id: Id([0x80; 20]),
        addr: std::net::SocketAddr::V4(SocketAddrV4::new([10, 0, 0, 1].into(), 6881)),
    };
    table.on_response(node, t0);
    assert_eq!(table.get(&node.id).and_then(|e| e.rtt), None);
    for _ in 0..40 {
        table.record_rtt(
            &node.id,
            &node.addr,
            Duration::from_millis(30),
            FLOOR,
            BOUND,
        );
    }
    // Another address claiming the id teaches nothing.
    let elsewhere = SocketAddrV4::new([10, 0, 0, 2].into(), 6881);
    table.record_rtt(
        &node.id,
        &elsewhere.into(),
        Duration::from_secs(5),
        FLOOR,
        BOUND,
    );
    let rtt = table.get(&node.id).and_then(|e| e.rtt).expect("estimated");
    assert!(rtt.srtt.abs_diff(Duration::from_millis(30)) < Duration::from_millis(1));
}

#[test]
fn answered_ping_lets_the_node_be_pinged_and_replaced_again() {
    let own = Id([0; 20]);
    let config = TableConfig {
        k: 2,
        replacement_cache: 2,
        max_nodes_per_ip: 8,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let t0 = Instant::now();
    let mut table = RoutingTable::new(own, config, t0);
    let node = NodeInfo {
        id: Id([0x80; 20]),
        addr: std::net::SocketAddr::V4(SocketAddrV4::new([10, 0, 0, 1].into(), 6881)),
    };
    assert_eq!(table.on_response(node, t0), Insert::Added);
    // Questionable after 16 minutes: due for a liveness ping, which it answers.
    let t1 = t0 + Duration::from_secs(960);
    assert_eq!(table.due_for_ping(t1, 4), vec![node]);
    assert_eq!(table.on_response(node, t1), Insert::Added);
    // Questionable again 16 minutes later: it must be pinged again, not skipped forever.
    let t2 = t1 + Duration::from_secs(960);
    assert_eq!(
        table.due_for_ping(t2, 4),
        vec![node],
        "answered ping left it marked"
    );
    // This time it dies: two failures make it bad and the table drops it from replies.
    table.on_failure(&node.id, &node.addr, t2);
    table.on_failure(&node.id, &node.addr, t2);
    assert!(table.closest(&node.id, 8).is_empty());
}

#[test]
fn answered_ping_lets_a_full_bucket_offer_the_node_for_replacement() {
    let own = Id([0; 20]);
    let config = TableConfig {
        k: 1,
        replacement_cache: 2,
        max_nodes_per_ip: 8,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let t0 = Instant::now();
    let mut table = RoutingTable::new(own, config, t0);
    let far = |n: u8| NodeInfo {
        id: Id([0x80 | n; 20]),
        addr: std::net::SocketAddr::V4(SocketAddrV4::new([10, 0, 0, n].into(), 6881)),
    };
    assert_eq!(table.on_response(far(1), t0), Insert::Added);
    // The far bucket holds one slot: a newcomer gets the silent node pinged.
    let t1 = t0 + Duration::from_secs(960);
    assert_eq!(
        table.on_response(far(2), t1),
        Insert::Parked { ping: Some(far(1)) }
    );
    assert_eq!(table.on_response(far(1), t1), Insert::Added);
    // Silent again: a newcomer must get it pinged again.
    let t2 = t1 + Duration::from_secs(960);
    assert_eq!(
        table.on_response(far(3), t2),
        Insert::Parked { ping: Some(far(1)) },
        "a node whose ping was answered is never offered for replacement again"
    );
}

#[test]
fn node_that_changes_its_id_leaves_no_zombie() {
    let own = Id([0; 20]);
    let config = TableConfig {
        k: 8,
        replacement_cache: 2,
        max_nodes_per_ip: 8,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let t0 = Instant::now();
    let mut table = RoutingTable::new(own, config, t0);
    let addr = SocketAddrV4::new([10, 0, 0, 1].into(), 6881);
    let old = NodeInfo {
        id: Id([0x80; 20]),
        addr: std::net::SocketAddr::V4(addr),
    };
    assert_eq!(table.on_response(old, t0), Insert::Added);
    // A restart under a new id in the same bucket: the answer proves the address is the new id.
    let same_bucket = NodeInfo {
        id: Id([0x81; 20]),
        addr: std::net::SocketAddr::V4(addr),
    };
    assert_eq!(table.on_response(same_bucket, t0), Insert::Added);
    assert!(table.get(&old.id).is_none(), "old id left behind");
    assert!(table.get(&same_bucket.id).is_some());
    // And once more, into another bucket (a near id after splits).
    for n in 1..=8u8 {
        let mut id = [0x40; 20];
        id[19] = n;
        let info = NodeInfo {
            id: Id(id),
            addr: std::net::SocketAddr::V4(SocketAddrV4::new([10, 0, 1, n].into(), 6881)),
        };
        table.on_response(info, t0);
    }
    let other_bucket = NodeInfo {
        id: Id([0x01; 20]),
        addr: std::net::SocketAddr::V4(addr),
    };
    assert_eq!(table.on_response(other_bucket, t0), Insert::Added);
    assert!(table.get(&same_bucket.id).is_none(), "old id left behind");
    let at_addr: Vec<Id> = table
        .entries()
        .filter(|e| e.addr == std::net::SocketAddr::V4(addr))
        .map(|e| e.id)
        .collect();
    assert_eq!(at_addr, vec![other_bucket.id]);
    assert!(table.check_invariants().is_ok());
    // A mere query claiming a known address under a new id proves nothing (its source can be
    // forged): the known node stays.
    let claimed = NodeInfo {
        id: Id([0x82; 20]),
        addr: std::net::SocketAddr::V4(addr),
    };
    assert_eq!(table.on_query(claimed, t0), Insert::Rejected);
    assert!(table.get(&other_bucket.id).is_some());
    assert!(table.get(&claimed.id).is_none());
}
