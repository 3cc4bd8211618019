//! `tokengo dht node`: a server node until SIGINT or SIGTERM.

use super::report;
use super::runtime::RunningNode;
use super::state::{self, NodeState};
use super::{Failure, NodeArgs, args};
use anyhow::anyhow;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub(crate) async fn run(args: NodeArgs) -> Result<ExitCode, Failure> {
    let network = args.network.network;
    let saved = match &args.state {
        Some(path) => state::load(path).map_err(|e| Failure::Input(e.into()))?,
        None => None,
    };
    if let Some(saved) = &saved
        && saved.network != network.as_str()
    {
        return Err(Failure::Input(anyhow!(
            "the state file is for the {} network, not {}",
            saved.network,
            network.as_str()
        )));
    }
    let targets = args.network.bootstrap_targets();
    let addrs = tokengo_tokio::resolve(&targets, &args.listen).await;
    if addrs.is_empty() && !args.network.bootstrap.is_empty() {
        return Err(Failure::Input(anyhow!(
            "no bootstrap address resolved to the families of --listen: {}",
            targets.join(", ")
        )));
    }
    let mut config = args::node_config(network, args.read_only);
    config.id = saved.as_ref().map(|s| s.id);
    if let Some(secure_ids) = args.secure_ids {
        if network != args::NetworkName::Mainline {
            return Err(Failure::Input(anyhow!(
                "--secure-ids applies to --network mainline only: the {} network ignores ids",
                network.as_str()
            )));
        }
        config.secure_id_policy = secure_ids.policy();
    }
    let mut signals = report::StopSignals::install()?;
    let listen = args.listen.clone();
    let node = RunningNode::start(args.runtime, listen, config)
        .await
        .map_err(|e| {
            let on: Vec<String> = args.listen.iter().map(ToString::to_string).collect();
            Failure::Input(e.context(format!("cannot serve on {}", on.join(" and "))))
        })?;
    let on: Vec<String> = node.local_addrs().iter().map(ToString::to_string).collect();
    crate::say!(
        "listening on {} id {} network {}",
        on.join(" "),
        node.id(),
        network.as_str()
    );
    let _ = std::io::stdout().flush();
    let restored = saved.map(|s| s.contacts).unwrap_or_default();
    let has_contacts = !restored.is_empty();
    if has_contacts {
        tracing::info!(
            contacts = restored.len(),
            "restoring contacts as questionable"
        );
        node.add_contacts(restored).await?;
    }
    if !addrs.is_empty() || has_contacts {
        let bootstrapping = node.clone();
        tokio::spawn(async move {
            match bootstrapping.bootstrap(addrs).await {
                Ok(table_size) => tracing::info!(table_size, "bootstrap finished"),
                Err(error) => tracing::warn!(%error, "bootstrap failed"),
            }
        });
    } else {
        tracing::info!("no bootstrap node: serving as a seed node");
    }
    let mut saves = tokio::time::interval_at(
        tokio::time::Instant::now() + args.save_every,
        args.save_every,
    );
    loop {
        tokio::select! {
            () = signals.recv() => break,
            _ = saves.tick(), if args.state.is_some() => {
                if let Some(path) = &args.state {
                    let contacts = node.contacts().await?;
                    save(path, network.as_str(), node.id(), contacts);
                }
            }
        }
    }
    tracing::info!("stopping");
    let stopped = node.shutdown().await?;
    if let Some(path) = &args.state {
        save(path, network.as_str(), stopped.id, stopped.contacts);
    }
    tracing::info!(
        queries_in = stopped.stats.queries_in.ping
            + stopped.stats.queries_in.find_node
            + stopped.stats.queries_in.get_peers
            + stopped.stats.queries_in.announce_peer,
        datagrams_sent = report::datagrams_sent(&stopped.stats),
        "stopped"
    );
    Ok(ExitCode::SUCCESS)
}

fn save(path: &Path, network: &str, id: tokengo_core::Id, contacts: Vec<tokengo_core::NodeInfo>) {
    let count = contacts.len();
    match state::save(
        path,
        &NodeState {
            network: network.to_string(),
            id,
            contacts,
        },
    ) {
        Ok(()) => tracing::debug!(path = %path.display(), contacts = count, "state saved"),
        Err(error) => tracing::warn!(%error, "state not saved"),
    }
}
