//! A get_peers lookup in progress: peers as they arrive, then a final report.

use std::net::SocketAddr;
use std::sync::mpsc;
use tokengo_core::LookupStats;
use tokengo_runtime_support::{Error, LookupProgress, LookupUpdate, PeerLookupReport};

/// A running get_peers lookup. Iterate it (blocking) for the peers as they are found, then call
/// [`PeerLookup::finish`] for the report.
#[derive(Debug)]
pub struct PeerLookup {
    updates: mpsc::Receiver<LookupUpdate>,
    progress: LookupProgress,
}

impl PeerLookup {
    pub(crate) fn new(updates: mpsc::Receiver<LookupUpdate>) -> Self {
        PeerLookup {
            updates,
            progress: LookupProgress::default(),
        }
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
    pub fn finish(mut self) -> Result<PeerLookupReport, Error> {
        while self.next().is_some() {}
        self.progress.into_report()
    }
}

impl Iterator for PeerLookup {
    type Item = SocketAddr;

    /// Blocks for the next peer; `None` once the lookup has finished (or the node stopped).
    fn next(&mut self) -> Option<SocketAddr> {
        if self.progress.is_over() {
            return None;
        }
        let update = self.updates.recv().ok()?;
        self.progress.record(update)
    }
}
