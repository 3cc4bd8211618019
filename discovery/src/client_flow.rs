//! The zero-configuration client: join the private DHT, find and measure relays, connect to
//! the fastest, fetch the exit keys, serve the local proxy, printing each step.

use crate::bootstrap::Sources;
use crate::progress::{Progress, Step};
use crate::{DhtRelays, DiscoveryError, join_read_only};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokengo_core::Config;
use tokengo_gateway::client::{ClientError, ClientOptions, GatewayClient};
use tokio::sync::watch;

/// First and largest delay between two background attempts to find a relay with an exit.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A client whose relays come from the DHT, ready or still looking.
#[derive(Debug)]
pub struct DiscoveredClient {
    /// The client; its relays come from the DHT.
    pub client: Arc<GatewayClient>,
    /// The exit id once the client has a relay and an exit (at start, or later from the
    /// background search).
    pub ready: watch::Receiver<Option<String>>,
    /// How long joining the DHT took.
    pub joined_in: Duration,
}

/// Joins the DHT as a read-only node, then finds a relay with an exit. When none is found yet
/// the client is returned anyway (its requests fail with a clear 502/503) and keeps looking
/// in the background.
/// `dht` is the node's configuration (its network and seed).
pub async fn start(
    dht: Config,
    sources: Sources,
    options: ClientOptions,
    progress: Arc<dyn Progress>,
) -> Result<DiscoveredClient, DiscoveryError> {
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let local = crate::candidates::sources_are_local(&sources);
    let joining = std::time::Instant::now();
    let dht = join_read_only(any, dht, sources, progress.as_ref()).await?;
    let joined_in = joining.elapsed();
    let mut source = DhtRelays::new(dht, progress.clone());
    source.allow_local = local;
    source.then_fetch_exit_keys = true;
    let source = Arc::new(source);
    let client = Arc::new(GatewayClient::new(source, options));
    let ready = become_ready(client.clone(), progress).await;
    Ok(DiscoveredClient {
        client,
        ready,
        joined_in,
    })
}

/// Asks `client` for a relay and an exit now and, when it has none yet, keeps asking in the
/// background (1 s, doubling to 30 s); the receiver holds the exit id once there is one.
pub async fn become_ready(
    client: Arc<GatewayClient>,
    progress: Arc<dyn Progress>,
) -> watch::Receiver<Option<String>> {
    let (found, ready) = watch::channel(None);
    match client.ready().await {
        Ok(exit) => {
            progress.step(Step::ExitKeyFetched { hash: exit.clone() });
            found.send_replace(Some(exit));
        }
        Err(e) => {
            report(progress.as_ref(), &e);
            tokio::spawn(async move { keep_looking(client, progress, found).await });
        }
    }
    ready
}

fn report(progress: &dyn Progress, e: &ClientError) {
    tracing::warn!("not ready yet: {e}");
    if matches!(e, ClientError::NoExit) {
        progress.step(Step::NoExit);
    }
}

async fn keep_looking(
    client: Arc<GatewayClient>,
    progress: Arc<dyn Progress>,
    found: watch::Sender<Option<String>>,
) {
    let mut delay = RETRY_MIN;
    loop {
        tokio::time::sleep(delay).await;
        if found.is_closed() {
            return;
        }
        match client.ready().await {
            Ok(exit) => {
                progress.step(Step::ExitKeyFetched { hash: exit.clone() });
                found.send_replace(Some(exit));
                return;
            }
            Err(e) => tracing::debug!("still looking for a relay with an exit: {e}"),
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// Reports [`Step::Ready`] for `listen` once `ready` holds an exit: at once when it does,
/// otherwise [`Step::Serving`] now and `Ready` when the search succeeds.
pub fn announce_ready(
    mut ready: watch::Receiver<Option<String>>,
    listen: SocketAddr,
    progress: Arc<dyn Progress>,
) {
    let listen = listen.to_string();
    if ready.borrow().is_some() {
        return progress.step(Step::Ready { listen });
    }
    progress.step(Step::Serving {
        listen: listen.clone(),
    });
    tokio::spawn(async move {
        if ready.wait_for(Option::is_some).await.is_ok() {
            progress.step(Step::Ready { listen });
        }
    });
}
