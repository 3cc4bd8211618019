//! The `tokengo` binary: parses arguments and dispatches to the library.

use clap::{Parser, Subcommand};
use tokengo::commands;

/// tokengo: a decentralized, privacy-preserving gateway to AI APIs.
#[derive(Debug, Parser)]
#[command(name = "tokengo", version)]
struct Cli {
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
    /// Generate an OHTTP key pair or an identity key.
    Keygen(commands::KeygenArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Command::Keygen(args) = cli.command {
        return commands::keygen(args);
    }
    tokengo::tls::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Relay(a) => commands::relay(a).await,
            Command::Exit(a) => commands::exit(a).await,
            Command::Client(a) => commands::client(a).await,
            Command::Serve(a) => commands::serve(a).await,
            Command::Keygen(_) => Ok(()),
        }
    })
}
