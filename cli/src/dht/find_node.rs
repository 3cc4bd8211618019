//! `tokengo dht find-node`: the closest nodes to an id.

use super::report::{self, StatsJson};
use super::{Failure, FindNodeArgs};
use serde::Serialize;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokengo_core::Id;
use tokio::time::Instant;

#[derive(Serialize)]
struct NodeJson {
    id: String,
    addr: SocketAddr,
}

#[derive(Serialize)]
struct FindNodeJson {
    target: String,
    nodes: Vec<NodeJson>,
    stats: StatsJson,
}

pub(crate) async fn run(args: FindNodeArgs) -> Result<ExitCode, Failure> {
    let deadline = Instant::now() + args.client.timeout;
    let dht = report::start_client(&args.client, true, deadline).await?;
    // Without a target, look for a random id: the client's own id is random.
    let target: Id = args.target.unwrap_or_else(|| dht.id());
    let found = tokio::time::timeout_at(deadline, dht.find_node(target)).await;
    let _ = dht.shutdown().await;
    let report = match found {
        Ok(report) => report.map_err(anyhow::Error::from)?,
        Err(_) => {
            eprintln!(
                "find_node {target}: timed out after {} s",
                args.client.timeout.as_secs()
            );
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        let json = FindNodeJson {
            target: target.to_string(),
            nodes: report
                .closest
                .iter()
                .map(|n| NodeJson {
                    id: n.id.to_string(),
                    addr: n.addr,
                })
                .collect(),
            stats: report.stats.into(),
        };
        crate::say!(
            "{}",
            serde_json::to_string(&json).map_err(anyhow::Error::from)?
        );
    } else {
        for node in &report.closest {
            crate::say!("{} {}", node.id, node.addr);
        }
    }
    eprintln!(
        "{} nodes close to {target}: {} of {} queries answered",
        report.closest.len(),
        report.stats.answered,
        report.stats.queried
    );
    Ok(if report.closest.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
