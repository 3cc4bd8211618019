//! The client side: relay connections, the chosen exit, and sealed exchanges.
//!
//! Relays come from a [`RelaySource`]. The client dials up to [`MAX_RELAYS_TRIED`] of them at
//! once and asks each for its exits' signed descriptors; [`trust::candidates`] decides which
//! exits pass the trust policy (for a client without trusted exits or authorities, that takes
//! the same descriptor from two independent relays, so it waits for every relay it dialled).
//! It keeps one relay connection and the exits that pass through it. A request that names a
//! model goes to an exit listing it ([`models::route`]: random among them, then sticky for that
//! model); a request naming none goes to one exit picked at random and kept while it works.
//! Every `descriptor_refresh` the client reads the relay's list again, to follow key rotations
//! and take exits that joined since.
//! Whether a failed request is sent again is [`retry::decide`]'s call: only a request that
//! cannot have reached an exit is, once, on a fresh session; one lost after it was sent fails.

#[cfg(feature = "proxy")]
pub mod proxy;

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt as _};
use tokio::time::timeout;
use tracing::{debug, info, warn};

use tokengo_gateway_proto::control::{
    ExitKeyEntry, ExitKeysError, MAX_EXIT_KEYS_PAYLOAD, decode_exit_keys,
};
use tokengo_gateway_proto::envelope::{EnvelopeError, StreamedResponse, seal_single, seal_stream};
use tokengo_gateway_proto::frame::{Frame, MAX_PAYLOAD_LEN, MessageType, WireError};
use tokengo_gateway_proto::http_message::{InnerRequest, InnerResponse};
use tokengo_gateway_proto::keys::PublicKeyConfig;
use tokengo_gateway_proto::models::{self, Route};
use tokengo_gateway_proto::refusal::Refusal;
use tokengo_gateway_proto::replay;
use tokengo_gateway_proto::retry::{self, RetryDecision, SendFailure};
use tokengo_gateway_proto::trust::{
    self, Basis, Candidate, NoExit, OfferedExit, RelayView, TrustPolicy, admit_exit,
};

use crate::frame_io::{read_frame, write_frame};
use crate::relay_source::{RelayCandidate, RelaySource, RelaySourceError};
use crate::silence::{self, SilenceGuard};
use crate::transport::{
    ALPN_CLIENT, DialError, DialOptions, Dialer, KEEP_ALIVE, TransportLimits, peer_key,
};

/// Relays a client dials at once, in the source's order, for one choice of exit.
pub const MAX_RELAYS_TRIED: usize = 8;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use only an exit whose descriptor lists a key with this pubKeyHash.
    pub exit_pin: Option<String>,
    /// When not empty, use only these exit ids (see [`TrustPolicy`]).
    pub trusted_exits: Vec<[u8; 32]>,
    /// When not empty (and no exit is trusted by id), use only exits admitted by at least
    /// `authority_threshold` of these network authorities.
    pub trusted_authorities: Vec<[u8; 32]>,
    /// How many trusted authorities must admit an exit.
    pub authority_threshold: usize,
    /// With no exit or authority trusted, take any exit instead of one whose descriptor two
    /// independent relays agree on. For tests: a relay can then read everything.
    pub insecure_any_exit: bool,
    /// Deadline for dialling a relay and fetching its exit list.
    pub connect_timeout: Duration,
    /// Longest silence between two pieces of a streamed response.
    pub idle_timeout: Duration,
    /// How often the chosen exit's descriptor is fetched again, to follow its key rotations.
    pub descriptor_refresh: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            exit_pin: None,
            trusted_exits: Vec::new(),
            trusted_authorities: Vec::new(),
            authority_threshold: 1,
            insecure_any_exit: false,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            descriptor_refresh: Duration::from_secs(300),
        }
    }
}

impl ClientOptions {
    /// The trust policy these options describe.
    pub fn policy(&self) -> TrustPolicy {
        TrustPolicy {
            exit_pin: self.exit_pin.clone(),
            trusted_exits: self.trusted_exits.clone(),
            trusted_authorities: self.trusted_authorities.clone(),
            authority_threshold: self.authority_threshold,
            insecure_any_exit: self.insecure_any_exit,
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
    /// The relays have no exit (or none any more).
    #[error("no exit available")]
    NoExit,
    /// The relays list exits, and none passes the trust policy; no request was sent.
    #[error("no trusted exit: {0}")]
    Untrusted(#[source] NoExit),
    /// Every exit lists its models and none lists the one asked for; no request was sent.
    #[error("no exit serves the model {0:?}")]
    UnknownModel(String),
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
    /// The relay's handshake named no identity key.
    #[error("relay {0} presented no identity key")]
    NoRelayId(String),
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

/// What a request is sent with: the relay connection, and the exit's id and current key.
#[derive(Debug, Clone)]
struct Session {
    conn: quinn::Connection,
    exit_id: String,
    key: PublicKeyConfig,
}

/// An exit that passed the trust policy and is reachable through the relay in use.
#[derive(Debug, Clone)]
struct Usable {
    exit: OfferedExit,
    basis: Basis,
}

/// The relay connection and its usable exits, kept while they work.
#[derive(Debug, Default)]
struct Slot {
    conn: Option<quinn::Connection>,
    /// Closes `conn` once its relay falls silent (a killed relay, noticed within seconds).
    silence: Option<SilenceGuard>,
    /// The identity key of `conn`'s relay.
    relay_id: [u8; 32],
    exits: Vec<Usable>,
    /// When the relay's list was last read.
    fetched: Option<Instant>,
    /// The exit requests naming no model go to, chosen again while the relays offer it.
    preferred: Option<String>,
    /// The exit each model's requests go to.
    by_model: HashMap<String, String>,
    /// The exits for which the "not vouched for" notice was given.
    told_unvouched: HashSet<String>,
    /// The exit used last, for the "using exit" notice.
    last_used: Option<String>,
}

/// What the client is connected to now, for status pages.
#[derive(Debug, Clone, Default)]
pub struct ClientStatus {
    /// The relay in use: its address, its relay id (hex) and the connection's round-trip time.
    pub relay: Option<(std::net::SocketAddr, String, Duration)>,
    /// The exit requests naming no model go to (or the one used last).
    pub exit: Option<String>,
    /// The usable exits: id, why it is trusted, the models it lists.
    pub exits: Vec<(String, Basis, Vec<String>)>,
}

/// One relay's answer while choosing: its connection and its list.
struct Answer {
    conn: quinn::Connection,
    view: RelayView,
}

/// A client of the gateway: what an app embeds to send requests through relays to exits.
#[derive(Debug)]
pub struct GatewayClient {
    source: Arc<dyn RelaySource>,
    options: ClientOptions,
    policy: TrustPolicy,
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
            policy: options.policy(),
            options,
            slot: tokio::sync::Mutex::new(Slot::default()),
            dialer: Dialer::new(),
        }
    }

    /// The session for a request naming `model` (or none): reuses the relay connection while
    /// it works and has exits, chooses again otherwise, and picks the exit by model.
    async fn session(&self, model: Option<&str>) -> Result<Session, ClientError> {
        let mut slot = self.slot.lock().await;
        if slot
            .conn
            .as_ref()
            .is_some_and(|c| c.close_reason().is_some())
        {
            slot.conn = None;
            slot.silence = None;
        }
        if slot.conn.is_some() && !slot.exits.is_empty() {
            if slot
                .fetched
                .is_none_or(|at| at.elapsed() >= self.options.descriptor_refresh)
            {
                self.refresh(&mut slot).await;
            }
        } else {
            slot.silence = None;
            if let Some(conn) = slot.conn.take() {
                conn.close(0u32.into(), b"choosing again");
            }
            self.choose(&mut slot).await?;
        }
        let mut refreshed = false;
        loop {
            match self.pick(&mut slot, model) {
                // An exit that registered after the list was read may serve it: read it again
                // (at most once a second), then answer.
                Err(ClientError::UnknownModel(_))
                    if !refreshed
                        && slot
                            .fetched
                            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) =>
                {
                    refreshed = true;
                    self.refresh(&mut slot).await;
                }
                picked => return picked,
            }
        }
    }

    /// Picks the exit for `model` among the usable ones ([`models::route`]), sticky per model.
    fn pick(&self, slot: &mut Slot, model: Option<&str>) -> Result<Session, ClientError> {
        let conn = slot.conn.clone().ok_or(ClientError::NoExit)?;
        let lists: Vec<&[String]> = slot
            .exits
            .iter()
            .map(|u| u.exit.descriptor.models.as_slice())
            .collect();
        let serving = match models::route(&lists, model) {
            Route::Exits(serving) => serving,
            Route::NoExit => return Err(ClientError::NoExit),
            Route::Unknown => {
                return Err(ClientError::UnknownModel(
                    model.unwrap_or_default().to_owned(),
                ));
            }
        };
        // The model's own exit first, then the one the client already uses: each exit that
        // serves this client sees more of its traffic, and fewer exits see it at all.
        let sticky = model
            .and_then(|m| slot.by_model.get(m))
            .into_iter()
            .chain(slot.preferred.as_ref());
        let mut at = None;
        for id in sticky {
            if let Some(&i) = serving.iter().find(|&&i| slot.exits[i].exit.id() == *id) {
                at = Some(i);
                break;
            }
        }
        let at = match at {
            Some(at) => at,
            None => serving[(random_pick()? % serving.len() as u64) as usize],
        };
        let chosen = slot.exits[at].clone();
        let id = chosen.exit.id();
        if let Some(m) = model
            && slot.by_model.get(m) != Some(&id)
        {
            if slot.by_model.len() >= MAX_STICKY_MODELS {
                slot.by_model.clear();
            }
            slot.by_model.insert(m.to_owned(), id.clone());
        }
        if model.is_none() || slot.preferred.is_none() {
            slot.preferred = Some(id.clone());
        }
        if slot.told_unvouched.len() >= MAX_STICKY_MODELS {
            slot.told_unvouched.clear();
        }
        if chosen.basis == Basis::Corroborated && slot.told_unvouched.insert(id.clone()) {
            warn!(
                exit = %id,
                "this exit is not vouched for by an authority: it is trusted because independent relays handed out the same signed descriptor (use --trust-exit or --trust-authority)"
            );
        }
        if slot.last_used.as_deref() != Some(&id) {
            info!(exit = %id, key = %chosen.exit.key().hash(), model = model.unwrap_or(""), "using exit");
            slot.last_used = Some(id.clone());
        }
        Ok(Session {
            conn,
            exit_id: id,
            key: chosen.exit.key().clone(),
        })
    }

    /// Reads the relay's list again: takes newer descriptors (new keys after a rotation), and
    /// with a policy that judges each relay's list on its own, exits that joined since; drops
    /// exits the relay no longer lists. Keeps everything on any failure.
    async fn refresh(&self, slot: &mut Slot) {
        slot.fetched = Some(Instant::now());
        let Some(conn) = slot.conn.clone() else {
            return;
        };
        let listed = match timeout(self.options.connect_timeout, query_exit_keys(&conn)).await {
            Ok(Ok(listed)) => listed,
            Ok(Err(e)) => return debug!("cannot read the relay's exit list again: {e}"),
            Err(_) => return debug!("reading the relay's exit list again timed out"),
        };
        let now = crate::unix_now();
        let fresh: Vec<Usable> = if self.policy.basis() == Basis::Corroborated {
            // Only two relays can vouch for a new exit; the one in use can only renew those
            // already trusted (their descriptors are signed by the same exit key).
            listed
                .iter()
                .filter(|e| {
                    slot.exits
                        .iter()
                        .any(|u| u.exit.id().eq_ignore_ascii_case(&e.exit_id))
                })
                .filter_map(|e| admit_exit(e, &self.policy, now).ok())
                .map(|exit| Usable {
                    exit,
                    basis: Basis::Corroborated,
                })
                .collect()
        } else {
            let view = RelayView {
                relay_id: slot.relay_id,
                addr: conn.remote_address().ip(),
                entries: listed,
            };
            match trust::candidates(std::slice::from_ref(&view), &self.policy, now) {
                Ok(found) => found.into_iter().map(usable).collect(),
                Err(NoExit::NoneListed) => Vec::new(),
                Err(why) => {
                    return debug!("the relay's list has no exit passing the policy: {why}");
                }
            }
        };
        let mut merged = Vec::with_capacity(fresh.len());
        for new in fresh {
            let id = new.exit.id();
            match slot.exits.iter().find(|u| u.exit.id() == id) {
                Some(old) if old.exit.descriptor.sequence >= new.exit.descriptor.sequence => {
                    merged.push(old.clone());
                }
                Some(_) => {
                    info!(exit = %id, key = %new.exit.key().hash(), "the exit published a new descriptor");
                    merged.push(new);
                }
                None => {
                    info!(exit = %id, models = ?new.exit.descriptor.models, "a new exit is available");
                    merged.push(new);
                }
            }
        }
        slot.exits = merged;
    }

    /// Dials the source's relays (at most [`MAX_RELAYS_TRIED`], all at once), reads their exit
    /// lists and keeps one relay and the exits passing the policy through it: the first relay
    /// in the source's order with such an exit, or (corroborating) the first relay carrying an
    /// exit picked at random among those that passed.
    async fn choose(&self, slot: &mut Slot) -> Result<(), ClientError> {
        let sources = self.source.candidates().await?;
        let corroborating = self.policy.basis() == Basis::Corroborated;
        let tried = sources.len().min(MAX_RELAYS_TRIED);
        let mut pending: FuturesUnordered<_> = sources
            .iter()
            .take(tried)
            .enumerate()
            .map(|(i, c)| async move { (i, self.ask(c).await) })
            .collect();
        // Kept in the source's order (its preference: the user's order, or the fastest first),
        // whatever order the answers arrive in.
        let mut results: Vec<Option<Result<Answer, ClientError>>> =
            (0..tried).map(|_| None).collect();
        let mut decided = None;
        while let Some((i, asked)) = pending.next().await {
            if let Err(e) = &asked {
                debug!("relay not usable: {e}");
            }
            results[i] = Some(asked);
            if !corroborating {
                // Each relay's list can be judged on its own: take the first relay, in the
                // source's order, that offers an exit passing the policy, and choose among its
                // exits only (the n-th relay that answered).
                decided = results
                    .iter()
                    .map_while(Option::as_ref)
                    .filter_map(|r| r.as_ref().ok())
                    .enumerate()
                    .find_map(|(n, answer)| {
                        let view = std::slice::from_ref(&answer.view);
                        trust::candidates(view, &self.policy, crate::unix_now())
                            .ok()
                            .map(|found| (n, found))
                    });
                if decided.is_some() {
                    break;
                }
            }
        }
        drop(pending);
        let mut answers = Vec::new();
        let mut last = ClientError::Relays(RelaySourceError::NoneKnown);
        for result in results.into_iter().flatten() {
            match result {
                Ok(answer) => answers.push(answer),
                Err(e) => last = e,
            }
        }
        if answers.is_empty() {
            return Err(last);
        }
        let (found, decided_relay) = match decided {
            Some((relay, found)) => (Ok(found), Some(relay)),
            None => {
                let views: Vec<RelayView> = answers.iter().map(|a| a.view.clone()).collect();
                (
                    trust::candidates(&views, &self.policy, crate::unix_now()),
                    None,
                )
            }
        };
        let found = match found {
            Ok(found) => found,
            Err(NoExit::NoneListed) => return Err(ClientError::NoExit),
            Err(why) => {
                warn!("no exit passes the trust policy: {why}");
                return Err(ClientError::Untrusted(why));
            }
        };
        let relay = match decided_relay {
            Some(relay) => relay,
            None => {
                trust::choose(found.clone(), slot.preferred.as_deref(), random_pick()?)
                    .ok_or(ClientError::NoExit)?
                    .relays[0]
            }
        };
        let exits: Vec<Usable> = found
            .into_iter()
            .filter(|c| decided_relay.is_some() || c.relays.contains(&relay))
            .map(usable)
            .collect();
        let mut kept = None;
        for (i, answer) in answers.into_iter().enumerate() {
            if i == relay {
                kept = Some(answer);
            } else {
                answer.conn.close(0u32.into(), b"not needed");
            }
        }
        let kept = kept.ok_or(ClientError::NoExit)?;
        info!(relay = %kept.conn.remote_address(), exits = exits.len(), "using relay");
        slot.silence = Some(silence::watch(&kept.conn, KEEP_ALIVE));
        slot.conn = Some(kept.conn);
        slot.relay_id = kept.view.relay_id;
        slot.exits = exits;
        slot.fetched = Some(Instant::now());
        Ok(())
    }

    /// Dials one relay and reads its exit list.
    async fn ask(&self, c: &RelayCandidate) -> Result<Answer, ClientError> {
        let conn = self.dial(c).await.map_err(|source| ClientError::Dial {
            relay: c.addr.clone(),
            source,
        })?;
        let Some(relay_id) = peer_key(&conn) else {
            conn.close(0u32.into(), b"no identity");
            return Err(ClientError::NoRelayId(c.addr.clone()));
        };
        let listed = timeout(self.options.connect_timeout, query_exit_keys(&conn))
            .await
            .map_err(|_| ClientError::TimedOut("fetching the exit list"));
        match listed {
            Ok(Ok(entries)) => {
                info!(relay = %c.addr, exits = entries.len(), "connected to relay");
                let view = RelayView {
                    relay_id,
                    addr: conn.remote_address().ip(),
                    entries,
                };
                Ok(Answer { conn, view })
            }
            Ok(Err(e)) | Err(e) => {
                conn.close(0u32.into(), b"no exit list");
                Err(e)
            }
        }
    }

    /// Forgets the exit of `s` (the relay no longer routes to it): the next request goes to
    /// another exit (serving its model), or chooses relay and exits again when none is left.
    async fn forget_exit(&self, s: &Session) {
        let mut slot = self.slot.lock().await;
        if slot.preferred.as_deref() == Some(&s.exit_id) {
            slot.preferred = None;
        }
        slot.by_model.retain(|_, id| *id != s.exit_id);
        if slot
            .conn
            .as_ref()
            .is_some_and(|c| c.stable_id() == s.conn.stable_id())
        {
            slot.exits.retain(|u| u.exit.id() != s.exit_id);
        }
    }

    async fn dial(&self, c: &RelayCandidate) -> Result<quinn::Connection, DialError> {
        if c.pin.is_none() {
            debug!(relay = %c.addr, "relay identity not pinned: the transport to it is not authenticated");
        }
        let options = DialOptions {
            alpn: ALPN_CLIENT,
            pin: c.pin,
            limits: TransportLimits::to_relay(0),
            timeout: self.options.connect_timeout,
        };
        self.dialer.dial(&c.addr, options).await
    }

    /// The exit list of the relay in use (connecting if needed).
    pub async fn exit_keys(&self) -> Result<Vec<ExitKeyEntry>, ClientError> {
        let s = self.session(None).await?;
        query_exit_keys(&s.conn).await
    }

    /// Makes sure a relay is connected and an exit chosen; returns the exit's id.
    pub async fn ready(&self) -> Result<String, ClientError> {
        Ok(self.session(None).await?.exit_id)
    }

    /// The pubKeyHash of the key requests naming no model are sealed to now (connecting if
    /// needed).
    pub async fn current_key_hash(&self) -> Result<String, ClientError> {
        Ok(self.session(None).await?.key.hash())
    }

    /// What the client holds now, without connecting.
    pub async fn status(&self) -> ClientStatus {
        let slot = self.slot.lock().await;
        let relay = slot
            .conn
            .as_ref()
            .filter(|c| c.close_reason().is_none())
            .map(|c| (c.remote_address(), hex::encode(slot.relay_id), c.rtt()));
        ClientStatus {
            exit: relay
                .as_ref()
                .and(slot.preferred.clone().or(slot.last_used.clone())),
            exits: if relay.is_some() {
                slot.exits
                    .iter()
                    .map(|u| (u.exit.id(), u.basis, u.exit.descriptor.models.clone()))
                    .collect()
            } else {
                Vec::new()
            },
            relay,
        }
    }

    /// Every model the usable exits list, each once (connecting if needed); empty when no exit
    /// lists its models.
    pub async fn models(&self) -> Result<Vec<String>, ClientError> {
        self.session(None).await?;
        let slot = self.slot.lock().await;
        let lists: Vec<&[String]> = slot
            .exits
            .iter()
            .map(|u| u.exit.descriptor.models.as_slice())
            .collect();
        Ok(models::union(&lists))
    }

    /// Sends `req` as an RFC 9458 single exchange, to an exit serving the `model` its JSON
    /// body names, if it names one.
    pub async fn send_single(&self, req: &InnerRequest) -> Result<InnerResponse, ClientError> {
        let model = models::requested_model(&req.body);
        let req = dated(req);
        let (exit_reply, pending) = self
            .send_with_retry(model.as_deref(), MessageType::Request, |exit| {
                seal_single(exit, &req)
            })
            .await?;
        let (first, _) = exit_reply;
        match first.kind {
            MessageType::Response => Ok(pending.open(&first.payload)?),
            other => Err(ClientError::Unexpected(other)),
        }
    }

    /// Sends `req` as a chunked-OHTTP exchange (routed by model as [`Self::send_single`]);
    /// returns once the response head has arrived.
    pub async fn send_streamed(&self, req: &InnerRequest) -> Result<StreamedResponse, ClientError> {
        let model = models::requested_model(&req.body);
        let req = dated(req);
        let ((first, recv), pending) = self
            .send_with_retry(model.as_deref(), MessageType::StreamRequest, |exit| {
                seal_stream(exit, &req)
            })
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
        model: Option<&str>,
        kind: MessageType,
        seal: impl Fn(&PublicKeyConfig) -> Result<(Vec<u8>, P), EnvelopeError>,
    ) -> Result<((Frame, quinn::RecvStream), P), ClientError> {
        let mut attempt = 1;
        loop {
            let s = self.session(model).await?;
            let (bytes, pending) = seal(&s.key)?;
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
        let frame = Frame::to_target(kind, s.exit_id.clone(), payload);
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

/// How many models' exits (and exits told "not vouched for") a client remembers at once.
const MAX_STICKY_MODELS: usize = 1024;

/// A candidate as the client keeps it.
fn usable(c: Candidate) -> Usable {
    Usable {
        exit: c.exit,
        basis: c.basis,
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
