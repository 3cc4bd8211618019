//! BEP 42 on Mainline: our external address decided by a vote of the `ip` fields of responses
//! from distinct responders, and a restart under a secure id derived from it when the id we
//! have is not one.
//!
//! Bounds: at most [`MAX_CANDIDATES`] addresses under vote, each counting at most
//! [`VOTES_NEEDED`] voters; a decision clears the tally.

use super::Node;
use crate::config::Network;
use crate::routing::RoutingTable;
use crate::secure_id::{is_exempt, is_secure, secure_id};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

/// Distinct responders (by IP) that must report the same address.
pub(crate) const VOTES_NEEDED: usize = 3;
/// Addresses under vote at once; a new one past this replaces the least voted.
const MAX_CANDIDATES: usize = 8;

/// The tally.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExternalVotes {
    votes: BTreeMap<Ipv4Addr, BTreeSet<Ipv4Addr>>,
}

impl ExternalVotes {
    /// `voter` says we are `seen`; returns the address once enough distinct voters agree.
    pub(crate) fn vote(&mut self, voter: Ipv4Addr, seen: Ipv4Addr) -> Option<Ipv4Addr> {
        if !self.votes.contains_key(&seen) && self.votes.len() >= MAX_CANDIDATES {
            let least = self
                .votes
                .iter()
                .min_by_key(|(_, voters)| voters.len())
                .map(|(ip, _)| *ip)?;
            self.votes.remove(&least);
        }
        let voters = self.votes.entry(seen).or_default();
        voters.insert(voter);
        if voters.len() >= VOTES_NEEDED {
            self.votes.clear();
            return Some(seen);
        }
        None
    }
}

impl Node {
    /// Counts `voter`'s report of our address and, on Mainline with secure ids on, moves to a
    /// secure id once the vote decides on an address our id is not secure for.
    pub(super) fn vote_external(&mut self, now: Instant, voter: Ipv4Addr, seen: Ipv4Addr) {
        if self.config.network != Network::Mainline || !self.config.secure_ids {
            return;
        }
        let Some(ip) = self.votes.vote(voter, seen) else {
            return;
        };
        if is_exempt(ip) || is_secure(&self.id, ip) {
            return;
        }
        let id = secure_id(ip, self.rng.bytes20());
        self.restart_with_id(now, id);
    }

    /// Takes `id` as our node id: the routing table is rebuilt around it, with the old
    /// contacts as questionable ones (they must answer again to count as good).
    fn restart_with_id(&mut self, now: Instant, id: crate::id::Id) {
        let contacts = self.table.closest(&self.id, usize::MAX);
        self.id = id;
        self.table = RoutingTable::new(id, super::table_config(&self.config), now);
        for contact in contacts {
            if contact.id != id {
                self.table.on_query(contact, now);
            }
        }
        self.stats.id_changes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vote_needs_distinct_voters_and_stays_bounded() {
        let mut votes = ExternalVotes::default();
        let me = Ipv4Addr::new(8, 8, 8, 8);
        let voter = |n| Ipv4Addr::new(10, 0, 0, n);
        assert_eq!(votes.vote(voter(1), me), None);
        assert_eq!(votes.vote(voter(1), me), None, "one voter counts once");
        assert_eq!(votes.vote(voter(2), me), None);
        for n in 0..20 {
            assert_eq!(votes.vote(voter(9), Ipv4Addr::new(1, 1, 1, n)), None);
        }
        assert!(votes.votes.len() <= MAX_CANDIDATES);
        assert_eq!(votes.vote(voter(3), me), Some(me));
        assert!(votes.votes.is_empty());
    }
}
