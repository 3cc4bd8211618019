//! The std channels the node's thread answers its callers through.

use std::fmt::Debug;
use std::sync::mpsc;
use tokengo_runtime_support::{Channels, Error, LookupUpdate};

/// Replies on a channel with room for the one answer, so `try_send` never fails for want of
/// room; unbounded lookup updates so the thread never waits for a slow reader (the number of
/// updates per lookup is bounded instead).
#[derive(Debug)]
pub(crate) enum MioChannels {}

impl Channels for MioChannels {
    type Reply<T: Debug> = mpsc::SyncSender<Result<T, Error>>;
    type Updates = mpsc::Sender<LookupUpdate>;

    fn reply<T: Debug>(reply: Self::Reply<T>, result: Result<T, Error>) {
        let _ = reply.try_send(result);
    }

    fn update(updates: &Self::Updates, update: LookupUpdate) {
        let _ = updates.send(update);
    }
}

/// A request from a [`Dht`](crate::Dht) handle to the node's thread.
pub(crate) type Command = tokengo_runtime_support::Command<MioChannels>;
