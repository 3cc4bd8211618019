//! `tokengo dht ...`: run a DHT node, or look up, announce, find, ping, put and get BEP 44
//! items and sample info hashes (BEP 51) from the shell.
//!
//! Exit codes: 0 success; 1 nothing found, nobody answered (or stored), or a runtime failure;
//! 2 bad input (an info hash or target that is not 40 hex characters, a public key that is not
//! 64, a value or salt too long, an unparsable or unresolvable address, an unusable state or
//! key file).

mod announce;
pub mod args;
mod find_node;
mod get;
mod get_peers;
mod item_key;
mod node;
mod ping;
mod put;
mod report;
mod runtime;
mod sample;
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
    /// Store a BEP 44 item: immutable (prints its target) or, with --mutable, signed with
    /// --key (prints the public key and the sequence number).
    Put(PutArgs),
    /// Get a BEP 44 item: immutable by TARGET, or mutable by --public-key [--salt]; prints
    /// its value.
    Get(GetArgs),
    /// BEP 51: sample the info hashes stored by the nodes closest to TARGET (random by
    /// default); prints each distinct info hash on its own line.
    Sample(SampleArgs),
}

/// `tokengo dht sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Where to sample (40 hexadecimal characters); a random id when absent.
    #[arg(value_name = "TARGET", value_parser = args::parse_id)]
    pub target: Option<Id>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print one JSON object (each node's sample, num and interval) instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `tokengo dht put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The value, stored as a bencoded string (at most 1000 bytes bencoded).
    #[arg(value_name = "VALUE")]
    pub value: String,
    /// Store a mutable item signed with --key instead of an immutable one.
    #[arg(long, requires = "key")]
    pub mutable: bool,
    /// The Ed25519 key: a file with the 32-byte seed in hex, created (0600) if missing.
    #[arg(long, value_name = "FILE", requires = "mutable")]
    pub key: Option<std::path::PathBuf>,
    /// Salt, so that one key can hold several items (at most 64 bytes).
    #[arg(long, value_name = "S", requires = "mutable")]
    pub salt: Option<String>,
    /// Sequence number; by default one more than the highest found in the DHT (or 1).
    #[arg(long, value_name = "N", requires = "mutable")]
    pub seq: Option<i64>,
    /// Store only where the stored item has this sequence number (compare and swap).
    #[arg(long, value_name = "N", requires = "mutable")]
    pub cas: Option<i64>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print one JSON object (target, key, seq, nodes that stored or refused it).
    #[arg(long)]
    pub json: bool,
}

/// `tokengo dht get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The immutable item's target (SHA-1 of its bencoded value): 40 hexadecimal characters.
    #[arg(value_name = "TARGET", value_parser = args::parse_id, required_unless_present = "public_key", conflicts_with = "public_key")]
    pub target: Option<Id>,
    /// The mutable item's Ed25519 public key: 64 hexadecimal characters.
    #[arg(long, value_name = "HEX", value_parser = args::parse_public_key)]
    pub public_key: Option<[u8; 32]>,
    /// The mutable item's salt.
    #[arg(long, value_name = "S", requires = "public_key")]
    pub salt: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print one JSON object (value, seq, key, signature, lookup stats).
    #[arg(long)]
    pub json: bool,
}

/// `tokengo dht node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The UDP address to serve on: IPv4 (`0.0.0.0:6881`) or IPv6 (`[::]:6881`). Give it twice,
    /// once per family, for a dual-stack node (BEP 32: a routing table per family).
    #[arg(long, value_name = "ADDR", required = true)]
    pub listen: Vec<SocketAddr>,
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
    /// BEP 42 on Mainline: prefer nodes whose id is secure for their address (default), keep
    /// only those, or ignore ids. The tokengo network ignores ids, so it refuses this option.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub secure_ids: Option<args::SecureIds>,
}

/// Options of the one-shot commands.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// The local UDP address to use; twice for both families. Default: an ephemeral port of
    /// each family the bootstrap addresses have.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
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

/// Runs a `tokengo dht` command, logging in `log_format`, and returns the process exit code.
pub fn run(args: DhtArgs, log_format: crate::console::LogFormat) -> ExitCode {
    let default_level = if matches!(args.command, DhtCommand::Node(_)) {
        "info"
    } else {
        "warn"
    };
    crate::console::init_logging(default_level, log_format);
    // A one-shot command runs on one thread: its lookup and the node driving it hand each
    // datagram to each other, and on two threads every hand-over is a cross-thread wake-up.
    let mut builder = if matches!(args.command, DhtCommand::Node(_)) {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
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
            DhtCommand::Put(args) => put::run(args).await,
            DhtCommand::Get(args) => get::run(args).await,
            DhtCommand::Sample(args) => sample::run(args).await,
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
