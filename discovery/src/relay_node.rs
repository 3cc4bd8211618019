//! A relay's DHT node: a server node in the `tokengo` network with a persistent id, which
//! announces the relay's QUIC port under the relay key and keeps the announce fresh.

use crate::bootstrap::{self, Sources};
use crate::state::{self, NodeState};
use crate::{DiscoveryError, NETWORK_NAME, relay_key};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokengo_core::Config;
use tokengo_tokio::Dht;

/// How often a relay re-announces itself (stored announces live 30 minutes).
pub const REANNOUNCE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How often the node's state is saved while it runs.
const SAVE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// What a relay's DHT node needs.
#[derive(Debug, Clone)]
pub struct RelayDhtConfig {
    /// UDP address of the DHT node (default port 4003).
    pub listen: SocketAddr,
    /// The QUIC port announced to clients and exits.
    pub quic_port: u16,
    /// Keeps the node id and contacts between runs.
    pub state_file: Option<PathBuf>,
    /// Where to find the network; a seed relay has none and starts alone.
    pub sources: Sources,
    /// The node's settings (its seed, and the private network); made a server node here.
    pub node: Config,
}

/// A running relay DHT node.
#[derive(Debug, Clone)]
pub struct RelayDht {
    dht: Dht,
    state_file: Option<PathBuf>,
}

impl RelayDht {
    /// Binds the node, restores its state, announces the relay at once (a seed relay is
    /// discoverable on its own), then joins the network in the background.
    pub async fn start(config: RelayDhtConfig) -> Result<RelayDht, DiscoveryError> {
        let mut node = Config {
            read_only: false,
            ..config.node.clone()
        };
        node.announce_interval = REANNOUNCE_INTERVAL;
        let restored = match &config.state_file {
            Some(path) => match state::load(path) {
                Ok(state) => state.filter(|s| s.network == NETWORK_NAME),
                Err(e) => {
                    tracing::warn!("{e}; starting with a new identity");
                    None
                }
            },
            None => None,
        };
        node.id = restored.as_ref().map(|s| s.id);
        let dht = Dht::bind(config.listen, node).await?;
        tracing::info!(addr = %dht.local_addr(), id = %dht.id(), "relay DHT node listening");
        if let Some(state) = restored {
            dht.add_contacts(state.contacts).await?;
        }
        let relay = RelayDht {
            dht,
            state_file: config.state_file.clone(),
        };
        let key = relay_key();
        let first = relay
            .dht
            .announce(key, Some(config.quic_port), true)
            .await?;
        tracing::debug!(accepted = first.accepted, "relay announced");

        let joining = relay.clone();
        let sources = config.sources;
        let quic_port = config.quic_port;
        tokio::spawn(async move {
            let mut batches = bootstrap::resolve(sources, None);
            while let Some(batch) = batches.recv().await {
                if batch.addrs.is_empty() {
                    continue;
                }
                match joining.dht.bootstrap_addrs(batch.addrs).await {
                    Ok(size) => {
                        tracing::info!(source = %batch.source, table = size, "relay DHT bootstrapped");
                        // Announce again now that there are nodes to store it.
                        if size > 0
                            && joining
                                .dht
                                .announce(key, Some(quic_port), true)
                                .await
                                .is_err()
                        {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        let saving = relay.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAVE_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                if saving.save().await.is_err() {
                    return;
                }
            }
        });
        Ok(relay)
    }

    /// The node's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.dht.local_addr()
    }

    /// The node handle.
    pub fn dht(&self) -> &Dht {
        &self.dht
    }

    async fn save(&self) -> Result<(), DiscoveryError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let contacts = self.dht.contacts().await?;
        let state = NodeState {
            network: NETWORK_NAME.into(),
            id: self.dht.id(),
            contacts,
        };
        if let Err(e) = state::save(path, &state) {
            tracing::warn!("{e}");
        }
        Ok(())
    }

    /// Saves the state and stops the node.
    pub async fn shutdown(&self) -> Result<(), DiscoveryError> {
        self.save().await?;
        self.dht.shutdown().await?;
        Ok(())
    }
}
