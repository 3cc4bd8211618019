//! `tokengo dht` exactly as the `tokengo` binary runs it (same argument types, same entry
//! point), built inside this package so its integration tests can spawn it.

use clap::Parser;
use std::process::ExitCode;

/// tokengo dht.
#[derive(Debug, Parser)]
#[command(name = "tokengo-dht")]
struct Cli {
    #[command(flatten)]
    dht: tokengo::dht::DhtArgs,
}

fn main() -> ExitCode {
    tokengo::dht::run(Cli::parse().dht)
}
