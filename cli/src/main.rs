//! The `tokengo` binary: argument parsing and dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokengo::commands;

/// tokengo: a decentralized, privacy-preserving gateway to AI APIs.
#[derive(Debug, Parser)]
#[command(name = "tokengo", version)]
struct Cli {
    /// How logs on stderr are written: text, or one JSON object per line for log collectors
    /// (what a person reads on stdout stays text).
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: tokengo::console::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a relay (QUIC server that exits and clients connect to).
    Relay(commands::RelayArgs),
    /// Run an exit (dials a relay and serves its backend).
    Exit(commands::ExitArgs),
    /// Run the local client proxy.
    Client(commands::ClientArgs),
    /// Run relay, exit and client proxy in one process on loopback.
    Serve(commands::ServeArgs),
    /// Show what a running client proxy holds: relay, exit, models, requests.
    Status(commands::StatusArgs),
    /// Run a whole private network on loopback (relays, an exit, a backend) and the client.
    Devnet(commands::DevnetArgs),
    /// Generate an OHTTP key pair, an identity or a network authority key.
    Keygen(commands::KeygenArgs),
    /// Act as a network authority: admit exits.
    Authority(tokengo::authority::AuthorityArgs),
    /// Use the DHT directly: run a node, look up, announce, find, ping.
    Dht(tokengo::dht::DhtArgs),
}

fn main() -> ExitCode {
    let Cli {
        log_format,
        command,
    } = Cli::parse();
    if let Command::Dht(args) = command {
        return tokengo::dht::run(args, log_format);
    }
    tokengo::console::init_logging("info", log_format);
    match gateway(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn gateway(command: Command) -> anyhow::Result<()> {
    if let Command::Keygen(args) = command {
        return commands::keygen(args);
    }
    if let Command::Authority(args) = command {
        return tokengo::authority::run(args);
    }
    tokengo_gateway::transport::install_crypto_provider();
    // Relays, exits and proxies hold many sockets: take all the descriptors allowed.
    if let Some(limit) = tokengo_gateway::fd_limit::raise_open_file_limit() {
        tracing::debug!(limit, "open-file limit");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match command {
            Command::Relay(a) => commands::relay(a).await,
            Command::Exit(a) => commands::exit(a).await,
            Command::Client(a) => commands::client(a).await,
            Command::Serve(a) => commands::serve(a).await,
            Command::Status(a) => tokengo::status::run(a).await,
            Command::Devnet(a) => commands::devnet(a).await,
            Command::Keygen(_) | Command::Authority(_) | Command::Dht(_) => Ok(()),
        }
    })
}
