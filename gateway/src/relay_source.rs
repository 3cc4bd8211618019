//! Where clients and exits learn relays from: a fixed list, or (in `tokengo-discovery`) the
//! DHT. The client and the exit each take a [`RelaySource`]; neither knows the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A relay that may be dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayCandidate {
    /// `host:port` of the relay's QUIC endpoint.
    pub addr: String,
    /// The relay's identity key, when known.
    pub pin: Option<[u8; 32]>,
}

/// Why a source has no relay to offer now.
#[derive(Debug, thiserror::Error)]
pub enum RelaySourceError {
    /// The source knows no relay at all.
    #[error("no relay known")]
    NoneKnown,
    /// A lookup found no relay.
    #[error("no relay found in the DHT")]
    NotFound,
    /// Relays were found, and none of them answered.
    #[error("none of the {found} relays found answered")]
    NoneAnswered {
        /// How many were found.
        found: usize,
    },
    /// The source itself failed (its DHT node stopped, a socket could not be made).
    #[error("relay source failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The future a [`RelaySource`] returns.
pub type CandidatesFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<RelayCandidate>, RelaySourceError>> + Send + 'a>>;

/// A source of relays, best first; asked again whenever a connection must be (re)made.
pub trait RelaySource: Send + Sync + std::fmt::Debug {
    /// The candidates to try now.
    fn candidates(&self) -> CandidatesFuture<'_>;
}

/// A fixed list of relays (static addressing).
#[derive(Debug, Clone)]
pub struct StaticRelays(pub Vec<RelayCandidate>);

impl RelaySource for StaticRelays {
    fn candidates(&self) -> CandidatesFuture<'_> {
        let list = self.0.clone();
        Box::pin(async move {
            if list.is_empty() {
                Err(RelaySourceError::NoneKnown)
            } else {
                Ok(list)
            }
        })
    }
}

/// A source of exactly one relay.
pub fn static_relay(addr: String, pin: Option<[u8; 32]>) -> Arc<dyn RelaySource> {
    Arc::new(StaticRelays(vec![RelayCandidate { addr, pin }]))
}
