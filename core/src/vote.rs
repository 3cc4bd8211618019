//! Our external address by vote: the `ip` field (BEP 42) of answers from several distinct
//! responders, so that one responder, lying or confused, cannot set it.
//!
//! Bound: the latest [`VOTE_WINDOW`] votes, one per voter.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Voters remembered; an older vote is forgotten when a new voter arrives.
pub const VOTE_WINDOW: usize = 16;
/// Distinct voters that must agree before an address is taken.
pub const MIN_VOTES: usize = 3;

/// Who voted: an IP address, or for loopback (local networks share one IP) an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voter {
    Ip(Ipv4Addr),
    Local(SocketAddrV4),
}

/// The latest votes.
#[derive(Debug, Clone, Default)]
pub struct AddressVotes {
    votes: VecDeque<(Voter, SocketAddrV4)>,
}

impl AddressVotes {
    /// Records that `voter` saw us at `seen`. Returns the address elected now, if any: the one
    /// most voted for, when at least [`MIN_VOTES`] voters back it and no other has as many.
    pub fn vote(&mut self, voter: SocketAddrV4, seen: SocketAddrV4) -> Option<SocketAddrV4> {
        let voter = if voter.ip().is_loopback() {
            Voter::Local(voter)
        } else {
            Voter::Ip(*voter.ip())
        };
        self.votes.retain(|(v, _)| *v != voter);
        if self.votes.len() >= VOTE_WINDOW {
            self.votes.pop_front();
        }
        self.votes.push_back((voter, seen));
        let tally = |addr: SocketAddrV4| self.votes.iter().filter(|(_, s)| *s == addr).count();
        let backing = tally(seen);
        let contested = self
            .votes
            .iter()
            .any(|(_, other)| *other != seen && tally(*other) >= backing);
        (backing >= MIN_VOTES && !contested).then_some(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, last), port)
    }

    #[test]
    fn a_repeating_voter_counts_once() {
        let mut votes = AddressVotes::default();
        let liar = addr(9, 6881);
        for port in 1..40 {
            assert_eq!(votes.vote(liar, addr(66, 6881)), None, "vote {port}");
            assert_eq!(votes.vote(addr(9, port), addr(66, 6881)), None);
        }
    }

    #[test]
    fn agreeing_voters_elect_and_a_tie_elects_nobody() {
        let mut votes = AddressVotes::default();
        let (us, lie) = (addr(1, 6881), addr(66, 6881));
        assert_eq!(votes.vote(addr(10, 1), us), None);
        assert_eq!(votes.vote(addr(11, 1), us), None);
        assert_eq!(votes.vote(addr(12, 1), us), Some(us));
        for voter in 20..23 {
            votes.vote(addr(voter, 1), lie);
        }
        assert_eq!(votes.vote(addr(13, 1), us), Some(us));
    }

    #[test]
    fn the_window_is_bounded() {
        let mut votes = AddressVotes::default();
        for voter in 0..200 {
            votes.vote(addr(voter, 1), addr(1, voter.into()));
        }
        assert_eq!(votes.votes.len(), VOTE_WINDOW);
    }
}
