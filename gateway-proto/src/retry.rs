//! The client's retry rule: a failed request is sent again only when it cannot have reached
//! an exit, since running it twice at the backend could bill the user twice.

use crate::refusal::Refusal;

/// How many times a client sends one request at most (the first send and one retry).
pub const MAX_ATTEMPTS: u32 = 2;

/// How sending a request failed, by how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// No stream could be opened on the relay connection: nothing was sent.
    NotOpened,
    /// Writing the request failed; `connection_closed` when the connection was already gone
    /// (so the relay saw at most a cut request, which it never forwards whole).
    WriteFailed {
        /// Whether the connection had closed.
        connection_closed: bool,
    },
    /// The request was sent, and its answer did not come: it may have run.
    AnswerLost,
    /// The relay (or the exit) refused the request.
    Refused(Refusal),
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Forget the chosen exit and send the request again on a fresh session.
    Retry,
    /// Report the failure to the caller.
    Fail,
}

/// Decides after the `attempt`-th send (1-based) failed with `failure`.
#[must_use]
pub fn decide(attempt: u32, failure: SendFailure) -> RetryDecision {
    let unsent = match failure {
        SendFailure::NotOpened => true,
        SendFailure::WriteFailed { connection_closed } => connection_closed,
        SendFailure::AnswerLost => false,
        SendFailure::Refused(refusal) => refusal.request_not_forwarded(),
    };
    if unsent && attempt < MAX_ATTEMPTS {
        RetryDecision::Retry
    } else {
        RetryDecision::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsent_requests_are_retried_once() {
        for f in [
            SendFailure::NotOpened,
            SendFailure::WriteFailed {
                connection_closed: true,
            },
            SendFailure::Refused(Refusal::ExitNotFound),
            SendFailure::Refused(Refusal::ExitUnreachable),
        ] {
            assert_eq!(decide(1, f), RetryDecision::Retry, "{f:?}");
            assert_eq!(decide(MAX_ATTEMPTS, f), RetryDecision::Fail, "{f:?}");
        }
    }

    #[test]
    fn a_request_that_may_have_run_is_never_sent_again() {
        assert_eq!(decide(1, SendFailure::AnswerLost), RetryDecision::Fail);
        assert_eq!(
            decide(
                1,
                SendFailure::WriteFailed {
                    connection_closed: false
                }
            ),
            RetryDecision::Fail
        );
        for r in Refusal::KNOWN
            .into_iter()
            .filter(|r| !r.request_not_forwarded())
            .chain([Refusal::Unknown(999)])
        {
            assert_eq!(
                decide(1, SendFailure::Refused(r)),
                RetryDecision::Fail,
                "{r:?}"
            );
        }
    }
}
