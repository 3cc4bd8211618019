//! The client side: a connection to a relay, the chosen exit's key, and sealed exchanges.
//!
//! Relays come from a [`RelaySource`]. The client dials the first reachable candidate, asks it
//! for the exits' key configs (each checked against its claimed pubKeyHash), picks the pinned
//! exit or else one at random, and keeps both for later requests (a new pick only when the
//! exit fails). Whether a
//! failed request is sent again is [`retry::decide`]'s call: only a request that cannot have
//! reached an exit is, once, on a fresh session; one lost after it was sent fails.

#[cfg(feature = "proxy")]
pub mod proxy;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use tokengo_gateway_proto::control::{
    ExitKeyEntry, ExitKeysError, MAX_EXIT_KEYS_PAYLOAD, NoExit, TrustPolicy, choose_exit,
    decode_exit_keys,
};
use tokengo_gateway_proto::envelope::{EnvelopeError, StreamedResponse, seal_single, seal_stream};
use tokengo_gateway_proto::frame::{Frame, MAX_PAYLOAD_LEN, MessageType, WireError};
use tokengo_gateway_proto::http_message::{InnerRequest, InnerResponse};
use tokengo_gateway_proto::keys::PublicKeyConfig;
use tokengo_gateway_proto::refusal::Refusal;
use tokengo_gateway_proto::replay;
use tokengo_gateway_proto::retry::{self, RetryDecision, SendFailure};

use crate::frame_io::{read_frame, write_frame};
use crate::relay_source::{RelayCandidate, RelaySource, RelaySourceError};
use crate::transport::{ALPN_CLIENT, DialError, DialOptions, Dialer, TransportLimits};

/// Relays a client dials, in the source's order, before it gives up for this attempt.
pub const MAX_RELAYS_TRIED: usize = 8;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use only the exit with this pubKeyHash.
    pub exit_pin: Option<String>,
    /// When not empty, use only exits whose signed descriptor comes from one of these exit
    /// ids and lists the key offered (see [`TrustPolicy`]).
    pub trusted_exits: Vec<[u8; 32]>,
    /// When not empty (and no exit is trusted by id), use only exits admitted by at least
    /// `authority_threshold` of these network authorities.
    pub trusted_authorities: Vec<[u8; 32]>,
    /// How many trusted authorities must admit an exit.
    pub authority_threshold: usize,
    /// Deadline for dialling a relay and fetching the exit keys.
    pub connect_timeout: Duration,
    /// Longest silence between two pieces of a streamed response.
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            exit_pin: None,
            trusted_exits: Vec::new(),
            trusted_authorities: Vec::new(),
            authority_threshold: 1,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Why a request could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The relay source had no relay to offer.
    #[error(transparent)]
    Relays(#[from] RelaySourceError),
    /// A relay could not be dialled.
    #[error("relay {relay} unreachable: {source}")]
    Dial {
        /// The relay's address.
        relay: String,
        /// Why.
        source: DialError,
    },
    /// The relay has no (matching) exit.
    #[error("no exit available")]
    NoExit,
    /// The relay lists exits, and none passes the trust policy; no request was sent.
    #[error("no trusted exit: {0}")]
    Untrusted(#[source] NoExit),
    /// The relay (or the exit) refused the request.
    #[error("relay refused: {refusal} ({text})")]
    Refused {
        /// The code the decision is made on.
        refusal: Refusal,
        /// The text sent with it.
        text: String,
    },
    /// No stream could be opened on the relay connection.
    #[error("relay connection lost: {0}")]
    ConnectionLost(#[from] quinn::ConnectionError),
    /// A stream to the relay failed or broke the framing.
    #[error("relay stream: {0}")]
    Stream(#[from] WireError),
    /// No answer came in time.
    #[error("{0} timed out")]
    TimedOut(&'static str),
    /// The relay's exit list is unreadable.
    #[error(transparent)]
    ExitKeys(#[from] ExitKeysError),
    /// The relay answered with a frame that has no place there.
    #[error("protocol error: unexpected {0:?} frame")]
    Unexpected(MessageType),
    /// Sealing or opening failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The system's random generator failed.
    #[error("no randomness available")]
    NoRandomness,
}

impl ClientError {
    fn refused(payload: &[u8]) -> Self {
        let (refusal, text) = Refusal::decode(payload);
        ClientError::Refused { refusal, text }
    }
}

#[derive(Debug, Clone)]
struct Session {
    conn: quinn::Connection,
    exit: PublicKeyConfig,
}

/// The relay connection and the exit chosen on it, each kept while usable.
#[derive(Debug, Default)]
struct Slot {
    conn: Option<quinn::Connection>,
    exit: Option<PublicKeyConfig>,
}

/// A client of the gateway: what an app embeds to send requests through relays to exits.
#[derive(Debug)]
pub struct GatewayClient {
    source: Arc<dyn RelaySource>,
    options: ClientOptions,
    slot: tokio::sync::Mutex<Slot>,
    dialer: Dialer,
}

/// A request that failed, with how far it got (for the retry rule).
#[derive(Debug)]
struct Failed {
    at: SendFailure,
    error: ClientError,
}

impl GatewayClient {
    /// A client that takes relays from `source`.
    pub fn new(source: Arc<dyn RelaySource>, options: ClientOptions) -> Self {
        Self {
            source,
            options,
            slot: tokio::sync::Mutex::new(Slot::default()),
            dialer: Dialer::new(),
        }
    }

    /// The current session: reuses the relay connection while it lives, dials one otherwise,
    /// and asks the relay for exit keys when no exit is chosen yet.
    async fn session(&self) -> Result<Session, ClientError> {
        let mut slot = self.slot.lock().await;
        if slot
            .conn
            .as_ref()
            .is_some_and(|c| c.close_reason().is_some())
        {
            *slot = Slot::default();
        }
        if let (Some(conn), Some(exit)) = (&slot.conn, &slot.exit) {
            return Ok(Session {
                conn: conn.clone(),
                exit: exit.clone(),
            });
        }
        if let Some(conn) = slot.conn.clone() {
            // Still connected, but the exit went away: this relay may know another one.
            match self.exit_on(&conn).await {
                Ok(exit) => {
                    slot.exit = Some(exit.clone());
                    return Ok(Session { conn, exit });
                }
                Err(ClientError::NoExit | ClientError::Untrusted(_)) => {
                    conn.close(0u32.into(), b"no exit");
                    *slot = Slot::default();
                }
                Err(e) => return Err(e),
            }
        }
        let (conn, exit) = self.connect_with_exit().await?;
        slot.conn = Some(conn.clone());
        slot.exit = Some(exit.clone());
        Ok(Session { conn, exit })
    }

    /// Asks a connected relay for its exits and picks one.
    async fn exit_on(&self, conn: &quinn::Connection) -> Result<PublicKeyConfig, ClientError> {
        let keys = timeout(self.options.connect_timeout, query_exit_keys(conn))
            .await
            .map_err(|_| ClientError::TimedOut("fetching the exit keys"))??;
        let policy = TrustPolicy {
            exit_pin: self.options.exit_pin.clone(),
            trusted_exits: self.options.trusted_exits.clone(),
            trusted_authorities: self.options.trusted_authorities.clone(),
            authority_threshold: self.options.authority_threshold,
        };
        let exit = match choose_exit(&keys, &policy, crate::unix_now(), random_pick()?) {
            Ok(exit) => exit,
            Err(NoExit::NoneListed) => return Err(ClientError::NoExit),
            Err(why) => {
                warn!("no exit passes the trust policy: {why}");
                return Err(ClientError::Untrusted(why));
            }
        };
        info!(exit = %exit.hash(), "using exit");
        Ok(exit)
    }

    /// Forgets the exit chosen on `s`'s connection (the relay no longer routes to it).
    async fn forget_exit(&self, s: &Session) {
        let mut slot = self.slot.lock().await;
        if slot
            .conn
            .as_ref()
            .is_some_and(|c| c.stable_id() == s.conn.stable_id())
        {
            slot.exit = None;
        }
    }

    async fn dial(&self, c: &RelayCandidate) -> Result<quinn::Connection, DialError> {
        if c.pin.is_none() {
            warn!(relay = %c.addr, "relay identity not pinned: the transport to it is not authenticated");
        }
        let options = DialOptions {
            alpn: ALPN_CLIENT,
            pin: c.pin,
            limits: TransportLimits::to_relay(0),
            timeout: self.options.connect_timeout,
        };
        self.dialer.dial(&c.addr, options).await
    }

    /// Dials the source's relays in order (at most [`MAX_RELAYS_TRIED`]) until one has a usable
    /// exit. `NoExit` when relays answered but none had one.
    async fn connect_with_exit(&self) -> Result<(quinn::Connection, PublicKeyConfig), ClientError> {
        let candidates = self.source.candidates().await?;
        let mut last = ClientError::Relays(RelaySourceError::NoneKnown);
        for c in candidates.iter().take(MAX_RELAYS_TRIED) {
            let conn = match self.dial(c).await {
                Ok(conn) => conn,
                Err(source) => {
                    debug!(relay = %c.addr, "dial failed: {source}");
                    if !matches!(last, ClientError::NoExit | ClientError::Untrusted(_)) {
                        last = ClientError::Dial {
                            relay: c.addr.clone(),
                            source,
                        };
                    }
                    continue;
                }
            };
            info!(relay = %c.addr, "connected to relay");
            match self.exit_on(&conn).await {
                Ok(exit) => return Ok((conn, exit)),
                Err(e) => {
                    debug!(relay = %c.addr, "no usable exit: {e}");
                    conn.close(0u32.into(), b"no exit");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// The exit keys the relay currently offers (connecting if needed).
    pub async fn exit_keys(&self) -> Result<Vec<ExitKeyEntry>, ClientError> {
        let s = self.session().await?;
        query_exit_keys(&s.conn).await
    }

    /// Makes sure a relay is connected and an exit chosen; returns the exit's pubKeyHash.
    pub async fn ready(&self) -> Result<String, ClientError> {
        Ok(self.session().await?.exit.hash())
    }

    /// Sends `req` as an RFC 9458 single exchange.
    pub async fn send_single(&self, req: &InnerRequest) -> Result<InnerResponse, ClientError> {
        let req = dated(req);
        let (exit_reply, pending) = self
            .send_with_retry(MessageType::Request, |exit| seal_single(exit, &req))
            .await?;
        let (first, _) = exit_reply;
        match first.kind {
            MessageType::Response => Ok(pending.open(&first.payload)?),
            other => Err(ClientError::Unexpected(other)),
        }
    }

    /// Sends `req` as a chunked-OHTTP exchange; returns once the response head has arrived.
    pub async fn send_streamed(&self, req: &InnerRequest) -> Result<StreamedResponse, ClientError> {
        let req = dated(req);
        let ((first, recv), pending) = self
            .send_with_retry(MessageType::StreamRequest, |exit| seal_stream(exit, &req))
            .await?;
        if first.kind != MessageType::StreamChunk {
            return Err(ClientError::Unexpected(first.kind));
        }
        let chunks = chunk_stream(first.payload, recv, self.options.idle_timeout);
        Ok(pending.open(chunks).await?)
    }

    /// Seals the request for the session's exit and sends it, sending it again on a fresh
    /// session when [`retry::decide`] allows; returns the first answer and the exchange's state.
    async fn send_with_retry<P>(
        &self,
        kind: MessageType,
        seal: impl Fn(&PublicKeyConfig) -> Result<(Vec<u8>, P), EnvelopeError>,
    ) -> Result<((Frame, quinn::RecvStream), P), ClientError> {
        let mut attempt = 1;
        loop {
            let s = self.session().await?;
            let (bytes, pending) = seal(&s.exit)?;
            match self.exchange(&s, kind, bytes).await {
                Ok(answer) => return Ok((answer, pending)),
                Err(failed) => match retry::decide(attempt, failed.at) {
                    RetryDecision::Retry => {
                        debug!("retrying on a fresh session: {}", failed.error);
                        self.forget_exit(&s).await;
                        attempt += 1;
                    }
                    RetryDecision::Fail => {
                        return Err(match failed.at {
                            SendFailure::Refused(r) if r.request_not_forwarded() => {
                                ClientError::NoExit
                            }
                            _ => failed.error,
                        });
                    }
                },
            }
        }
    }

    /// Sends one request frame; returns the first answer frame (never an Error) and the stream.
    async fn exchange(
        &self,
        s: &Session,
        kind: MessageType,
        payload: Vec<u8>,
    ) -> Result<(Frame, quinn::RecvStream), Failed> {
        let (mut send, mut recv) = s.conn.open_bi().await.map_err(|e| Failed {
            at: SendFailure::NotOpened,
            error: e.into(),
        })?;
        let frame = Frame::to_target(kind, s.exit.hash(), payload);
        write_frame(&mut send, &frame).await.map_err(|e| Failed {
            at: SendFailure::WriteFailed {
                connection_closed: s.conn.close_reason().is_some(),
            },
            error: e.into(),
        })?;
        let _ = send.finish();
        // From here on the request may have reached the exit: sending it again could run it
        // twice at the backend, so a lost connection is the caller's error, not a retry.
        let lost = |error| Failed {
            at: SendFailure::AnswerLost,
            error,
        };
        let first = timeout(
            self.options.idle_timeout,
            read_frame(&mut recv, MAX_PAYLOAD_LEN),
        )
        .await
        .map_err(|_| lost(ClientError::TimedOut("waiting for the answer")))?
        .map_err(|e| lost(e.into()))?;
        if first.kind == MessageType::Error {
            let (refusal, text) = Refusal::decode(&first.payload);
            return Err(Failed {
                at: SendFailure::Refused(refusal),
                error: ClientError::Refused { refusal, text },
            });
        }
        Ok((first, recv))
    }
}

/// The request with the date the exit checks against replays ([`replay::stamp`]).
fn dated(req: &InnerRequest) -> InnerRequest {
    let mut req = req.clone();
    replay::stamp(&mut req, crate::unix_now());
    req
}

/// A uniformly random number for choosing an exit.
fn random_pick() -> Result<u64, ClientError> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| ClientError::NoRandomness)?;
    Ok(u64::from_le_bytes(bytes))
}

async fn query_exit_keys(conn: &quinn::Connection) -> Result<Vec<ExitKeyEntry>, ClientError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    write_frame(&mut send, &Frame::new(MessageType::QueryExitKeys, vec![])).await?;
    let _ = send.finish();
    let reply = timeout(
        Duration::from_secs(10),
        read_frame(&mut recv, MAX_EXIT_KEYS_PAYLOAD),
    )
    .await
    .map_err(|_| ClientError::TimedOut("query exit keys"))??;
    match reply.kind {
        MessageType::ExitKeysResponse => Ok(decode_exit_keys(&reply.payload)?),
        MessageType::Error => Err(ClientError::refused(&reply.payload)),
        other => Err(ClientError::Unexpected(other)),
    }
}

/// The encrypted response pieces: the first one, then each StreamChunk until StreamEnd.
fn chunk_stream(
    first: Vec<u8>,
    recv: quinn::RecvStream,
    idle: Duration,
) -> impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static {
    let rest = futures_util::stream::unfold(Some(recv), move |state| async move {
        let mut recv = state?;
        let item = match timeout(idle, read_frame(&mut recv, MAX_PAYLOAD_LEN)).await {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "response idle for too long",
            )),
            Ok(Err(e)) => Err(io::Error::other(e)),
            Ok(Ok(f)) => match f.kind {
                MessageType::StreamChunk => Ok(f.payload),
                MessageType::StreamEnd => return None,
                MessageType::Error => Err(io::Error::other(ClientError::refused(&f.payload))),
                _ => Err(io::Error::other("unexpected frame in stream")),
            },
        };
        let next = item.is_ok().then_some(recv);
        Some((item, next))
    });
    futures_util::stream::StreamExt::chain(futures_util::stream::iter([Ok(first)]), rest)
}
