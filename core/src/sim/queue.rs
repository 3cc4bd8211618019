//! The simulation's agenda: datagram deliveries and node timers, ordered by virtual time and
//! then by the order in which they were scheduled, so that ties resolve the same way every run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;

/// Something due at a virtual time.
#[derive(Debug)]
pub(crate) enum Due {
    /// A datagram arrives at `to`.
    Delivery {
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
    },
    /// A node's deadline; stale unless `generation` is still the node's current one.
    Timer { node: usize, generation: u64 },
}

#[derive(Debug)]
struct Item {
    at_nanos: u64,
    seq: u64,
    due: Due,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        (self.at_nanos, self.seq) == (other.at_nanos, other.seq)
    }
}

impl Eq for Item {}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    /// Reversed, so that the max-heap pops the earliest item first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_nanos, other.seq).cmp(&(self.at_nanos, self.seq))
    }
}

/// A min-queue of due items keyed by (virtual nanoseconds, sequence number).
#[derive(Debug, Default)]
pub(crate) struct Agenda {
    heap: BinaryHeap<Item>,
    next_seq: u64,
}

impl Agenda {
    pub(crate) fn push(&mut self, at_nanos: u64, due: Due) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Item { at_nanos, seq, due });
    }

    /// The time of the earliest item.
    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|item| item.at_nanos)
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, Due)> {
        self.heap.pop().map(|item| (item.at_nanos, item.due))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut agenda = Agenda::default();
        for (at, node) in [(5, 0), (1, 1), (5, 2), (0, 3), (1, 4)] {
            agenda.push(
                at,
                Due::Timer {
                    node,
                    generation: 0,
                },
            );
        }
        let order: Vec<(u64, usize)> = std::iter::from_fn(|| agenda.pop())
            .map(|(at, due)| match due {
                Due::Timer { node, .. } => (at, node),
                Due::Delivery { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![(0, 3), (1, 1), (1, 4), (5, 0), (5, 2)]);
    }
}
