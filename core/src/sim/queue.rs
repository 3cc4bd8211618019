//! The simulation's agenda: datagram deliveries and node timers, ordered by virtual time and
//! then by the order in which they were scheduled, so that ties resolve the same way every run.

use std::cmp::Reverse;
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
    /// A wake-up of a node, for the deadline scheduled as `seq` (see [`Agenda::reserve`]).
    Timer { node: usize, seq: u64 },
}

/// What the heap orders: small and `Copy`, so that sifting moves 24 bytes, not a datagram.
/// `seq` is unique, so the order is total and `slot` never decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    at_nanos: u64,
    seq: u64,
    slot: u32,
}

/// A min-queue of due items keyed by (virtual nanoseconds, sequence number). The items live in
/// a slab whose freed places are reused; the heap holds only their keys.
#[derive(Debug, Default)]
pub(crate) struct Agenda {
    heap: BinaryHeap<Reverse<Key>>,
    slab: Vec<Option<Due>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl Agenda {
    pub(crate) fn push(&mut self, at_nanos: u64, due: Due) {
        let seq = self.reserve();
        self.push_reserved(at_nanos, seq, due);
    }

    /// Takes the next sequence number without queueing anything: an item pushed later with
    /// it ([`Agenda::push_reserved`]) sorts among equal times as if it had been pushed now.
    pub(crate) fn reserve(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Queues `due` under a sequence number from [`Agenda::reserve`], used at most once.
    pub(crate) fn push_reserved(&mut self, at_nanos: u64, seq: u64, due: Due) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(due);
                slot
            }
            None => {
                self.slab.push(Some(due));
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 items in flight")
            }
        };
        self.heap.push(Reverse(Key {
            at_nanos,
            seq,
            slot,
        }));
    }

    /// The time of the earliest item.
    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(key)| key.at_nanos)
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, Due)> {
        let Reverse(key) = self.heap.pop()?;
        let due = self.slab[key.slot as usize]
            .take()
            .expect("every key has its item");
        self.free.push(key.slot);
        Some((key.at_nanos, due))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_number_sorts_where_it_was_taken() {
        let mut agenda = Agenda::default();
        let early = agenda.reserve();
        agenda.push(7, Due::Timer { node: 1, seq: 0 });
        agenda.push_reserved(7, early, Due::Timer { node: 0, seq: 0 });
        let order: Vec<usize> = std::iter::from_fn(|| agenda.pop())
            .map(|(_, due)| match due {
                Due::Timer { node, .. } => node,
                Due::Delivery { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![0, 1]);
    }

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut agenda = Agenda::default();
        for (at, node) in [(5, 0), (1, 1), (5, 2), (0, 3), (1, 4)] {
            agenda.push(at, Due::Timer { node, seq: 0 });
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
