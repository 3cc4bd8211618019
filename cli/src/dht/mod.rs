//! `tokengo dht ...`: run a DHT node, or look up, announce, find and ping from the shell.
//!
//! Exit codes: 0 success; 1 nothing found, nobody answered, or a runtime failure; 2 bad input
//! (an info hash that is not 40 hex characters, an unparsable or unresolvable address, an
//! unusable state file).

mod announce;
pub mod args;
mod find_node;
mod get_peers;
mod node;
mod ping;
mod report;
mod runtime;
pub use tokengo_discovery::state;

pub use args::{MAINLINE_ROUTERS, NetworkArgs, NetworkName};
pub use runtime::RuntimeName;

use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tokengo_core::Id;

/// `tokengo dht`: the DHT from the shell.
#[derive(Debug, Args)]
pub struct DhtArgs {
    #[command(subcommand)]
    pub command: DhtCommand,
}

/// The `tokengo dht` subcommands.
#[derive(Debug, Subcommand)]
pub enum DhtCommand {
    /// Run a DHT server node until SIGINT or SIGTERM (logs go to stderr).
    Node(NodeArgs),
    /// Look up the peers of an info hash; prints each peer (IP:PORT) on its own line.
    GetPeers(GetPeersArgs),
    /// Announce that a port serves an info hash; reports how many nodes accepted.
    Announce(AnnounceArgs),
    /// Find the nodes closest to an id; prints `ID IP:PORT` lines, closest first.
    FindNode(FindNodeArgs),
    /// Ping a DHT node; prints its node id.
    Ping(PingArgs),
}

/// `tokengo dht node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The UDP address to serve on.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Which runtime drives the node.
    #[arg(long, value_enum, default_value_t = RuntimeName::Tokio)]
    pub runtime: RuntimeName,
    /// Keep the node id and good contacts in FILE across runs (saved periodically and at exit).
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// How often to save the state file while running, in seconds.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = args::parse_seconds, requires = "state")]
    pub save_every: Duration,
    /// BEP 43 read-only: query others but answer no queries and stay out of their tables.
    #[arg(long)]
    pub read_only: bool,
}

/// Options of the one-shot commands.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// The local UDP address to use.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0")]
    pub listen: SocketAddr,
    /// Give up after this many seconds (bootstrap included).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = args::parse_seconds)]
    pub timeout: Duration,
}

/// `tokengo dht get-peers`.
#[derive(Debug, Args)]
pub struct GetPeersArgs {
    /// The info hash: 40 hexadecimal characters.
    #[arg(value_name = "INFOHASH", value_parser = args::parse_id)]
    pub info_hash: Id,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print one JSON object at the end (peers and lookup stats) instead of peer lines.
    #[arg(long)]
    pub json: bool,
}

/// `tokengo dht announce`.
#[derive(Debug, Args)]
pub struct AnnounceArgs {
    /// The info hash: 40 hexadecimal characters.
    #[arg(value_name = "INFOHASH", value_parser = args::parse_id)]
    pub info_hash: Id,
    /// The port that serves the info hash.
    #[arg(long, value_name = "P", required_unless_present = "implied_port")]
    pub port: Option<u16>,
    /// Ask nodes to use our UDP source port instead of --port (BEP 5 implied_port).
    #[arg(long)]
    pub implied_port: bool,
    /// Keep re-announcing until SIGINT or SIGTERM, printing every round.
    #[arg(long)]
    pub keep: bool,
    /// With --keep: seconds between rounds (BEP 5 peers expire after 30 min).
    #[arg(long, value_name = "SECS", default_value = "1800", value_parser = args::parse_seconds, requires = "keep")]
    pub every: std::time::Duration,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `tokengo dht find-node`.
#[derive(Debug, Args)]
pub struct FindNodeArgs {
    /// The id to look for (40 hexadecimal characters); a random one when absent.
    #[arg(value_name = "ID", value_parser = args::parse_id)]
    pub target: Option<Id>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print one JSON object (nodes and lookup stats) instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `tokengo dht ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// The node to ping, as HOST:PORT.
    #[arg(value_name = "ADDR", value_parser = args::parse_host_port)]
    pub addr: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The user's input is unusable: exit 2.
    Input(anyhow::Error),
    /// Something failed at run time: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

/// Runs a `tokengo dht` command and returns the process exit code.
pub fn run(args: DhtArgs) -> ExitCode {
    let default_level = if matches!(args.command, DhtCommand::Node(_)) {
        "info"
    } else {
        "warn"
    };
    crate::console::init_logging(default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match args.command {
            DhtCommand::Node(args) => node::run(args).await,
            DhtCommand::GetPeers(args) => get_peers::run(args).await,
            DhtCommand::Announce(args) => announce::run(args).await,
            DhtCommand::FindNode(args) => find_node::run(args).await,
            DhtCommand::Ping(args) => ping::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(Failure::Input(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
