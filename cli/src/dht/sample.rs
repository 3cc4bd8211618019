//! `tokengo dht sample`: BEP 51 samples of the info hashes stored by the nodes closest to a
//! target (a random one by default): a find_node lookup, then `sample_infohashes` to each of
//! the nodes it found and to the bootstrap nodes. Prints each distinct info hash once.

use super::report;
use super::{Failure, SampleArgs};
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokengo_core::Id;
use tokio::time::Instant;

#[derive(Serialize)]
struct NodeSampleJson {
    addr: SocketAddr,
    /// How many info hashes the node stores.
    num: u64,
    /// Seconds it asks us to wait before sampling it again.
    interval_s: u64,
    samples: Vec<String>,
}

#[derive(Serialize)]
struct SampleJson {
    target: String,
    /// Nodes asked.
    asked: usize,
    /// Nodes that answered with a sample.
    nodes: Vec<NodeSampleJson>,
    /// The distinct info hashes seen.
    info_hashes: Vec<String>,
}

pub(crate) async fn run(args: SampleArgs) -> Result<ExitCode, Failure> {
    let deadline = Instant::now() + args.client.timeout;
    let bootstrap = report::bootstrap_addrs(&args.client).await?;
    let dht = report::start_client(&args.client, true, deadline).await?;
    let target: Id = args.target.unwrap_or_else(|| dht.id());
    let closest = match tokio::time::timeout_at(deadline, dht.find_node(target)).await {
        Ok(report) => report.map_err(anyhow::Error::from)?.closest,
        Err(_) => Vec::new(),
    };
    let mut addrs: Vec<SocketAddr> = closest.iter().map(|n| n.addr).collect();
    for addr in bootstrap {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    let asked = addrs.len();
    let queries = addrs.into_iter().map(|addr| {
        let dht = dht.clone();
        async move { (addr, dht.sample_infohashes(addr, target).await) }
    });
    let answers = tokio::time::timeout_at(deadline, join_all(queries.collect())).await;
    let _ = dht.shutdown().await;
    let answers = answers.unwrap_or_default();
    let mut nodes = Vec::new();
    let mut seen = BTreeSet::new();
    for (addr, answer) in answers {
        let Ok(Some(sample)) = answer else { continue };
        for id in &sample.samples {
            if seen.insert(*id) && !args.json {
                crate::say!("{id}");
            }
        }
        nodes.push(NodeSampleJson {
            addr,
            num: sample.num,
            interval_s: sample.interval.as_secs(),
            samples: sample.samples.iter().map(Id::to_string).collect(),
        });
    }
    let total: u64 = nodes.iter().map(|n| n.num).sum();
    eprintln!(
        "{} info hashes sampled from {} of {asked} nodes (which store {total} in all)",
        seen.len(),
        nodes.len()
    );
    if args.json {
        let json = SampleJson {
            target: target.to_string(),
            asked,
            nodes,
            info_hashes: seen.iter().map(Id::to_string).collect(),
        };
        crate::say!(
            "{}",
            serde_json::to_string(&json).map_err(anyhow::Error::from)?
        );
    }
    Ok(if seen.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the futures concurrently as tasks and gathers their outputs in order.
async fn join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(output) = task.await {
            out.push(output);
        }
    }
    out
}
