//! The client side: a connection to a relay, the chosen exit's key, and sealed exchanges.
//!
//! Where relays come from is behind [`RelaySource`]: a static list today, the DHT later. The
//! client dials the first reachable candidate, asks it for the exits' key configs (each checked
//! against its claimed pubKeyHash), picks the pinned exit or else the first by hash, and keeps the
//! connection for later requests. A request that could not be sent because the connection was
//! already gone, or that the relay refused because it no longer knows the exit, is retried once
//! on a fresh session; one lost after it was sent is not (it may have run), and fails.

pub mod proxy;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::envelope::{EnvelopeError, StreamedResponse, seal_single, seal_stream};
use crate::http_message::{InnerRequest, InnerResponse};
use crate::keys::PublicKeyConfig;
use crate::relay::ExitKeyEntry;
use crate::tls::{self, ALPN_CLIENT, SERVER_NAME, TransportLimits};
use crate::wire::{Frame, MAX_PAYLOAD_LEN, MessageType, read_frame, write_frame};

/// Relays a client dials, in the source's order, before it gives up for this attempt.
pub const MAX_RELAYS_TRIED: usize = 8;

/// A relay the client may dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayCandidate {
    /// `host:port` of the relay's QUIC endpoint.
    pub addr: String,
    /// The relay's identity key, when known.
    pub pin: Option<[u8; 32]>,
}

/// The future a [`RelaySource`] returns.
pub type CandidatesFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<RelayCandidate>, String>> + Send + 'a>>;

/// Where the client learns relays from, best first.
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
        Box::pin(async move { Ok(list) })
    }
}

/// A source of exactly one relay.
pub fn static_relay(addr: String, pin: Option<[u8; 32]>) -> Arc<dyn RelaySource> {
    Arc::new(StaticRelays(vec![RelayCandidate { addr, pin }]))
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use only the exit with this pubKeyHash.
    pub exit_pin: Option<String>,
    /// Deadline for dialling a relay and fetching the exit keys.
    pub connect_timeout: Duration,
    /// Longest silence between two pieces of a streamed response.
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            exit_pin: None,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Why a request could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No relay could be reached.
    #[error("relay unreachable: {0}")]
    RelayUnreachable(String),
    /// The relay has no (matching) exit.
    #[error("no exit available")]
    NoExit,
    /// The relay answered with an error.
    #[error("relay error: {0}")]
    Relay(String),
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Sealing or opening failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
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

enum Failure {
    Retry(ClientError),
    Fatal(ClientError),
}

/// A client of the gateway.
#[derive(Debug)]
pub struct GatewayClient {
    source: Arc<dyn RelaySource>,
    options: ClientOptions,
    slot: tokio::sync::Mutex<Slot>,
    sockets: std::sync::Mutex<[Option<quinn::Endpoint>; 2]>,
}

impl GatewayClient {
    /// A client that takes relays from `source`.
    pub fn new(source: Arc<dyn RelaySource>, options: ClientOptions) -> Self {
        Self {
            source,
            options,
            slot: tokio::sync::Mutex::new(Slot::default()),
            sockets: std::sync::Mutex::new([None, None]),
        }
    }

    fn socket(&self, ipv6: bool) -> Result<quinn::Endpoint, ClientError> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut sockets[usize::from(ipv6)];
        if let Some(e) = slot {
            return Ok(e.clone());
        }
        let e =
            tls::client_socket(ipv6).map_err(|e| ClientError::RelayUnreachable(e.to_string()))?;
        *slot = Some(e.clone());
        Ok(e)
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
                Err(ClientError::NoExit) => {
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
            .map_err(|_| ClientError::RelayUnreachable("exit keys timed out".into()))?
            .map_err(ClientError::RelayUnreachable)?;
        let exit = self.choose_exit(&keys).ok_or(ClientError::NoExit)?;
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

    async fn dial(&self, c: &RelayCandidate) -> Result<quinn::Connection, String> {
        let addr = crate::exit::resolve(&c.addr).await?;
        let config = tls::client_config(ALPN_CLIENT, c.pin, TransportLimits::to_relay(0))
            .map_err(|e| e.to_string())?;
        if c.pin.is_none() {
            warn!(relay = %c.addr, "relay identity not pinned: the transport to it is not authenticated");
        }
        let socket = self.socket(addr.is_ipv6()).map_err(|e| e.to_string())?;
        let connecting = socket
            .connect_with(config, addr, SERVER_NAME)
            .map_err(|e| e.to_string())?;
        timeout(self.options.connect_timeout, connecting)
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())
    }

    /// Dials the source's relays in order (at most [`MAX_RELAYS_TRIED`]) until one has a usable
    /// exit. `NoExit` when relays answered but none had one.
    async fn connect_with_exit(&self) -> Result<(quinn::Connection, PublicKeyConfig), ClientError> {
        let candidates = self
            .source
            .candidates()
            .await
            .map_err(ClientError::RelayUnreachable)?;
        let mut last = ClientError::RelayUnreachable("no relay known".into());
        for c in candidates.iter().take(MAX_RELAYS_TRIED) {
            let conn = match self.dial(c).await {
                Ok(conn) => conn,
                Err(e) => {
                    debug!(relay = %c.addr, "dial failed: {e}");
                    if !matches!(last, ClientError::NoExit) {
                        last = ClientError::RelayUnreachable(format!("{}: {e}", c.addr));
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

    fn choose_exit(&self, keys: &[ExitKeyEntry]) -> Option<PublicKeyConfig> {
        let mut valid: Vec<PublicKeyConfig> = keys
            .iter()
            .filter_map(|e| {
                let k = PublicKeyConfig::from_base64(&e.key_config).ok()?;
                (k.hash() == e.pub_key_hash).then_some(k)
            })
            .collect();
        valid.sort_by_key(|k| k.hash());
        match &self.options.exit_pin {
            Some(pin) => valid
                .into_iter()
                .find(|k| k.hash().eq_ignore_ascii_case(pin)),
            None => valid.into_iter().next(),
        }
    }

    /// The exit keys the relay currently offers (connecting if needed).
    pub async fn exit_keys(&self) -> Result<Vec<ExitKeyEntry>, ClientError> {
        let s = self.session().await?;
        query_exit_keys(&s.conn)
            .await
            .map_err(ClientError::Protocol)
    }

    /// Makes sure a relay is connected and an exit chosen; returns the exit's pubKeyHash.
    pub async fn ready(&self) -> Result<String, ClientError> {
        Ok(self.session().await?.exit.hash())
    }

    /// Sends `req` as an RFC 9458 single exchange.
    pub async fn send_single(&self, req: &InnerRequest) -> Result<InnerResponse, ClientError> {
        for attempt in 0..2 {
            let s = self.session().await?;
            let (bytes, pending) = seal_single(&s.exit, req)?;
            match self.exchange(&s, MessageType::Request, bytes).await {
                Ok((first, _)) => {
                    return match first.kind {
                        MessageType::Response => Ok(pending.open(&first.payload)?),
                        _ => Err(ClientError::Protocol("unexpected reply".into())),
                    };
                }
                Err(Failure::Retry(e)) if attempt == 0 => {
                    debug!("retrying on a fresh session: {e}");
                    self.forget_exit(&s).await;
                }
                Err(Failure::Retry(e) | Failure::Fatal(e)) => return Err(e),
            }
        }
        Err(ClientError::NoExit)
    }

    /// Sends `req` as a chunked-OHTTP exchange; returns once the response head has arrived.
    pub async fn send_streamed(&self, req: &InnerRequest) -> Result<StreamedResponse, ClientError> {
        for attempt in 0..2 {
            let s = self.session().await?;
            let (bytes, pending) = seal_stream(&s.exit, req)?;
            match self.exchange(&s, MessageType::StreamRequest, bytes).await {
                Ok((first, recv)) => {
                    if first.kind != MessageType::StreamChunk {
                        return Err(ClientError::Protocol("unexpected reply".into()));
                    }
                    let chunks = chunk_stream(first.payload, recv, self.options.idle_timeout);
                    return Ok(pending.open(chunks).await?);
                }
                Err(Failure::Retry(e)) if attempt == 0 => {
                    debug!("retrying on a fresh session: {e}");
                    self.forget_exit(&s).await;
                }
                Err(Failure::Retry(e) | Failure::Fatal(e)) => return Err(e),
            }
        }
        Err(ClientError::NoExit)
    }

    /// Sends one request frame; returns the first answer frame (never an Error) and the stream.
    async fn exchange(
        &self,
        s: &Session,
        kind: MessageType,
        payload: Vec<u8>,
    ) -> Result<(Frame, quinn::RecvStream), Failure> {
        let lost = |e: String| {
            if s.conn.close_reason().is_some() {
                Failure::Retry(ClientError::RelayUnreachable(e))
            } else {
                Failure::Fatal(ClientError::RelayUnreachable(e))
            }
        };
        let (mut send, mut recv) = s
            .conn
            .open_bi()
            .await
            .map_err(|e| Failure::Retry(ClientError::RelayUnreachable(e.to_string())))?;
        let frame = Frame::to_target(kind, s.exit.hash(), payload);
        write_frame(&mut send, &frame)
            .await
            .map_err(|e| lost(e.to_string()))?;
        let _ = send.finish();
        // From here on the request may have reached the exit: sending it again could run it
        // twice at the backend, so a lost connection is the caller's error, not a retry.
        let first = timeout(
            self.options.idle_timeout,
            read_frame(&mut recv, MAX_PAYLOAD_LEN),
        )
        .await
        .map_err(|_| Failure::Fatal(ClientError::Relay("no answer in time".into())))?
        .map_err(|e| {
            Failure::Fatal(ClientError::RelayUnreachable(format!(
                "connection lost while waiting for the answer: {e}"
            )))
        })?;
        if first.kind == MessageType::Error {
            let text = String::from_utf8_lossy(&first.payload).into_owned();
            return Err(
                if text == "exit not found" || text == "exit connection failed" {
                    Failure::Retry(ClientError::NoExit)
                } else {
                    Failure::Fatal(ClientError::Relay(text))
                },
            );
        }
        Ok((first, recv))
    }
}

async fn query_exit_keys(conn: &quinn::Connection) -> Result<Vec<ExitKeyEntry>, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    write_frame(&mut send, &Frame::new(MessageType::QueryExitKeys, vec![]))
        .await
        .map_err(|e| e.to_string())?;
    let _ = send.finish();
    let reply = timeout(
        Duration::from_secs(10),
        read_frame(&mut recv, 4 * 1024 * 1024),
    )
    .await
    .map_err(|_| "query exit keys timed out".to_string())?
    .map_err(|e| e.to_string())?;
    match reply.kind {
        MessageType::ExitKeysResponse => {
            serde_json::from_slice(&reply.payload).map_err(|e| format!("bad exit keys: {e}"))
        }
        MessageType::Error => Err(String::from_utf8_lossy(&reply.payload).into_owned()),
        _ => Err("unexpected reply to QueryExitKeys".into()),
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
            Ok(Err(e)) => Err(io::Error::other(e.to_string())),
            Ok(Ok(f)) => match f.kind {
                MessageType::StreamChunk => Ok(f.payload),
                MessageType::StreamEnd => return None,
                MessageType::Error => Err(io::Error::other(
                    String::from_utf8_lossy(&f.payload).into_owned(),
                )),
                _ => Err(io::Error::other("unexpected frame in stream")),
            },
        };
        let next = item.is_ok().then_some(recv);
        Some((item, next))
    });
    futures_util::stream::StreamExt::chain(futures_util::stream::iter([Ok(first)]), rest)
}
