//! `tokengo devnet`: a whole private network on loopback in one process: a seed relay, more
//! relays that join through it, one exit that finds a relay by itself, an echo backend (unless
//! one is given), and then the client's own zero-configuration flow against that network.

use crate::bootstrap_peers::Sources;
use crate::client::ClientOptions;
use crate::client::proxy::{ProxyOptions, router};
use crate::dht::args::{NetworkName, node_config};
use crate::discovery::{self, DhtRelays, RelayDht, RelayDhtConfig, client_flow};
use crate::exit::backend::BackendOptions;
use crate::exit::{Exit, ExitOptions};
use crate::identity::Identity;
use crate::keys::OhttpKeyPair;
use crate::progress::{NoProgress, Progress, Step};
use crate::relay::{Relay, RelayOptions};
use crate::shutdown::{self, Signal};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// `devnet` settings.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Relays, the seed included (at least 1).
    pub relays: usize,
    /// Backend base URL; the built-in echo backend when `None`.
    pub backend: Option<String>,
    /// The client proxy's address.
    pub listen: SocketAddr,
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
pub async fn run(
    options: DevnetOptions,
    progress: Arc<dyn Progress>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (trigger, signal) = shutdown::channel();
    let mut tasks = JoinSet::new();
    let backend = match options.backend {
        Some(url) => url,
        None => {
            let (listener, addr) = crate::echo_backend::bind().await?;
            let s = signal.clone();
            tasks.spawn(async move {
                let _ = crate::echo_backend::serve(listener, s.wait()).await;
            });
            tracing::info!("echo backend on http://{addr}");
            format!("http://{addr}")
        }
    };

    let mut relay_dhts = Vec::new();
    let mut seed: Option<SocketAddr> = None;
    for i in 0..options.relays.max(1) {
        let relay = Relay::bind(RelayOptions::new(LOOPBACK_ANY_PORT, Identity::generate()?))
            .context("starting a relay")?;
        let quic = relay.local_addr()?;
        let dht = RelayDht::start(RelayDhtConfig {
            listen: LOOPBACK_ANY_PORT,
            quic_port: quic.port(),
            state_file: None,
            sources: only(&seed.into_iter().collect::<Vec<_>>()),
        })
        .await?;
        let role = if i == 0 { "seed relay" } else { "relay" };
        tracing::info!("{role} {i}: QUIC {quic}, DHT {}", dht.local_addr());
        seed.get_or_insert(dht.local_addr());
        let s = signal.clone();
        tasks.spawn(async move { relay.run(s.wait()).await });
        relay_dhts.push(dht);
    }
    let seed = seed.context("no relay")?;
    wait_for_announces(&relay_dhts, options.relays.max(1)).await;

    let exit_dht =
        tokengo_tokio::Dht::bind(LOOPBACK_ANY_PORT, node_config(NetworkName::Tokengo, true))
            .await?;
    let batches = crate::bootstrap_peers::resolve(only(&[seed]), None);
    discovery::join(&exit_dht, batches, client_flow::JOIN_TIMEOUT, &NoProgress).await;
    let exit = Exit::new(ExitOptions::new(
        Arc::new(DhtRelays::new(exit_dht, Arc::new(NoProgress))),
        OhttpKeyPair::generate()?,
        BackendOptions::new(backend),
    ))?;
    let mut registered = exit.registrations();
    let s = signal.clone();
    tasks.spawn(async move {
        let _ = exit.run(s.wait()).await;
    });
    tokio::time::timeout(Duration::from_secs(15), registered.wait_for(|n| *n > 0))
        .await
        .context("the exit did not register with a relay")??;

    progress.step(Step::Banner {
        version: env!("CARGO_PKG_VERSION").into(),
    });
    let found =
        client_flow::start(only(&[seed]), ClientOptions::default(), progress.clone()).await?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let local = listener.local_addr()?;
    progress.step(Step::Ready {
        listen: local.to_string(),
    });
    crate::say!();
    crate::say!("Try it:");
    crate::say!(
        "  curl http://{local}/v1/chat/completions -H 'content-type: application/json' \\\n    -d '{{\"model\":\"{}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello through tokengo\"}}]}}'",
        crate::echo_backend::MODEL
    );
    let serve = axum::serve(listener, router(found.client, ProxyOptions::default()))
        .with_graceful_shutdown(signal_wait(signal.clone()));
    let server = tokio::spawn(async move { serve.await });
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
