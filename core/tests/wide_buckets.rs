//! The wide far buckets (`Config::wide_far_buckets`): the four farthest buckets hold 16, 8, 4
//! and 2 times k; nodes named in answers fill their free slots, unverified, pinged after the
//! nodes heard from, and give way to nodes that answer; query senders take only the first k
//! slots of any bucket.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokengo_core::routing::{FAR_BUCKET_FACTORS, Insert, RoutingTable, TableConfig};
use tokengo_core::{Id, NodeInfo, SecureIdPolicy};

const K: usize = 8;

fn table(own: Id, now: Instant) -> RoutingTable {
    let config = TableConfig {
        k: K,
        replacement_cache: 4,
        max_nodes_per_ip: 2,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: true,
    };
    RoutingTable::new(own, config, now)
}

/// Node `n` in bucket `prefix` of `own` (sharing exactly `prefix` bits with it).
fn node(own: &Id, prefix: u32, n: u32) -> NodeInfo {
    let mut fill = [0u8; 20];
    fill[16..].copy_from_slice(&n.to_be_bytes());
    fill[8] = n as u8 ^ 0x5a;
    let mut id = own.random_with_prefix(prefix, fill);
    let (byte, mask) = (prefix as usize / 8, 1u8 << (7 - prefix % 8));
    id.0[byte] = (id.0[byte] & !mask) | (!own.0[byte] & mask);
    let [_, a, b, c] = n.to_be_bytes();
    NodeInfo {
        id,
        addr: SocketAddr::V4(SocketAddrV4::new([10, a, b, c].into(), 6881)),
    }
}

/// A table whose own id shares 0 bits with ids starting 0x80: with verified nodes in
/// buckets 0 to 5, bucket 0 is a wide bucket and not the last.
fn split_table(now: Instant) -> (Id, RoutingTable, u32) {
    let own = Id([0x11; 20]);
    let mut t = table(own, now);
    let mut n = 1;
    for prefix in 0..6 {
        for _ in 0..K {
            t.on_response(node(&own, prefix, n), now);
            n += 1;
        }
    }
    assert!(
        t.bucket_count() > 4,
        "the table split: {}",
        t.bucket_count()
    );
    (own, t, n)
}

fn in_bucket(t: &RoutingTable, own: &Id, prefix: u32) -> usize {
    t.entries()
        .filter(|e| e.id.common_prefix_len(own) == prefix)
        .count()
}

#[test]
fn named_nodes_fill_a_wide_bucket_to_its_capacity_and_no_further() {
    let now = Instant::now();
    let (own, mut t, mut n) = split_table(now);
    let capacity = K * FAR_BUCKET_FACTORS[0];
    for _ in 0..capacity + 20 {
        t.on_named(node(&own, 0, n), now);
        n += 1;
    }
    assert_eq!(in_bucket(&t, &own, 0), capacity);
    t.check_invariants().expect("invariants");
}

#[test]
fn named_nodes_stay_out_of_the_normal_buckets() {
    let now = Instant::now();
    let (own, mut t, mut n) = split_table(now);
    let before = t.len();
    for prefix in 4..40 {
        let info = node(&own, prefix, n);
        n += 1;
        assert_eq!(t.on_named(info, now), Insert::Rejected, "bucket {prefix}");
    }
    assert_eq!(t.len(), before);
}

#[test]
fn query_senders_take_only_the_first_k_slots_of_a_wide_bucket() {
    let now = Instant::now();
    let (own, mut t, mut n) = split_table(now);
    for _ in 0..20 {
        t.on_query(node(&own, 0, n), now);
        n += 1;
    }
    assert_eq!(in_bucket(&t, &own, 0), K);
    // A node that answers takes a wide slot.
    assert_eq!(t.on_response(node(&own, 0, n), now), Insert::Added);
    assert_eq!(in_bucket(&t, &own, 0), K + 1);
}

#[test]
fn named_nodes_are_pinged_last_and_give_way_to_nodes_that_answer() {
    let now = Instant::now();
    let (own, mut t, mut n) = split_table(now);
    let capacity = K * FAR_BUCKET_FACTORS[0];
    let mut named = Vec::new();
    while in_bucket(&t, &own, 0) < capacity {
        let info = node(&own, 0, n);
        n += 1;
        if t.on_named(info, now) == Insert::Added {
            named.push(info);
        }
    }
    // A query's sender waits for a ping too, and so, an hour on, does every node heard from.
    let sender = node(&own, 30, n);
    n += 1;
    assert_eq!(t.on_query(sender, now), Insert::Added);
    let heard = t.len() - named.len();
    let later = now + Duration::from_secs(3600);
    let due = t.due_for_ping(later, heard + 2);
    assert!(due.contains(&sender));
    assert!(
        due[..heard].iter().all(|d| !named.contains(d)),
        "a named node came before a node heard from"
    );
    assert!(due[heard..].iter().all(|d| named.contains(d)));
    // The bucket is full; a node that answers replaces a named one at once.
    let answering = node(&own, 0, n);
    assert_eq!(t.on_response(answering, later), Insert::Added);
    assert!(t.get(&answering.id).is_some_and(|e| e.verified));
    assert_eq!(in_bucket(&t, &own, 0), capacity);
    assert_eq!(
        named.iter().filter(|i| t.get(&i.id).is_some()).count(),
        named.len() - 1
    );
}

#[test]
fn a_named_node_that_answers_is_verified_and_pingable() {
    let now = Instant::now();
    let (own, mut t, n) = split_table(now);
    let info = node(&own, 1, n);
    assert_eq!(t.on_named(info, now), Insert::Added);
    let entry = t.get(&info.id).expect("named");
    assert!(entry.named && !entry.verified);
    t.on_response(info, now);
    let entry = t.get(&info.id).expect("kept");
    assert!(!entry.named && entry.verified);
}
