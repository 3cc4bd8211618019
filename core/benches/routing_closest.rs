//! `RoutingTable::closest` (the bucket walk) side by side with the full sort it replaced, on
//! tables of growing depth, in one run: 8 buckets (a small network), 24 (about what a node of
//! the public Mainline DHT holds) and 156 (every bucket that can hold k ids full: the largest
//! table there can be). Each iteration answers one find_node: the 8 closest to one of 64
//! targets drawn uniformly, as a stranger's queries are.
//!
//! Run: `cargo bench -p tokengo-core --bench routing_closest`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use tokengo_core::routing::{Entry, RoutingTable, TableConfig};
use tokengo_core::{Id, NodeInfo, SecureIdPolicy};

/// Deterministic filler bytes (xorshift64).
struct Fill(u64);

impl Fill {
    fn bytes(&mut self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_be_bytes()[..chunk.len()]);
        }
        out
    }
}

/// A table whose first `depth` buckets each hold k = 8 nodes that answered.
fn table(depth: u32, fill: &mut Fill) -> RoutingTable {
    let now = Instant::now();
    let own = Id(fill.bytes());
    let config = TableConfig {
        k: 8,
        replacement_cache: 8,
        max_nodes_per_ip: 2,
        stale_after: Duration::from_secs(900),
        max_failures: 2,
        secure_ids: SecureIdPolicy::Off,
        wide_far_buckets: false,
    };
    let mut table = RoutingTable::new(own, config, now);
    let mut n = 0u32;
    for prefix in 0..depth {
        let mut tries = 0;
        while table
            .entries()
            .filter(|e| in_bucket(&own, &e.id, prefix))
            .count()
            < 8
            && tries < 64
        {
            tries += 1;
            n += 1;
            let mut id = own.random_with_prefix(prefix, fill.bytes());
            let (byte, mask) = (prefix as usize / 8, 1u8 << (7 - prefix % 8));
            id.0[byte] = (id.0[byte] & !mask) | (!own.0[byte] & mask);
            let [_, a, b, c] = n.to_be_bytes();
            let addr = SocketAddrV4::new([10, a, b, c].into(), 6881);
            table.on_response(
                NodeInfo {
                    id,
                    addr: addr.into(),
                },
                now,
            );
        }
    }
    table
}

fn in_bucket(own: &Id, id: &Id, prefix: u32) -> bool {
    own.common_prefix_len(id) == prefix
}

/// The selection before the bucket walk: every non-bad entry, fully sorted.
fn full_sort(table: &RoutingTable, target: &Id, count: usize) -> Vec<NodeInfo> {
    let mut all: Vec<&Entry> = table.entries().filter(|e| e.failures < 2).collect();
    all.sort_by_key(|e| e.id.distance(target));
    all.into_iter().take(count).map(Entry::info).collect()
}

fn closest(c: &mut Criterion) {
    let mut fill = Fill(0x9e37_79b9_7f4a_7c15);
    for depth in [8u32, 24, 156] {
        let table = table(depth, &mut fill);
        let targets: Vec<Id> = (0..64).map(|_| Id(fill.bytes())).collect();
        for target in &targets {
            assert_eq!(table.closest(target, 8), full_sort(&table, target, 8));
        }
        let mut group = c.benchmark_group(format!("closest/{}_nodes", table.len()));
        let mut i = 0;
        group.bench_function(BenchmarkId::from_parameter("full_sort"), |b| {
            b.iter(|| {
                i = (i + 1) % targets.len();
                full_sort(black_box(&table), black_box(&targets[i]), 8)
            })
        });
        group.bench_function(BenchmarkId::from_parameter("bucket_walk"), |b| {
            b.iter(|| {
                i = (i + 1) % targets.len();
                black_box(&table).closest(black_box(&targets[i]), 8)
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = closest }
criterion_main!(benches);
