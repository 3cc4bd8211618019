//! The gateway subcommands: their arguments and what running them does.
//!
//! Flags override config-file values. Progress that the user asked for (addresses, ids, keys)
//! goes to stdout; logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, ValueEnum};

use crate::client::proxy::{ProxyOptions, router};
use crate::client::{ClientOptions, GatewayClient, RelayCandidate, StaticRelays};
use crate::config::{self, ClientFile, ExitFile, RelayFile};
use crate::exit::backend::BackendOptions;
use crate::exit::{Exit, ExitOptions};
use crate::identity::{Identity, parse_relay_id};
use crate::keygen::{Generated, KeyKind};
use crate::keys::{OhttpKeyPair, PublicKeyConfig};
use crate::relay::{Relay, RelayOptions};
use crate::serve::{ServeOptions, Stack};
use crate::shutdown::ctrl_c_or_term;

/// `tokengo relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// YAML config (e.g. configs/relay-dht.yaml).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// QUIC listen address [default: 0.0.0.0:4433].
    #[arg(short, long)]
    pub listen: Option<String>,
    /// Identity key file (created 0600 if missing); without one the relay id changes every start.
    #[arg(long)]
    pub identity: Option<PathBuf>,
}

/// `tokengo exit`.
#[derive(Debug, Args)]
pub struct ExitArgs {
    /// YAML config (e.g. configs/exit-dht.yaml).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Relay to register with, HOST:PORT.
    #[arg(long)]
    pub relay: Option<String>,
    /// The relay's id (hex) to pin.
    #[arg(long)]
    pub relay_id: Option<String>,
    /// Backend base URL [default: http://localhost:11434].
    #[arg(short, long)]
    pub backend: Option<String>,
    /// Sent to the backend as `Authorization: Bearer KEY`.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Header set on every backend request, `Name:value` (repeatable; overrides --api-key).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// OHTTP private key file [default: keys/ohttp_private.key, created if missing].
    #[arg(long)]
    pub ohttp_key: Option<PathBuf>,
}

/// `tokengo client` (static addressing).
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// YAML config (e.g. configs/client.yaml).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Local proxy address [default: 127.0.0.1:8080].
    #[arg(short, long)]
    pub listen: Option<String>,
    /// Relay, HOST:PORT.
    #[arg(long)]
    pub relay: Option<String>,
    /// The relay's id (hex) to pin.
    #[arg(long)]
    pub relay_id: Option<String>,
    /// Use only the exit with this pubKeyHash.
    #[arg(long)]
    pub exit_key_hash: Option<String>,
    /// Non-stream request timeout [default: 120s].
    #[arg(long)]
    pub timeout: Option<String>,
}

/// `tokengo serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Backend base URL, e.g. http://127.0.0.1:11434.
    #[arg(short, long)]
    pub backend: String,
    /// Local API address.
    #[arg(short, long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Sent to the backend as `Authorization: Bearer KEY`.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Header set on every backend request, `Name:value` (repeatable; overrides --api-key).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Address of the in-process relay.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub relay_listen: String,
    /// OHTTP key file to load or create (default: a key kept in memory).
    #[arg(long)]
    pub ohttp_key: Option<PathBuf>,
}

/// Key kinds for `keygen --type`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyTypeArg {
    /// An exit's OHTTP key pair.
    Ohttp,
    /// An Ed25519 identity for relays and exits.
    Identity,
}

/// `tokengo keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// What to generate.
    #[arg(short = 't', long = "type", value_enum, default_value = "ohttp")]
    pub kind: KeyTypeArg,
    /// Output directory (created if missing).
    #[arg(short, long, default_value = "./keys")]
    pub output: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

fn pin_of(id: Option<&str>) -> anyhow::Result<Option<[u8; 32]>> {
    id.map(|s| parse_relay_id(s).ok_or_else(|| anyhow!("relay id must be 64 hex characters")))
        .transpose()
}

fn headers_of(list: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    list.iter()
        .map(|h| config::parse_header(h).map_err(Into::into))
        .collect()
}

/// Runs a relay until Ctrl-C.
pub async fn relay(args: RelayArgs) -> anyhow::Result<()> {
    let file: RelayFile = match &args.config {
        Some(p) => config::load(p)?,
        None => RelayFile::default(),
    };
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "0.0.0.0:4433".into());
    let listen = config::parse_listen(&listen)?;
    let identity = match args
        .identity
        .or(file.identity_key_file)
        .or(file.dht.private_key_file)
    {
        Some(path) => Identity::load_or_generate(&path)?,
        None => Identity::generate()?,
    };
    let relay = Relay::bind(RelayOptions::new(listen, identity)).context("starting the relay")?;
    println!("relay listening on {}", relay.local_addr()?);
    println!("relay id: {}", relay.id());
    relay.run(ctrl_c_or_term()).await;
    Ok(())
}

/// Runs an exit until Ctrl-C.
pub async fn exit(args: ExitArgs) -> anyhow::Result<()> {
    let file: ExitFile = match &args.config {
        Some(p) => config::load(p)?,
        None => ExitFile::default(),
    };
    let relay = args
        .relay
        .or(file.relay)
        .ok_or_else(|| anyhow!("no relay given (--relay HOST:PORT or `relay:` in the config)"))?;
    let relay_pin = pin_of(args.relay_id.or(file.relay_id).as_deref())?;
    let key_path = args
        .ohttp_key
        .or(file.ohttp_private_key_file)
        .unwrap_or_else(|| PathBuf::from("keys/ohttp_private.key"));
    let (key, created) = OhttpKeyPair::load_or_generate(&key_path)
        .with_context(|| format!("OHTTP key {}", key_path.display()))?;
    if created {
        eprintln!("generated OHTTP key {}", key_path.display());
    }
    if let Some(pub_file) = &file.ohttp_public_key_file {
        let text = std::fs::read_to_string(pub_file)
            .with_context(|| format!("reading {}", pub_file.display()))?;
        if PublicKeyConfig::from_base64(&text)? != *key.public() {
            bail!("{} does not match the private key", pub_file.display());
        }
    }
    let mut backend = BackendOptions::new(
        args.backend
            .or(file.ai_backend.url)
            .unwrap_or_else(|| "http://localhost:11434".into()),
    );
    backend.api_key = args
        .api_key
        .or(file.ai_backend.api_key)
        .filter(|k| !k.is_empty());
    backend.headers = file.ai_backend.headers.into_iter().collect();
    backend.headers.extend(headers_of(&args.headers)?);
    if let Some(t) = &file.ai_backend.timeout {
        backend.head_timeout = config::parse_duration(t)?;
    }
    println!("exit key config: {}", key.public().to_base64());
    println!("exit pubKeyHash: {}", key.public().hash());
    let mut options = ExitOptions::new(relay, key, backend);
    options.relay_pin = relay_pin;
    Exit::new(options)?.run(ctrl_c_or_term()).await?;
    Ok(())
}

/// Runs the client proxy until Ctrl-C.
pub async fn client(args: ClientArgs) -> anyhow::Result<()> {
    let file: ClientFile = match &args.config {
        Some(p) => config::load(p)?,
        None => ClientFile::default(),
    };
    let relay = args
        .relay
        .or(file.relay)
        .ok_or_else(|| anyhow!("no relay given (--relay HOST:PORT or `relay:` in the config)"))?;
    let pin = pin_of(args.relay_id.or(file.relay_id).as_deref())?;
    let listen: SocketAddr = config::parse_listen(
        &args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
    )?;
    let mut proxy = ProxyOptions::default();
    if let Some(t) = args.timeout.or(file.timeout) {
        proxy.timeout = config::parse_duration(&t)?;
    }
    let client = Arc::new(GatewayClient::new(
        Arc::new(StaticRelays(vec![RelayCandidate { addr: relay, pin }])),
        ClientOptions {
            exit_pin: args.exit_key_hash.or(file.exit_pub_key_hash),
            ..ClientOptions::default()
        },
    ));
    if let Err(e) = client.ready().await {
        tracing::warn!("not connected yet ({e}); will retry on the first request");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    println!("ready: http://{}/v1", listener.local_addr()?);
    axum::serve(listener, router(client, proxy))
        .with_graceful_shutdown(ctrl_c_or_term())
        .await?;
    Ok(())
}

/// Runs relay, exit and proxy in one process until Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut backend = BackendOptions::new(args.backend);
    backend.api_key = args.api_key.filter(|k| !k.is_empty());
    backend.headers = headers_of(&args.headers)?;
    let mut options = ServeOptions::new(backend);
    options.listen = config::parse_listen(&args.listen)?;
    options.relay_listen = config::parse_listen(&args.relay_listen)?;
    options.ohttp_key = args.ohttp_key;
    let stack = Stack::start(options).await?;
    println!(
        "tokengo serve: OpenAI-compatible API at {}",
        stack.api_url()
    );
    ctrl_c_or_term().await;
    tokio::time::timeout(Duration::from_secs(10), stack.stop())
        .await
        .ok();
    Ok(())
}

/// Generates keys.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let kind = match args.kind {
        KeyTypeArg::Ohttp => KeyKind::Ohttp,
        KeyTypeArg::Identity => KeyKind::Identity,
    };
    match crate::keygen::generate(kind, &args.output, args.force)? {
        Generated::Ohttp {
            private,
            public,
            key_config,
            pub_key_hash,
        } => {
            println!("private key: {}", private.display());
            println!("public key config: {}", public.display());
            println!("key config (base64): {key_config}");
            println!("pubKeyHash: {pub_key_hash}");
        }
        Generated::Identity { path, id } => {
            println!("identity: {}", path.display());
            println!("id: {id}");
        }
    }
    Ok(())
}
