//! The node behind a command, on the runtime the user chose (`--runtime tokio|mio`).

use clap::ValueEnum;
use std::net::SocketAddr;
use tokengo_core::{Config, Id, NodeInfo, Stats};

/// Which adapter runs the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeName {
    /// The tokio adapter (an async task).
    Tokio,
    /// The mio adapter (a thread with its own poll loop).
    Mio,
}

/// A running node on either adapter, with the async surface the commands need. The mio
/// adapter's blocking calls run on tokio's blocking pool.
#[derive(Debug, Clone)]
pub enum RunningNode {
    Tokio(tokengo_tokio::Dht),
    Mio(tokengo_mio::Dht),
}

/// The final state of a stopped node.
#[derive(Debug, Clone)]
pub struct Stopped {
    pub id: Id,
    pub contacts: Vec<NodeInfo>,
    pub stats: Stats,
}

async fn blocking<T: Send + 'static>(
    dht: &tokengo_mio::Dht,
    call: impl FnOnce(tokengo_mio::Dht) -> Result<T, tokengo_mio::Error> + Send + 'static,
) -> anyhow::Result<T> {
    let dht = dht.clone();
    Ok(tokio::task::spawn_blocking(move || call(dht)).await??)
}

impl RunningNode {
    /// Binds `listen` (one address per family) and starts a node on `runtime`.
    pub async fn start(
        runtime: RuntimeName,
        listen: Vec<SocketAddr>,
        config: Config,
    ) -> anyhow::Result<RunningNode> {
        Ok(match runtime {
            RuntimeName::Tokio => {
                RunningNode::Tokio(tokengo_tokio::Dht::bind_all(&listen, config).await?)
            }
            RuntimeName::Mio => {
                let bind = move || tokengo_mio::Dht::bind_all(&listen, config);
                RunningNode::Mio(tokio::task::spawn_blocking(bind).await??)
            }
        })
    }

    /// The addresses of the node's sockets, one per family.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        match self {
            RunningNode::Tokio(dht) => dht.local_addrs().to_vec(),
            RunningNode::Mio(dht) => dht.local_addrs().to_vec(),
        }
    }

    pub fn id(&self) -> Id {
        match self {
            RunningNode::Tokio(dht) => dht.id(),
            RunningNode::Mio(dht) => dht.id(),
        }
    }

    /// Bootstraps through `addrs`; returns the routing table's size.
    pub async fn bootstrap(&self, addrs: Vec<SocketAddr>) -> anyhow::Result<usize> {
        match self {
            RunningNode::Tokio(dht) => Ok(dht.bootstrap_addrs(addrs).await?),
            RunningNode::Mio(dht) => blocking(dht, move |dht| dht.bootstrap_addrs(addrs)).await,
        }
    }

    pub async fn add_contacts(&self, contacts: Vec<NodeInfo>) -> anyhow::Result<()> {
        match self {
            RunningNode::Tokio(dht) => Ok(dht.add_contacts(contacts).await?),
            RunningNode::Mio(dht) => blocking(dht, move |dht| dht.add_contacts(contacts)).await,
        }
    }

    pub async fn contacts(&self) -> anyhow::Result<Vec<NodeInfo>> {
        match self {
            RunningNode::Tokio(dht) => Ok(dht.contacts().await?),
            RunningNode::Mio(dht) => blocking(dht, |dht| dht.contacts()).await,
        }
    }

    /// Stops the node and returns its final state.
    pub async fn shutdown(&self) -> anyhow::Result<Stopped> {
        match self {
            RunningNode::Tokio(dht) => {
                let s = dht.shutdown().await?;
                Ok(Stopped {
                    id: s.id,
                    contacts: s.contacts,
                    stats: s.stats,
                })
            }
            RunningNode::Mio(dht) => {
                let s = blocking(dht, |dht| dht.shutdown()).await?;
                Ok(Stopped {
                    id: s.id,
                    contacts: s.contacts,
                    stats: s.stats,
                })
            }
        }
    }
}
