//! The tokio channels the node's task answers its callers through.

use std::fmt::Debug;
use tokengo_runtime_support::{Channels, Error, LookupUpdate};
use tokio::sync::{mpsc, oneshot};

/// Oneshot replies, and unbounded lookup updates so the task never waits for a slow reader
/// (the number of updates per lookup is bounded instead).
#[derive(Debug)]
pub(crate) enum TokioChannels {}

impl Channels for TokioChannels {
    type Reply<T: Debug> = oneshot::Sender<Result<T, Error>>;
    type Updates = mpsc::UnboundedSender<LookupUpdate>;

    fn reply<T: Debug>(reply: Self::Reply<T>, result: Result<T, Error>) {
        let _ = reply.send(result);
    }

    fn update(updates: &Self::Updates, update: LookupUpdate) {
        let _ = updates.send(update);
    }
}

/// A request from a [`Dht`](crate::Dht) handle to the node's task.
pub(crate) type Command = tokengo_runtime_support::Command<TokioChannels>;
