//! Our KRPC decoder side by side with three bencode crates decoding the same five realistic
//! messages into borrowed serde structs, in one run; then our encoder.
//!
//! Run: `cargo bench -p tokengo-core --bench krpc_codec`, then
//! `python3 core/benches/krpc_table.py` prints the table for docs/BENCHMARKS.md.
//! The serde structs are in `krpc_serde/mod.rs`.

#[path = "../tests/krpc_support/mod.rs"]
mod krpc_support;

mod krpc_serde;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use krpc_serde::Krpc;
use std::hint::black_box;
use std::time::Duration;
use tokengo_core::krpc::decode;

fn decoders(c: &mut Criterion) {
    let messages = krpc_support::benchmark_messages();
    for (name, datagram) in &messages {
        // Every parser must accept every message, or the comparison means nothing.
        decode(datagram).expect("tokengo");
        bt_bencode::from_slice::<Krpc<'_>>(datagram).expect("bt_bencode");
        serde_bencoded::from_bytes::<Krpc<'_>>(datagram).expect("serde_bencoded");
        librqbit_bencode::from_bytes::<Krpc<'_>>(datagram).expect("librqbit-bencode");

        let mut group = c.benchmark_group(format!("decode/{name}"));
        let input = datagram.as_slice();
        group.bench_with_input(BenchmarkId::from_parameter("tokengo"), input, |b, d| {
            b.iter(|| decode(black_box(d)).map(|m| black_box(m).transaction_id.len()))
        });
        group.bench_with_input(BenchmarkId::from_parameter("bt_bencode"), input, |b, d| {
            b.iter(|| {
                bt_bencode::from_slice::<Krpc<'_>>(black_box(d)).map(|m| black_box(m).t.len())
            })
        });
        group.bench_with_input(
            BenchmarkId::from_parameter("serde_bencoded"),
            input,
            |b, d| {
                b.iter(|| {
                    serde_bencoded::from_bytes::<Krpc<'_>>(black_box(d))
                        .map(|m| black_box(m).t.len())
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::from_parameter("librqbit-bencode"),
            input,
            |b, d| {
                b.iter(|| {
                    librqbit_bencode::from_bytes::<Krpc<'_>>(black_box(d))
                        .map(|m| black_box(m).t.len())
                })
            },
        );
        group.finish();
    }
}

fn encoder(c: &mut Criterion) {
    let messages = krpc_support::benchmark_messages();
    let mut group = c.benchmark_group("encode");
    for (name, datagram) in &messages {
        let message = decode(datagram).expect("decodes");
        let mut buf = [0u8; 1500];
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(&message).encode(black_box(&mut buf)))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = decoders, encoder }
criterion_main!(benches);
