//! A noise-resistant companion to `krpc_codec`: the four decoders take turns on each message in
//! short batches, many rounds over, and each keeps its fastest batch. On a shared, busy machine
//! the minimum is far steadier than a mean, because interference only ever adds time.
//!
//! Run: `cargo bench -p tokengo-core --bench krpc_interleaved`. Prints a markdown table.
//!
//! `KRPC_ONLY=<parser>:<message>:<count>` instead decodes one message `count` times with one
//! parser and prints nothing, for instruction counting under
//! `valgrind --tool=cachegrind` (see docs/BENCHMARKS.md).

mod krpc_serde;
#[path = "../tests/krpc_support/mod.rs"]
mod krpc_support;

use krpc_serde::Krpc;
use std::hint::black_box;
use std::time::Instant;
use tokengo_core::krpc::decode;

const ROUNDS: usize = 1000;
const BATCH: usize = 500;
const PARSERS: [&str; 4] = [
    "tokengo",
    "bt_bencode",
    "serde_bencoded",
    "librqbit-bencode",
];

fn decode_with(parser: usize, datagram: &[u8]) -> bool {
    match parser {
        0 => decode(black_box(datagram))
            .map(|m| black_box(m).transaction_id.len())
            .is_ok(),
        1 => bt_bencode::from_slice::<Krpc<'_>>(black_box(datagram))
            .map(|m| black_box(m).t.len())
            .is_ok(),
        2 => serde_bencoded::from_bytes::<Krpc<'_>>(black_box(datagram))
            .map(|m| black_box(m).t.len())
            .is_ok(),
        _ => librqbit_bencode::from_bytes::<Krpc<'_>>(black_box(datagram))
            .map(|m| black_box(m).t.len())
            .is_ok(),
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Ok(only) = std::env::var("KRPC_ONLY") {
        return decode_only(&only);
    }
    println!(
        "| message | bytes | {} | fastest other / tokengo |",
        PARSERS.join(" | ")
    );
    println!("|---|---:|{}---:|", "---:|".repeat(PARSERS.len()));
    for (name, datagram) in krpc_support::benchmark_messages() {
        let mut best = [f64::MAX; PARSERS.len()];
        for _ in 0..ROUNDS {
            for (parser, best) in best.iter_mut().enumerate() {
                let start = Instant::now();
                for _ in 0..BATCH {
                    assert!(
                        decode_with(parser, &datagram),
                        "{} rejects {name}",
                        PARSERS[parser]
                    );
                }
                *best = best.min(start.elapsed().as_nanos() as f64 / BATCH as f64);
            }
        }
        let fastest_other = best[1..].iter().copied().fold(f64::MAX, f64::min);
        let cells: Vec<String> = best.iter().map(|ns| format!("{ns:.1}")).collect();
        println!(
            "| {name} | {} | {} | {:.2}x |",
            datagram.len(),
            cells.join(" | "),
            fastest_other / best[0]
        );
    }
}

/// Decodes one message with one parser `count` times (`<parser>:<message>:<count>`).
fn decode_only(spec: &str) {
    let mut parts = spec.split(':');
    let (Some(parser), Some(message), Some(count)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("KRPC_ONLY=<parser>:<message>:<count>");
    };
    let parser = PARSERS
        .iter()
        .position(|p| *p == parser)
        .expect("known parser");
    let count: usize = count.parse().expect("count");
    let (_, datagram) = krpc_support::benchmark_messages()
        .into_iter()
        .find(|(name, _)| *name == message)
        .expect("known message");
    for _ in 0..count {
        assert!(decode_with(parser, &datagram));
    }
}
