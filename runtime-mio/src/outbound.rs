//! The bounded queue of datagrams the socket could not take yet.

use std::collections::VecDeque;
use std::net::SocketAddr;
use tokengo_core::Transmit;

/// Bound: datagrams waiting for the socket to become writable. When full, new datagrams are
/// dropped (and counted): the node treats them like any lost datagram.
pub(crate) const MAX_OUTBOUND: usize = 4096;

/// FIFO of datagrams waiting for the socket.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    queue: VecDeque<Transmit>,
    dropped: u64,
}

impl Outbound {
    /// Queues `transmit`; drops it when the queue is full.
    pub(crate) fn push(&mut self, transmit: Transmit) {
        if self.queue.len() < MAX_OUTBOUND {
            self.queue.push_back(transmit);
        } else {
            self.dropped += 1;
            tracing::debug!(to = %transmit.to, dropped = self.dropped, "outbound queue full");
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Offers queued datagrams to `send` in order until it reports `WouldBlock` (`false`).
    pub(crate) fn drain(&mut self, mut send: impl FnMut(&[u8], SocketAddr) -> bool) {
        while let Some(transmit) = self.queue.front() {
            if !send(&transmit.payload, transmit.to) {
                return;
            }
            self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(port: u16) -> Transmit {
        Transmit {
            to: SocketAddr::from(([127, 0, 0, 1], port)),
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn keeps_order_stops_at_would_block_and_is_bounded() {
        let mut queue = Outbound::default();
        for port in 1..=(MAX_OUTBOUND as u16 + 10) {
            queue.push(transmit(port));
        }
        assert_eq!(queue.queue.len(), MAX_OUTBOUND);
        assert_eq!(queue.dropped, 10);
        let mut sent = Vec::new();
        queue.drain(|_, to| {
            if sent.len() == 3 {
                return false;
            }
            sent.push(to.port());
            true
        });
        assert_eq!(sent, vec![1, 2, 3]);
        assert_eq!(queue.queue.front().map(|t| t.to.port()), Some(4));
        queue.drain(|_, _| true);
        assert!(queue.is_empty());
    }
}
