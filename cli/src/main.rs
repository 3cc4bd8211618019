//! The `tokengo` binary: argument parsing and dispatch.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// tokengo: a decentralized, privacy-preserving gateway to AI APIs.
#[derive(Debug, Parser)]
#[command(name = "tokengo", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Use the DHT directly: run a node, look up, announce, find, ping.
    Dht(tokengo::dht::DhtArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Dht(args) => tokengo::dht::run(args),
    }
}
