//! What the one-shot commands share: starting a short-lived client node, signals, and the
//! JSON shapes of reports.

use super::{ClientArgs, Failure, args};
use anyhow::anyhow;
use serde::Serialize;
use std::net::SocketAddr;
use tokengo_core::{LookupStats, Stats};
use tokengo_tokio::Dht;
use tokio::time::Instant;

/// Resolves the bootstrap targets of `client` (Mainline's routers when none are given on
/// Mainline) to the families of its `--listen` (both without one). Targets that resolve to
/// nothing are bad input.
pub(crate) async fn bootstrap_addrs(client: &ClientArgs) -> Result<Vec<SocketAddr>, Failure> {
    let targets = client.network.bootstrap_targets();
    if targets.is_empty() {
        return Err(Failure::Input(anyhow!(
            "no bootstrap node: pass --bootstrap HOST:PORT (the tokengo network has no public routers)"
        )));
    }
    let addrs = tokengo_tokio::resolve(&targets, &families(&client.listen)).await;
    if addrs.is_empty() {
        return Err(Failure::Input(anyhow!(
            "no bootstrap address resolved to the families of --listen: {}",
            targets.join(", ")
        )));
    }
    Ok(addrs)
}

/// The wildcard addresses of both families, for resolving when `--listen` was not given.
fn families(listen: &[SocketAddr]) -> Vec<SocketAddr> {
    if listen.is_empty() {
        vec![
            SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
        ]
    } else {
        listen.to_vec()
    }
}

/// What a one-shot command binds: `--listen` as given, or an ephemeral port of each family
/// among `remote` (the addresses it will talk to), IPv4 when there are none.
pub(crate) fn client_listen(listen: &[SocketAddr], remote: &[SocketAddr]) -> Vec<SocketAddr> {
    if !listen.is_empty() {
        return listen.to_vec();
    }
    let mut out = Vec::new();
    if remote.iter().any(SocketAddr::is_ipv4) || remote.is_empty() {
        out.push(SocketAddr::from(([0, 0, 0, 0], 0)));
    }
    if remote.iter().any(SocketAddr::is_ipv6) {
        out.push(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)));
    }
    out
}

/// Starts a node for a one-shot command, not yet bootstrapped; returns it with the resolved
/// bootstrap addresses.
pub(crate) async fn bind_client(
    client: &ClientArgs,
    read_only: bool,
) -> Result<(Dht, Vec<SocketAddr>), Failure> {
    let addrs = bootstrap_addrs(client).await?;
    let config = args::node_config(client.network.network, read_only);
    let dht = Dht::bind_all(&client_listen(&client.listen, &addrs), config)
        .await
        .map_err(|e| Failure::Input(e.into()))?;
    Ok((dht, addrs))
}

/// Starts a node for a one-shot command and bootstraps it (until `deadline` at most).
pub(crate) async fn start_client(
    client: &ClientArgs,
    read_only: bool,
    deadline: Instant,
) -> Result<Dht, Failure> {
    let (dht, addrs) = bind_client(client, read_only).await?;
    let table_size = match tokio::time::timeout_at(deadline, dht.bootstrap_addrs(addrs)).await {
        Ok(result) => result.map_err(|e| Failure::Runtime(e.into()))?,
        Err(_) => 0,
    };
    if table_size == 0 {
        tracing::warn!("no bootstrap node answered");
    }
    Ok(dht)
}

/// Datagrams a node has sent (queries, responses and errors).
pub(crate) fn datagrams_sent(stats: &Stats) -> u64 {
    let q = &stats.queries_out;
    q.ping
        + q.find_node
        + q.get_peers
        + q.announce_peer
        + q.get
        + q.put
        + q.sample_infohashes
        + q.other
        + stats.responses_out
        + stats.errors_out
}

/// Lookup stats in JSON, durations in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct StatsJson {
    pub(crate) queried: u32,
    pub(crate) answered: u32,
    pub(crate) timed_out: u32,
    pub(crate) errors: u32,
    pub(crate) peers: u32,
    pub(crate) time_to_first_peer_ms: Option<f64>,
    pub(crate) duration_ms: f64,
}

impl From<LookupStats> for StatsJson {
    fn from(s: LookupStats) -> Self {
        StatsJson {
            queried: s.queried,
            answered: s.answered,
            timed_out: s.timed_out,
            errors: s.errors,
            peers: s.peers,
            time_to_first_peer_ms: s.time_to_first_peer.map(|d| d.as_secs_f64() * 1e3),
            duration_ms: s.duration.as_secs_f64() * 1e3,
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment this is created (so a signal that arrives
/// before anyone waits is not lost and does not kill the process).
pub(crate) struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers.
    pub(crate) fn install() -> anyhow::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for SIGINT or SIGTERM.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
