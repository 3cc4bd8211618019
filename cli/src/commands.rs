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

use crate::bootstrap_args::BootstrapArgs;
use crate::config::{self, ClientFile, ExitFile, RelayFile};
use crate::dht::args::{NetworkName, node_config};
use crate::keygen::{Generated, KeyKind};
use crate::metrics::DhtMetrics;
use crate::progress::{LineProgress, LogProgress, Progress, Step};
use tokengo_discovery::devnet::DevnetOptions;
use tokengo_discovery::{self as discovery, DhtRelays, RelayDht, RelayDhtConfig};
use tokengo_gateway::client::proxy::{self, HeaderPolicy, ProxyOptions};
use tokengo_gateway::client::{ClientOptions, GatewayClient};
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::exit::{Exit, ExitOptions};
use tokengo_gateway::keyfile::KeyFile as _;
use tokengo_gateway::metrics::Registry;
use tokengo_gateway::relay::{Relay, RelayOptions};
use tokengo_gateway::relay_source::{RelaySource, static_relay};
use tokengo_gateway::shutdown::ctrl_c_or_term;
use tokengo_gateway::stack::{ServeOptions, Stack};
use tokengo_gateway_proto::identity::{Identity, parse_relay_id};
use tokengo_gateway_proto::keys::{OhttpKeyPair, PublicKeyConfig};
use tokengo_gateway_proto::path_policy::PathPolicy;
use tokengo_gateway_proto::trust::{BUILT_IN_AUTHORITIES, Basis};

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
    /// UDP address of the relay's DHT node [default: 0.0.0.0:4003].
    #[arg(long, value_name = "ADDR")]
    pub dht_listen: Option<String>,
    /// Keeps the DHT node's id and contacts between runs [default: dht-state.json beside the
    /// identity file, if any].
    #[arg(long, value_name = "FILE")]
    pub dht_state: Option<PathBuf>,
    /// Run without the DHT (clients and exits must be given this relay's address).
    #[arg(long)]
    pub no_dht: bool,
    /// Accept only exits admitted by this network authority (hex id; repeatable).
    #[arg(long = "trust-authority", value_name = "AUTHORITY_ID")]
    pub trust_authorities: Vec<String>,
    /// Serve Prometheus metrics on http://ADDR/metrics (off by default).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
}

/// `tokengo exit`.
#[derive(Debug, Args)]
pub struct ExitArgs {
    /// YAML config (e.g. configs/exit-dht.yaml).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Relay to register with, HOST:PORT (without it, relays are found through the DHT).
    #[arg(long)]
    pub relay: Option<String>,
    /// The relay's id (hex) to pin.
    #[arg(long)]
    pub relay_id: Option<String>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Backend base URL [default: http://localhost:11434].
    #[arg(short, long)]
    pub backend: Option<String>,
    /// Sent to the backend as `Authorization: Bearer KEY`; better given as the environment
    /// variable, which `ps` does not show.
    #[arg(long, env = "TOKENGO_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Header set on every backend request, `Name:value` (repeatable; overrides --api-key).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// OHTTP private key file [default: keys/ohttp_private.key, created if missing].
    #[arg(long)]
    pub ohttp_key: Option<PathBuf>,
    /// Identity key file that signs the exit's descriptor (created 0600 if missing); without
    /// one the exit id changes every start.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// An admission certificate from a network authority (repeatable; `tokengo authority admit`).
    #[arg(long = "admission", value_name = "FILE")]
    pub admissions: Vec<PathBuf>,
    /// How many relays to stay registered with at once [default: 3].
    #[arg(long)]
    pub max_relays: Option<usize>,
    /// How often to replace the OHTTP key, e.g. 24h; 0 never [default: 24h].
    #[arg(long)]
    pub rotate_every: Option<String>,
    /// A path the backend may be called on (repeatable; `/v1/` allows everything under it,
    /// `*` everything) instead of the AI API paths allowed by default.
    #[arg(long = "allow-path", value_name = "PATH")]
    pub allowed_paths: Vec<String>,
    /// How long streamed answer pieces are gathered into one sealed chunk, e.g. 20ms; 0 sends
    /// each at once [default: 20ms].
    #[arg(long)]
    pub chunk_interval: Option<String>,
    /// A model the backend serves (repeatable), listed in the exit's descriptor instead of
    /// the models read from the backend's `/v1/models` or `/api/tags`.
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// Serve Prometheus metrics on http://ADDR/metrics (off by default).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
}

/// `tokengo client`: finds relays through the DHT, or uses `--relay`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// YAML config (e.g. configs/client.yaml).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Local proxy address [default: 127.0.0.1:8080].
    #[arg(short, long)]
    pub listen: Option<String>,
    /// Relay, HOST:PORT (static addressing; without it, relays are found through the DHT).
    #[arg(long)]
    pub relay: Option<String>,
    /// The relay's id (hex) to pin.
    #[arg(long)]
    pub relay_id: Option<String>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Use only the exit with this pubKeyHash.
    #[arg(long)]
    pub exit_key_hash: Option<String>,
    /// Use only exits whose descriptor is signed by this exit id (hex; repeatable). Their keys
    /// then never come from the relay alone.
    #[arg(long = "trust-exit", value_name = "EXIT_ID")]
    pub trust_exits: Vec<String>,
    /// Use only exits admitted by this network authority (hex id; repeatable).
    #[arg(long = "trust-authority", value_name = "AUTHORITY_ID")]
    pub trust_authorities: Vec<String>,
    /// How many of the trusted authorities must admit an exit [default: 1].
    #[arg(long)]
    pub authority_threshold: Option<usize>,
    /// With no exit or authority trusted, take any exit the relay lists (for tests: whoever
    /// runs the relay can then read everything).
    #[arg(long)]
    pub insecure_any_exit: bool,
    /// Seal this header too, although it is stripped by default (repeatable).
    #[arg(long = "forward-header", value_name = "NAME")]
    pub forward_headers: Vec<String>,
    /// Seal the app's Authorization and x-api-key (bring-your-own-key setups).
    #[arg(long)]
    pub forward_credentials: bool,
    /// A browser origin allowed to use the proxy besides local pages, e.g.
    /// `https://app.example` (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Non-stream request timeout [default: 120s].
    #[arg(long)]
    pub timeout: Option<String>,
    /// Serve Prometheus metrics on http://ADDR/metrics (off by default).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
}

/// `tokengo status`: what a running client holds.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The client proxy's address.
    #[arg(short, long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Print the JSON the proxy answers, for scripts.
    #[arg(long)]
    pub json: bool,
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
    /// Sent to the backend as `Authorization: Bearer KEY`; better given as the environment
    /// variable, which `ps` does not show.
    #[arg(long, env = "TOKENGO_API_KEY", hide_env_values = true)]
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

/// `tokengo devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Relays to start, the seed relay included.
    #[arg(long, default_value_t = 3)]
    pub relays: usize,
    /// Exits to start; without `--backend` exit N gets an echo backend serving the models
    /// `tokengo-echo` and `tokengo-echo-N`.
    #[arg(long, default_value_t = 1)]
    pub exits: usize,
    /// Backend base URL for every exit [default: a built-in echo backend per exit].
    #[arg(short, long)]
    pub backend: Option<String>,
    /// The client proxy's address.
    #[arg(short, long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

/// Runs a whole network on loopback, then the client against it, until Ctrl-C.
pub async fn devnet(args: DevnetArgs) -> anyhow::Result<()> {
    let options = DevnetOptions {
        relays: args.relays.max(1),
        exits: args.exits.max(1),
        backend: args.backend,
        listen: config::parse_listen(&args.listen)?,
        seed: node_config(NetworkName::Tokengo, true).seed,
    };
    let ready = |local| {
        crate::say!();
        crate::say!("Try it:");
        crate::say!(
            "  curl http://{local}/v1/chat/completions -H 'content-type: application/json' \\\n    -d '{{\"model\":\"{}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello through tokengo\"}}]}}'",
            tokengo_gateway::echo_backend::MODEL
        );
    };
    let progress = Arc::new(LineProgress::stdout());
    tokengo_discovery::devnet::run(options, progress, ready, ctrl_c_or_term()).await?;
    Ok(())
}

/// Key kinds for `keygen --type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyTypeArg {
    /// An exit's OHTTP key pair.
    Ohttp,
    /// An Ed25519 identity for relays and exits.
    Identity,
    /// A network authority's key (`authority.key`), which admits exits.
    Authority,
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

fn hex_ids(list: Vec<&String>, what: &str) -> anyhow::Result<Vec<[u8; 32]>> {
    list.into_iter()
        .map(|id| parse_relay_id(id).ok_or_else(|| anyhow!("{what} must be 64 hex characters")))
        .collect()
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
    let identity_path = args
        .identity
        .or(file.identity_key_file.clone())
        .or(file.dht.private_key_file.clone());
    let identity = match &identity_path {
        Some(path) => Identity::load_or_generate(path)?.0,
        None => Identity::generate()?,
    };
    let mut options = RelayOptions::new(listen, identity);
    let authorities = args.trust_authorities.iter().chain(&file.trust_authorities);
    options.trusted_authorities = hex_ids(authorities.collect(), "authority id")?;
    let relay = Relay::bind(options).context("starting the relay")?;
    let quic = relay.local_addr()?;
    crate::say!("relay listening on {quic}");
    crate::say!("relay id: {}", relay.id());
    let dht = if args.no_dht {
        None
    } else {
        let dht_listen = match args
            .dht_listen
            .or_else(|| file.dht.listen_addrs.first().cloned())
        {
            Some(text) => config::parse_dht_listen(&text)?,
            None => SocketAddr::from(([0, 0, 0, 0], discovery::DEFAULT_DHT_PORT)),
        };
        let state_file = args.dht_state.or(file.dht.state_file.clone()).or_else(|| {
            identity_path
                .as_ref()
                .map(|p| p.with_file_name("dht-state.json"))
        });
        let sources = args.bootstrap.sources(file.dht.bootstrap());
        let dht = RelayDht::start(RelayDhtConfig {
            listen: dht_listen,
            quic_port: quic.port(),
            state_file,
            sources,
            node: node_config(NetworkName::Tokengo, false),
        })
        .await
        .context("starting the relay's DHT node")?;
        crate::say!("relay DHT node on {} (udp)", dht.local_addr());
        Some(dht)
    };
    if let Some(addr) = &args.metrics {
        let mut registry = Registry::default();
        relay.metrics().register(&mut registry);
        let refresh = match &dht {
            Some(dht) => {
                let dht_metrics = Arc::new(DhtMetrics::default());
                dht_metrics.register(&mut registry);
                dht_metrics.refresh(dht.dht().clone())
            }
            None => crate::metrics::no_refresh(),
        };
        crate::metrics::start(addr, registry, refresh).await?;
    }
    relay.run(ctrl_c_or_term()).await;
    if let Some(dht) = dht {
        dht.shutdown().await?;
    }
    Ok(())
}

/// Runs an exit until Ctrl-C.
pub async fn exit(args: ExitArgs) -> anyhow::Result<()> {
    let file: ExitFile = match &args.config {
        Some(p) => config::load(p)?,
        None => ExitFile::default(),
    };
    let relay = args.relay.or(file.relay);
    let relay_pin = pin_of(args.relay_id.or(file.relay_id).as_deref())?;
    let sources = args.bootstrap.sources(file.dht.bootstrap());
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
    let paths: Vec<String> = args
        .allowed_paths
        .iter()
        .chain(&file.allowed_paths)
        .cloned()
        .collect();
    if !paths.is_empty() {
        backend.allowed_paths = PathPolicy::new(paths);
    }
    crate::say!("exit key config: {}", key.public().to_base64());
    crate::say!("exit pubKeyHash: {}", key.public().hash());
    let relays = match relay {
        Some(relay) => static_relay(relay, relay_pin),
        None => {
            // Read-only: the exit looks relays up but is never stored in anyone's table.
            let progress: Arc<dyn Progress> = Arc::new(LogProgress);
            let listen = match file.dht.listen_addrs.first() {
                Some(text) => config::parse_dht_listen(text)?,
                None => SocketAddr::from(([0, 0, 0, 0], 0)),
            };
            let node = node_config(NetworkName::Tokengo, true);
            let local = discovery::candidates::sources_are_local(&sources);
            let dht = discovery::join_read_only(listen, node, sources, progress.as_ref())
                .await
                .with_context(|| format!("starting the exit's DHT node on {listen}"))?;
            let mut relays = DhtRelays::new(dht, progress);
            relays.allow_local = local;
            Arc::new(relays) as Arc<dyn RelaySource>
        }
    };
    let identity = match args.identity.or(file.identity_key_file) {
        Some(path) => {
            Identity::load_or_generate(&path)
                .with_context(|| format!("exit identity {}", path.display()))?
                .0
        }
        None => Identity::generate()?,
    };
    crate::say!("exit id: {}", identity.id());
    let mut options = ExitOptions::new(relays, key, backend);
    let files = args.admissions.iter().chain(&file.admissions);
    options.admissions = files
        .map(|path| crate::authority::load_admission(path, &identity))
        .collect::<anyhow::Result<_>>()?;
    options.identity = Some(identity);
    if let Some(n) = args.max_relays.or(file.max_relays) {
        options.max_relays = n.max(1);
    }
    if let Some(interval) = args.chunk_interval.or(file.chunk_interval) {
        options.chunk_interval = config::parse_duration(&interval)?;
    }
    if let Some(every) = args.rotate_every.or(file.rotate_every) {
        let every = config::parse_duration(&every)?;
        options.rotate_every = (!every.is_zero()).then_some(every);
    }
    let models: Vec<String> = args.models.iter().chain(&file.models).cloned().collect();
    options.models = tokengo_gateway_proto::models::clean(models);
    let exit = Exit::new(options)?;
    if let Some(addr) = &args.metrics {
        let mut registry = Registry::default();
        exit.metrics().register(&mut registry);
        crate::metrics::start(addr, registry, crate::metrics::no_refresh()).await?;
    }
    exit.run(ctrl_c_or_term()).await?;
    Ok(())
}

/// Runs the client proxy until Ctrl-C: with `--relay` (or `relay:` in the config) on that
/// relay; otherwise it finds relays through the DHT and prints its progress.
pub async fn client(args: ClientArgs) -> anyhow::Result<()> {
    let file: ClientFile = match &args.config {
        Some(p) => config::load(p)?,
        None => ClientFile::default(),
    };
    let listen: SocketAddr = config::parse_local_listen(
        &args
            .listen
            .clone()
            .or(file.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
    )?;
    let mut proxy_options = ProxyOptions::default();
    if let Some(t) = args.timeout.clone().or(file.timeout.clone()) {
        proxy_options.timeout = config::parse_duration(&t)?;
    }
    proxy_options.headers = HeaderPolicy {
        forward: args
            .forward_headers
            .iter()
            .chain(&file.forward_headers)
            .cloned()
            .collect(),
        forward_credentials: args.forward_credentials || file.forward_credentials,
    };
    proxy_options.allowed_origins = args
        .allowed_origins
        .iter()
        .chain(&file.allowed_origins)
        .cloned()
        .collect();
    let options = ClientOptions {
        trusted_exits: hex_ids(
            args.trust_exits.iter().chain(&file.trusted_exits).collect(),
            "exit id",
        )?,
        trusted_authorities: {
            let mut ids = hex_ids(
                args.trust_authorities
                    .iter()
                    .chain(&file.trust_authorities)
                    .collect(),
                "authority id",
            )?;
            for built_in in BUILT_IN_AUTHORITIES {
                if !ids.contains(built_in) {
                    ids.push(*built_in);
                }
            }
            ids
        },
        authority_threshold: args
            .authority_threshold
            .or(file.authority_threshold)
            .unwrap_or(1),
        exit_pin: args
            .exit_key_hash
            .clone()
            .or(file.exit_pub_key_hash.clone()),
        insecure_any_exit: args.insecure_any_exit || file.insecure_any_exit,
        ..ClientOptions::default()
    };
    if options.policy().basis() == Basis::Insecure {
        eprintln!(
            "WARNING: --insecure-any-exit: this client takes any exit a relay lists, so whoever runs the relay can read every request. Use it for tests only."
        );
    }
    let started = std::time::Instant::now();
    let metrics = proxy_options.metrics.clone();
    let static_target = args.relay.clone().or(file.relay.clone());
    let progress: Arc<dyn Progress> = Arc::new(LineProgress::stdout());
    let (client, ready) = match static_target {
        Some(relay) => {
            let pin = pin_of(args.relay_id.or(file.relay_id).as_deref())?;
            let client = Arc::new(GatewayClient::new(static_relay(relay, pin), options));
            let quiet = Arc::new(tokengo_discovery::progress::NoProgress);
            let ready = discovery::client_flow::become_ready(client.clone(), quiet);
            (client, ready.await)
        }
        None => {
            progress.step(Step::Banner {
                version: env!("CARGO_PKG_VERSION").into(),
            });
            let sources = args.bootstrap.sources(file.bootstrap());
            let node = node_config(NetworkName::Tokengo, true);
            let found =
                discovery::client_flow::start(node, sources, options, progress.clone()).await?;
            metrics.bootstrap_seconds.set(found.joined_in.as_secs_f64());
            (found.client, found.ready)
        }
    };
    {
        let mut ready = ready.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if ready.wait_for(Option::is_some).await.is_ok() {
                metrics.ready_seconds.set(started.elapsed().as_secs_f64());
            }
        });
    }
    if let Some(addr) = &args.metrics {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        crate::metrics::start(addr, registry, crate::metrics::no_refresh()).await?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    discovery::client_flow::announce_ready(ready, local, progress);
    proxy::serve(listener, client, proxy_options, ctrl_c_or_term()).await?;
    Ok(())
}

/// Runs relay, exit and proxy in one process until Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut backend = BackendOptions::new(args.backend);
    backend.api_key = args.api_key.filter(|k| !k.is_empty());
    backend.headers = headers_of(&args.headers)?;
    let mut options = ServeOptions::new(backend);
    options.listen = config::parse_local_listen(&args.listen)?;
    options.relay_listen = config::parse_listen(&args.relay_listen)?;
    options.ohttp_key = args.ohttp_key;
    let stack = Stack::start(options).await?;
    crate::say!(
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
        KeyTypeArg::Authority => KeyKind::Authority,
    };
    match crate::keygen::generate(kind, &args.output, args.force)? {
        Generated::Ohttp {
            private,
            public,
            key_config,
            pub_key_hash,
        } => {
            crate::say!("private key: {}", private.display());
            crate::say!("public key config: {}", public.display());
            crate::say!("key config (base64): {key_config}");
            crate::say!("pubKeyHash: {pub_key_hash}");
        }
        Generated::Identity { path, id } if args.kind == KeyTypeArg::Authority => {
            crate::say!("authority key: {}", path.display());
            crate::say!("authority id: {id}");
        }
        Generated::Identity { path, id } => {
            crate::say!("identity: {}", path.display());
            crate::say!("id: {id}");
        }
    }
    Ok(())
}
