//! Joining the private network from the bootstrap sources, and looking relays up.

use crate::DiscoveryError;
use crate::bootstrap::{self, Batch, Sources};
use crate::progress::{Progress, Step};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
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
            match answering(dht, &batch.addrs).await {
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
/// ([`answer_grace`]) passed, or 0 when none answered before its ping timed out. Each answer
/// puts its node in the routing table.
async fn answering(dht: &Dht, addrs: &[SocketAddr]) -> Result<usize, tokengo_tokio::Error> {
    let start = tokio::time::Instant::now();
    let mut pings: FuturesUnordered<_> = addrs.iter().map(|&a| dht.ping(a)).collect();
    let mut answered = 0;
    let mut end = None;
    loop {
        let next = match end {
            Some(end) => match tokio::time::timeout_at(end, pings.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => pings.next().await,
        };
        let Some(pong) = next else { break };
        if pong?.is_some() {
            answered += 1;
            end.get_or_insert_with(|| start + answer_grace(start.elapsed()));
        }
    }
    Ok(answered)
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
