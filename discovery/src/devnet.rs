//! `tokengo devnet`: a whole private network on loopback in one process: a seed relay, more
//! relays that join through it, exits that find relays by themselves, each with its own echo
//! backend serving its own model (unless a backend is given), and then the client's own
//! zero-configuration flow against that network.

use crate::bootstrap::Sources;
use crate::progress::{NoProgress, Progress, Step};
use crate::{DhtRelays, DiscoveryError, RelayDht, RelayDhtConfig, client_flow, join_read_only};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokengo_core::{Config, Network};
use tokengo_gateway::client::ClientOptions;
use tokengo_gateway::client::proxy::{self, ProxyOptions};
use tokengo_gateway::echo_backend;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::exit::{Exit, ExitError, ExitOptions};
use tokengo_gateway::relay::{Relay, RelayOptions};
use tokengo_gateway::shutdown::{self, Signal};
use tokengo_gateway::transport::TlsError;
use tokengo_gateway_proto::certificate::{AdmissionCertificate, CertificateError, Role};
use tokengo_gateway_proto::descriptor::MAX_VALIDITY;
use tokengo_gateway_proto::identity::{Identity, IdentityError};
use tokengo_gateway_proto::keys::{KeyError, OhttpKeyPair};
use tokio::task::JoinSet;

/// What to run.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Relays to start, the seed relay included (at least one).
    pub relays: usize,
    /// Exits to start (at least one).
    pub exits: usize,
    /// The backend's base URL for every exit; when absent, exit `n` gets its own echo backend
    /// serving [`echo_backend::MODEL`] and `tokengo-echo-n`.
    pub backend: Option<String>,
    /// The client proxy's address.
    pub listen: SocketAddr,
    /// Seed of the first DHT node; each further node takes the next value.
    pub seed: u64,
}

/// Why the devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// A socket could not be bound or asked its address.
    #[error("{what}: {source}")]
    Io {
        /// What it was for.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A relay's identity could not be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The exit's key could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The exit's admission could not be signed.
    #[error(transparent)]
    Admission(#[from] CertificateError),
    /// A relay's endpoint could not be made.
    #[error("starting a relay: {0}")]
    Relay(#[from] TlsError),
    /// The exit could not be set up.
    #[error(transparent)]
    Exit(#[from] ExitError),
    /// An exit did not register with a relay in time.
    #[error("exit {0} did not register with a relay")]
    NotRegistered(usize),
    /// A DHT node failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> DevnetError {
    move |source| DevnetError::Io { what, source }
}

const LOOPBACK_ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn only(peers: &[SocketAddr]) -> Sources {
    Sources {
        built_in: false,
        remote_urls: Vec::new(),
        configured: peers.iter().map(ToString::to_string).collect(),
    }
}

/// Runs the devnet until `stop` completes, reporting the client's steps to `progress`.
/// The node settings of the `n`-th devnet node.
fn node(options: &DevnetOptions, n: u64) -> Config {
    Config {
        seed: options.seed.wrapping_add(n),
        network: Network::tokengo(),
        ..Config::default()
    }
}

/// Starts the network, then the client's own zero-configuration flow against it; calls
/// `ready` with the proxy's address once it listens, and runs until `stop` completes.
pub async fn run(
    options: DevnetOptions,
    progress: Arc<dyn Progress>,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DevnetError> {
    let (trigger, signal) = shutdown::channel();
    let mut tasks = JoinSet::new();
    let mut relay_dhts = Vec::new();
    let mut seed: Option<SocketAddr> = None;
    for i in 0..options.relays.max(1) {
        let relay = Relay::bind(RelayOptions::new(LOOPBACK_ANY_PORT, Identity::generate()?))?;
        let quic = relay.local_addr().map_err(io("relay"))?;
        let dht = RelayDht::start(RelayDhtConfig {
            listen: LOOPBACK_ANY_PORT,
            quic_port: quic.port(),
            state_file: None,
            sources: only(&seed.into_iter().collect::<Vec<_>>()),
            node: node(&options, i as u64),
        })
        .await?;
        let role = if i == 0 { "seed relay" } else { "relay" };
        tracing::info!("{role} {i}: QUIC {quic}, DHT {}", dht.local_addr());
        seed.get_or_insert(dht.local_addr());
        let s = signal.clone();
        tasks.spawn(async move { relay.run(s.wait()).await });
        relay_dhts.push(dht);
    }
    let Some(seed) = seed else {
        return Ok(());
    };
    wait_for_announces(&relay_dhts, options.relays.max(1)).await;

    // The devnet is its own network authority: it admits its exits, and its client trusts
    // exits only on that authority's word.
    let authority = Identity::generate()?;
    let exits = options.exits.max(1);
    let mut registered = Vec::new();
    for n in 1..=exits {
        let backend = match options.backend.clone() {
            Some(url) => url,
            None => {
                let (listener, addr) = echo_backend::bind().await.map_err(io("echo backend"))?;
                let models = echo_backend::models_of_exit(n);
                tracing::info!("echo backend {n} on http://{addr} serving {models:?}");
                let s = signal.clone();
                tasks.spawn(async move {
                    let _ = echo_backend::serve(listener, models, s.wait()).await;
                });
                format!("http://{addr}")
            }
        };
        let dht = join_read_only(
            LOOPBACK_ANY_PORT,
            node(&options, (options.relays + n) as u64),
            only(&[seed]),
            &NoProgress,
        )
        .await?;
        let exit = admitted_exit(&authority, dht, backend)?;
        registered.push(exit.registrations());
        let s = signal.clone();
        tasks.spawn(async move {
            let _ = exit.run(s.wait()).await;
        });
    }
    // Every exit on every relay it will use, so that whichever relay the client picks lists
    // every exit (and every model) from the start.
    let on_relays = options
        .relays
        .clamp(1, tokengo_gateway::exit::DEFAULT_MAX_RELAYS) as u64;
    for (n, registrations) in registered.iter_mut().enumerate() {
        tokio::time::timeout(
            Duration::from_secs(15),
            registrations.wait_for(|r| *r >= on_relays),
        )
        .await
        .map_err(|_| DevnetError::NotRegistered(n + 1))?
        .map_err(|_| DevnetError::NotRegistered(n + 1))?;
    }

    progress.step(Step::Banner {
        version: env!("CARGO_PKG_VERSION").into(),
    });
    let found = client_flow::start(
        node(&options, (options.relays + exits + 1) as u64),
        only(&[seed]),
        ClientOptions {
            trusted_authorities: vec![authority.public_key()],
            ..ClientOptions::default()
        },
        progress.clone(),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(io("client proxy"))?;
    let local = listener.local_addr().map_err(io("client proxy"))?;
    client_flow::announce_ready(found.ready.clone(), local, progress.clone());
    ready(local);
    let serve = proxy::serve(
        listener,
        found.client,
        ProxyOptions::default(),
        signal_wait(signal.clone()),
    );
    let server = tokio::spawn(serve);
    stop.await;
    trigger.fire();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    for dht in relay_dhts {
        let _ = dht.shutdown().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// An exit admitted by `authority` that finds relays through `dht` and calls `backend`.
fn admitted_exit(
    authority: &Identity,
    dht: tokengo_tokio::Dht,
    backend: String,
) -> Result<Exit, DevnetError> {
    let identity = Identity::generate()?;
    let admission = AdmissionCertificate {
        subject: identity.public_key(),
        role: Role::Exit,
        not_after: tokengo_gateway::unix_now().saturating_add(MAX_VALIDITY),
        authority: authority.public_key(),
    }
    .sign(authority)?;
    let mut relays = DhtRelays::new(dht, Arc::new(NoProgress));
    relays.allow_local = true;
    let mut options = ExitOptions::new(
        Arc::new(relays),
        OhttpKeyPair::generate()?,
        BackendOptions::new(backend),
    );
    options.identity = Some(identity);
    options.admissions = vec![admission];
    Ok(Exit::new(options)?)
}

async fn signal_wait(signal: Signal) {
    signal.wait().await;
}

/// Waits (bounded) until the seed stores the other relays' announces, so the client's first
/// lookup sees the whole network.
async fn wait_for_announces(relays: &[RelayDht], count: usize) {
    let Some(seed) = relays.first() else {
        return;
    };
    for _ in 0..100 {
        match seed.dht().stats().await {
            Ok(stats) if stats.stored_peers + 1 >= count => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(_) => return,
        }
    }
}
