//! `tokengo dht get-peers`: peers on stdout as they arrive, a summary on stderr. The lookup
//! starts at once from the bootstrap nodes (no bootstrap of its own first: a one-shot lookup
//! needs only the nodes near its key, and asking for them fills the table on the way).

use super::report::{self, StatsJson};
use super::{Failure, GetPeersArgs};
use serde::Serialize;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokio::time::Instant;

#[derive(Serialize)]
struct GetPeersJson {
    info_hash: String,
    peers: Vec<SocketAddr>,
    /// `false` when the timeout stopped the lookup.
    complete: bool,
    /// The lookup's own stats (absent when it did not finish).
    stats: Option<StatsJson>,
    /// From the command's start to the first peer.
    first_peer_ms: Option<f64>,
    /// From the command's start to the end of the lookup.
    elapsed_ms: f64,
    /// Nodes in the routing table when the lookup ended.
    table_size: usize,
    datagrams_sent: u64,
}

pub(crate) async fn run(args: GetPeersArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let deadline = started + args.client.timeout;
    let (dht, bootstrap) = report::bind_client(&args.client, true).await?;
    let mut lookup = dht
        .get_peers_via(args.info_hash, bootstrap)
        .await
        .map_err(anyhow::Error::from)?;
    let mut first_peer = None;
    let mut complete = false;
    loop {
        tokio::select! {
            peer = lookup.next_peer() => match peer {
                Some(peer) => {
                    first_peer.get_or_insert_with(|| started.elapsed());
                    if !args.json {
                        crate::say!("{peer}");
                    }
                }
                None => {
                    complete = lookup.stats().is_some();
                    break;
                }
            },
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    let elapsed = started.elapsed();
    let peers = lookup.peers().to_vec();
    let stats = lookup.stats();
    let snapshot = dht.shutdown().await.map_err(anyhow::Error::from)?;
    match stats {
        Some(s) => eprintln!(
            "{} peers for {}: {} of {} queries answered, {} timed out, {:.0} ms",
            peers.len(),
            args.info_hash,
            s.answered,
            s.queried,
            s.timed_out,
            s.duration.as_secs_f64() * 1e3
        ),
        None => eprintln!(
            "{} peers for {}: timed out after {} s",
            peers.len(),
            args.info_hash,
            args.client.timeout.as_secs()
        ),
    }
    if args.json {
        let json = GetPeersJson {
            info_hash: args.info_hash.to_string(),
            peers: peers.clone(),
            complete,
            stats: stats.map(StatsJson::from),
            first_peer_ms: first_peer.map(|d| d.as_secs_f64() * 1e3),
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
            table_size: snapshot.contacts.len(),
            datagrams_sent: report::datagrams_sent(&snapshot.stats),
        };
        crate::say!(
            "{}",
            serde_json::to_string(&json).map_err(anyhow::Error::from)?
        );
    }
    Ok(if peers.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
