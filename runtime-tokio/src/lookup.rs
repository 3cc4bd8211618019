//! A get_peers lookup in progress: a stream of peers, then a final report.

use std::net::SocketAddr;
use tokengo_core::LookupStats;
use tokengo_runtime_support::{Error, LookupProgress, LookupUpdate, PeerLookupReport};
use tokio::sync::mpsc;

/// A running get_peers lookup. Read peers with [`PeerLookup::next_peer`] as they are found,
/// then [`PeerLookup::finish`] for the report. Dropping it lets the lookup finish unobserved.
#[derive(Debug)]
pub struct PeerLookup {
    updates: mpsc::UnboundedReceiver<LookupUpdate>,
    progress: LookupProgress,
}

impl PeerLookup {
    pub(crate) fn new(updates: mpsc::UnboundedReceiver<LookupUpdate>) -> Self {
        PeerLookup {
            updates,
            progress: LookupProgress::default(),
        }
    }

    /// The next peer found, or `None` once the lookup has finished (or the node stopped).
    pub async fn next_peer(&mut self) -> Option<SocketAddr> {
        if self.progress.is_over() {
            return None;
        }
        let update = self.updates.recv().await?;
        self.progress.record(update)
    }

    /// The lookup's stats once it has finished (`None` while it runs).
    pub fn stats(&self) -> Option<LookupStats> {
        self.progress.stats()
    }

    /// The peers found so far.
    pub fn peers(&self) -> &[SocketAddr] {
        self.progress.peers()
    }

    /// Waits for the lookup to finish and returns every peer it found with its stats.
    pub async fn finish(mut self) -> Result<PeerLookupReport, Error> {
        while self.next_peer().await.is_some() {}
        self.progress.into_report()
    }
}
