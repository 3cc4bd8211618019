//! A get_peers lookup as its caller sees it: peers as they arrive, then a final report.

use crate::error::Error;
use std::net::SocketAddr;
use tokengo_core::LookupStats;

/// What the node's loop tells a get_peers caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupUpdate {
    /// A distinct peer, as soon as it was found.
    Peer(SocketAddr),
    /// The lookup finished, with its counts and timings.
    Done(LookupStats),
    /// The node had too many commands in flight to start the lookup.
    Refused {
        /// Most commands that may wait for the node at once.
        limit: usize,
    },
}

/// The final report of a get_peers lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLookupReport {
    /// Every distinct peer found, in the order found.
    pub peers: Vec<SocketAddr>,
    /// The lookup's counts and timings.
    pub stats: LookupStats,
}

/// What a get_peers caller has heard of its lookup so far. An adapter's `PeerLookup` records
/// every update its channel delivers here.
#[derive(Debug, Default)]
pub struct LookupProgress {
    peers: Vec<SocketAddr>,
    done: Option<LookupStats>,
    refused: Option<usize>,
}

impl LookupProgress {
    /// Whether the lookup has ended (finished or refused): no update follows.
    pub fn is_over(&self) -> bool {
        self.done.is_some() || self.refused.is_some()
    }

    /// Takes in `update`; returns the peer it brings, if any.
    pub fn record(&mut self, update: LookupUpdate) -> Option<SocketAddr> {
        match update {
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

    /// The lookup's stats once it has finished (`None` while it runs).
    pub fn stats(&self) -> Option<LookupStats> {
        self.done
    }

    /// The peers found so far.
    pub fn peers(&self) -> &[SocketAddr] {
        &self.peers
    }

    /// The report, once no more updates come: [`Error::Busy`] when the node refused the
    /// lookup, [`Error::Stopped`] when it stopped before the lookup finished.
    pub fn into_report(self) -> Result<PeerLookupReport, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn reports_the_recorded_peers_once_done() {
        let mut progress = LookupProgress::default();
        assert_eq!(progress.record(LookupUpdate::Peer(peer(1))), Some(peer(1)));
        assert_eq!(progress.record(LookupUpdate::Peer(peer(2))), Some(peer(2)));
        assert!(!progress.is_over());
        let stats = LookupStats {
            peers: 2,
            ..LookupStats::default()
        };
        assert_eq!(progress.record(LookupUpdate::Done(stats)), None);
        assert!(progress.is_over());
        assert_eq!(progress.stats(), Some(stats));
        let report = progress.into_report().expect("a finished lookup");
        assert_eq!(report.peers, vec![peer(1), peer(2)]);
        assert_eq!(report.stats, stats);
    }

    #[test]
    fn a_refused_lookup_is_busy_and_an_unfinished_one_stopped() {
        let mut refused = LookupProgress::default();
        refused.record(LookupUpdate::Refused { limit: 3 });
        assert!(refused.is_over());
        assert!(matches!(
            refused.into_report(),
            Err(Error::Busy { limit: 3 })
        ));

        let mut cut_off = LookupProgress::default();
        cut_off.record(LookupUpdate::Peer(peer(1)));
        assert!(!cut_off.is_over());
        assert!(matches!(cut_off.into_report(), Err(Error::Stopped)));
    }
}
