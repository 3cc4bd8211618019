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

/// Joins `dht` to the network from the batches of `sources` as they arrive. Each batch starts
/// a bootstrap in the background and is pinged at once: the wait ends when one of its nodes
/// answered (and the others had as long again, [`answer_grace`]), since a relay lookup needs
/// only one node that answers, and its answers fill the routing table while the bootstrap (our
/// own id, then the far buckets) goes on. Gives up waiting after `timeout` (the node keeps
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
            bootstrap_in_background(dht, batch.addrs.clone());
            match answering(dht, &batch.addrs, timeout).await {
                Ok(0) => tracing::warn!(source = %batch.source, "no bootstrap peer answered"),
                Ok(answered) => {
                    report.table_size = answered;
                    return true;
                }
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

fn bootstrap_in_background(dht: &Dht, addrs: Vec<SocketAddr>) {
    let dht = dht.clone();
    tokio::spawn(async move {
        match dht.bootstrap_addrs(addrs).await {
            Ok(table_size) => tracing::debug!(table_size, "bootstrap finished"),
            Err(e) => tracing::debug!("bootstrap ended: {e}"),
        }
    });
}

/// How long the other bootstrap nodes may take after the first answered in `first`: as long
/// again, at least 20 ms.
#[must_use]
pub fn answer_grace(first: Duration) -> Duration {
    first.max(Duration::from_millis(20))
}

/// Pings every address at once; how many answered by the time the first answer's grace
/// ([`answer_grace`]) passed (at most `timeout`), or 0 when none answered. Each answer puts its
/// node in the routing table. An error only when the node itself has stopped.
async fn answering(
    dht: &Dht,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<usize, tokengo_tokio::Error> {
    let round = |first: Option<Duration>| {
        first.map_or(timeout, |first| (first + answer_grace(first)).min(timeout))
    };
    let pongs = crate::probe_round(addrs, round, |addr| async move {
        match dht.ping(addr).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Unanswered::Silent),
            Err(e) => Err(Unanswered::Stopped(e)),
        }
    })
    .await;
    let answered = pongs.iter().filter(|p| p.latency.is_some()).count();
    if answered == 0 {
        // Tell a silent network from a node that has stopped.
        dht.stats().await?;
    }
    Ok(answered)
}

/// Why a pinged bootstrap node counts as not answering.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    #[error("no answer")]
    Silent,
    #[error(transparent)]
    Stopped(tokengo_tokio::Error),
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
