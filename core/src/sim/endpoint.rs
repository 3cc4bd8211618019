//! What the simulator drives: any sans-IO endpoint with the core's drive-loop shape.

use crate::{Event, Node, Transmit};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::Instant;

/// A sans-IO endpoint the simulator can drive: datagrams and deadlines in, datagrams, events and
/// the next deadline out. [`Node`] is the one that matters; tests of the harness itself use
/// simpler ones.
pub trait Endpoint {
    /// What the endpoint reports to its application.
    type Event: Debug + Clone;

    /// A datagram from `from` arrived.
    fn handle_input(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]);
    /// A deadline passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    #[must_use = "a datagram taken from the queue and dropped is never sent"]
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    #[must_use = "an event taken from the queue and dropped is lost"]
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When `handle_timeout` is due next.
    #[must_use = "the deadline says when to call `handle_timeout`"]
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Endpoint for Node {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        Node::handle_input(self, now, from, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Node::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Node::poll_transmit(self)
    }

    fn poll_event(&mut self) -> Option<Event> {
        Node::poll_event(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Node::poll_timeout(self)
    }
}
