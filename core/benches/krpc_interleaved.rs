//! A noise-resistant companion to `krpc_codec`: the four decoders take turns on each message in
//! short batches, many rounds over, and each keeps its fastest batch. On a shared, busy machine
//! the minimum is far steadier than a mean, because interference only ever adds time.
//!
//! Run: `cargo bench -p tokengo-core --bench krpc_interleaved`. Prints a markdown table.

mod krpc_serde;
#[path = "../tests/krpc_support/mod.rs"]
mod krpc_support;

use krpc_serde::Krpc;
use std::hint::black_box;
use std::time::Instant;
use tokengo_core::krpc::decode;

const ROUNDS: usize = 300;
const BATCH: usize = 1000;
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
