//! A get_peers lookup in progress: peers as they arrive, then a final report.

use crate::error::Error;
use std::net::SocketAddr;
use std::sync::mpsc;
use tokengo_core::LookupStats;

/// What the node's thread tells a [`PeerLookup`].
#[derive(Debug)]
pub(crate) enum LookupUpdate {
    Peer(SocketAddr),
    Done(LookupStats),
    /// The node had too many commands in flight to start the lookup.
    Refused {
        limit: usize,
    },
}

/// The final report of a get_peers lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLookupReport {
    /// Every distinct peer found, in the order found.
    pub peers: Vec<SocketAddr>,
    pub stats: LookupStats,
}

/// A running get_peers lookup. Iterate it (blocking) for the peers as they are found, then call
/// [`PeerLookup::finish`] for the report.
#[derive(Debug)]
pub struct PeerLookup {
    updates: mpsc::Receiver<LookupUpdate>,
    peers: Vec<SocketAddr>,
    done: Option<LookupStats>,
    refused: Option<usize>,
}

impl PeerLookup {
    pub(crate) fn new(updates: mpsc::Receiver<LookupUpdate>) -> Self {
        PeerLookup {
            updates,
            peers: Vec::new(),
            done: None,
            refused: None,
        }
    }

    /// The lookup's stats once it has finished (`None` while it runs).
    pub fn stats(&self) -> Option<LookupStats> {
        self.done
    }

    /// The peers found so far.
    pub fn peers(&self) -> &[SocketAddr] {
        &self.peers
    }

    /// Waits for the lookup to finish and returns every peer it found with its stats.
    pub fn finish(mut self) -> Result<PeerLookupReport, Error> {
        while self.next().is_some() {}
        match (self.done, self.refused) {
            (Some(stats), _) => Ok(PeerLookupReport {
                peers: self.peers,
                stats,
            }),
            (None, Some(limit)) => Err(Error::Busy { limit }),
            (None, None) => Err(Error::Stopped),
        }
    }
}

impl Iterator for PeerLookup {
    type Item = SocketAddr;

    /// Blocks for the next peer; `None` once the lookup has finished (or the node stopped).
    fn next(&mut self) -> Option<SocketAddr> {
        if self.done.is_some() || self.refused.is_some() {
            return None;
        }
        match self.updates.recv().ok()? {
            LookupUpdate::Peer(peer) => {
                self.peers.push(peer);
                Some(peer)
            }
            LookupUpdate::Done(stats) => {
                self.done = Some(stats);
                None
            }
            LookupUpdate::Refused { limit } => {
                self.refused = Some(limit);
                None
            }
        }
    }
}
