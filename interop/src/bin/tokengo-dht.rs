//! `tokengo dht` exactly as the `tokengo` binary runs it (same argument types, same entry
//! point), built inside this package so its integration tests can spawn it.

use clap::Parser;
use std::process::ExitCode;

/// tokengo dht.
#[derive(Debug, Parser)]
#[command(name = "tokengo-dht")]
struct Cli {
    /// How logs on stderr are written.
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: tokengo::console::LogFormat,
    #[command(flatten)]
    dht: tokengo::dht::DhtArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tokengo::dht::run(cli.dht, cli.log_format)
}
