//! Relays found in the DHT, as a [`RelaySource`] for the client and the exit: look the relay
//! key up, measure every relay's QUIC handshake at once, offer them fastest first. Each
//! candidate is pinned to the identity key its relay showed during the measurement.

use crate::progress::{Progress, Step};
use crate::{find_relays, probe_all};
use std::sync::Arc;
use std::time::Duration;
use tokengo_gateway::relay_source::{
    CandidatesFuture, RelayCandidate, RelaySource, RelaySourceError,
};
use tokengo_gateway::transport::Dialer;
use tokengo_tokio::Dht;

/// Relays from the DHT.
pub struct DhtRelays {
    dht: Dht,
    progress: Arc<dyn Progress>,
    /// How long one relay lookup may take.
    pub lookup_timeout: Duration,
    /// How long one handshake may take.
    pub probe_timeout: Duration,
    /// Report "fetching exit keys" after the selection (what a client does next).
    pub then_fetch_exit_keys: bool,
    /// Probe loopback and private addresses too (when the bootstrap peers are such:
    /// [`sources_are_local`](crate::candidates::sources_are_local)).
    pub allow_local: bool,
}

impl std::fmt::Debug for DhtRelays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtRelays")
            .field("node", &self.dht.local_addr())
            .finish()
    }
}

impl DhtRelays {
    /// Relays looked up through `dht`, with start-up steps reported to `progress`.
    pub fn new(dht: Dht, progress: Arc<dyn Progress>) -> Self {
        DhtRelays {
            dht,
            progress,
            lookup_timeout: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(3),
            then_fetch_exit_keys: false,
            allow_local: false,
        }
    }

    /// The DHT node behind this source.
    pub fn dht(&self) -> &Dht {
        &self.dht
    }

    async fn discover(&self) -> Result<Vec<RelayCandidate>, RelaySourceError> {
        self.progress.step(Step::DiscoveringRelays);
        let found = find_relays(&self.dht, self.lookup_timeout).await;
        let relays = crate::candidates::to_probe(&found, self.allow_local);
        if relays.len() < found.len() {
            tracing::debug!(
                found = found.len(),
                probed = relays.len(),
                "skipped relay addresses not worth probing"
            );
        }
        if relays.is_empty() {
            self.progress.step(Step::NoRelays);
            return Err(RelaySourceError::NotFound);
        }
        self.progress.step(Step::RelaysFound {
            count: relays.len(),
        });
        let dialer = Dialer::new();
        let results = probe_all(&relays, self.probe_timeout, |addr| {
            dialer.probe(addr, self.probe_timeout)
        })
        .await;
        dialer.close();
        for (i, r) in results.iter().enumerate() {
            self.progress.step(Step::RelayProbed {
                name: r.addr.to_string(),
                latency: r.latency,
                selected: i == 0 && r.latency.is_some(),
            });
        }
        match results.first().and_then(|r| r.latency) {
            Some(latency) => {
                self.progress.step(Step::RelaySelected { latency });
                if self.then_fetch_exit_keys {
                    self.progress.step(Step::FetchingExitKeys);
                }
            }
            None => {
                return Err(RelaySourceError::NoneAnswered {
                    found: relays.len(),
                });
            }
        }
        Ok(results
            .into_iter()
            .filter_map(|r| {
                Some(RelayCandidate {
                    addr: r.addr.to_string(),
                    pin: Some(r.value?),
                })
            })
            .collect())
    }
}

impl RelaySource for DhtRelays {
    fn candidates(&self) -> CandidatesFuture<'_> {
        Box::pin(self.discover())
    }
}
