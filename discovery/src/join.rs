//! Joining the private network from the bootstrap sources, and looking relays up.

use crate::DiscoveryError;
use crate::bootstrap::{self, Batch, Sources};
use crate::progress::{Progress, Step};
use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::Config;
use tokengo_tokio::Dht;
use tokio::sync::mpsc;

/// How long joining waits for a bootstrap source before going on (the node keeps trying).
pub const JOIN_TIMEOUT: Duration = bootstrap::OVERALL_TIMEOUT;

/// Starts a read-only node (BEP 43: never stored in anyone's table) on `listen` with `config`
/// (its network and seed; `read_only` is forced on), and joins the network from `sources`,
/// waiting at most [`JOIN_TIMEOUT`]. How clients, exits and devnet enter the DHT.
pub async fn join_read_only(
    listen: SocketAddr,
    config: Config,
    sources: Sources,
    progress: &dyn Progress,
) -> Result<Dht, DiscoveryError> {
    let dht = Dht::bind(
        listen,
        Config {
            read_only: true,
            ..config
        },
    )
    .await?;
    join(
        &dht,
        bootstrap::resolve(sources, None),
        JOIN_TIMEOUT,
        progress,
    )
    .await;
    Ok(dht)
}

/// How the join went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinReport {
    /// Routing-table size after the first bootstrap that reached somebody.
    pub table_size: usize,
    /// Bootstrap addresses tried so far.
    pub tried: Vec<SocketAddr>,
}

/// Bootstraps `dht` from the batches of `sources` as they arrive: the first batch that reaches
/// somebody ends the wait, and later batches are fed to the node in the background so a slow
/// source never sits on the critical path. Gives up waiting after `timeout` (the node keeps
/// retrying by itself).
pub async fn join(
    dht: &Dht,
    mut sources: mpsc::Receiver<Batch>,
    timeout: Duration,
    progress: &dyn Progress,
) -> JoinReport {
    progress.step(Step::ConnectingDht);
    let mut report = JoinReport {
        table_size: 0,
        tried: Vec::new(),
    };
    let waited = tokio::time::timeout(timeout, async {
        while let Some(batch) = sources.recv().await {
            if batch.addrs.is_empty() {
                continue;
            }
            tracing::debug!(source = %batch.source, peers = batch.addrs.len(), "bootstrapping");
            report.tried.extend(&batch.addrs);
            match dht.bootstrap_addrs(batch.addrs).await {
                Ok(size) if size > 0 => {
                    report.table_size = size;
                    return true;
                }
                Ok(_) => tracing::warn!(source = %batch.source, "no bootstrap peer answered"),
                Err(e) => {
                    tracing::warn!("DHT node stopped: {e}");
                    return false;
                }
            }
        }
        false
    })
    .await;
    if !matches!(waited, Ok(true)) {
        tracing::warn!("could not reach any bootstrap peer yet; the node keeps trying");
    }
    // Whatever arrives later still helps the node: hand it over without waiting.
    let background = dht.clone();
    tokio::spawn(async move {
        while let Some(batch) = sources.recv().await {
            if !batch.addrs.is_empty() && background.bootstrap_addrs(batch.addrs).await.is_err() {
                return;
            }
        }
    });
    progress.step(Step::ConnectedBootstrap {
        nodes: report.table_size,
    });
    report
}

/// Looks the relay key up and returns the relays found (their QUIC addresses), in the order
/// they arrived. Stops at `timeout` with what it has.
pub async fn find_relays(dht: &Dht, timeout: Duration) -> Vec<SocketAddr> {
    let Ok(mut lookup) = dht.get_peers(crate::relay_key()).await else {
        return Vec::new();
    };
    let _ = tokio::time::timeout(timeout, async {
        while lookup.next_peer().await.is_some() {}
    })
    .await;
    lookup.peers().to_vec()
}
