//! The channels an adapter's loop answers its callers through.

use crate::error::Error;
use crate::lookup::LookupUpdate;
use std::fmt::Debug;

/// The reply and update channels of one adapter. Implemented once per adapter, on a type that
/// only names them.
///
/// Sending never blocks the loop, and a send to a caller that has gone away is dropped: that
/// caller no longer waits for it.
pub trait Channels {
    /// Carries the result of one command to its caller.
    type Reply<T: Debug>: Debug;
    /// Carries a get_peers lookup's peers, then its end, to its caller.
    type Updates: Debug;

    /// Answers the caller waiting on `reply`.
    fn reply<T: Debug>(reply: Self::Reply<T>, result: Result<T, Error>);

    /// Tells a get_peers caller about its lookup.
    fn update(updates: &Self::Updates, update: LookupUpdate);
}
