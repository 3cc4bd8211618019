//! The exit: registers with up to `max_relays` relays at once, heartbeats, answers the requests
//! they forward by calling its backend, and rotates its OHTTP key on a schedule.
//!
//! The exit needs no inbound port. Its signed descriptor ([`Publication`]) is the same on every
//! relay; after a rotation it publishes the new one on each relay connection, which stays up,
//! so requests in flight are not cut. A relay that is lost is replaced from the relay source,
//! with a delay from 1 s doubling to 60 s while attempts fail.

pub mod backend;
pub mod handler;
pub mod models;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::frame_io::{read_frame, write_frame};
use crate::relay_source::{RelayCandidate, RelaySource};
use crate::transport::{
    ALPN_EXIT, DialError, DialOptions, Dialer, TlsError, TransportLimits, peer_key,
};
use backend::{Backend, BackendError, BackendOptions};
use handler::{ExitContext, handle_stream};
use tokengo_gateway_proto::frame::{Frame, MessageType, WireError};
use tokengo_gateway_proto::identity::{Identity, IdentityError, PUBLIC_KEY_LEN};
use tokengo_gateway_proto::keys::{KeyError, OhttpKeyPair};
use tokengo_gateway_proto::publication::{Due, Publication, PublicationError, PublicationSettings};
use tokengo_gateway_proto::registration::{
    ExitRegistration, MAX_CONTROL_PAYLOAD, RegistrationError,
};
use tokengo_gateway_proto::replay::{DEFAULT_WINDOW, MAX_SEEN, ReplayGuard};

/// How many relays an exit registers with by default: enough that clients without a trusted
/// authority see its descriptor through two independent relays, and that losing one costs
/// nothing.
pub const DEFAULT_MAX_RELAYS: usize = 3;
/// How long an exit gathers streamed body pieces into one sealed chunk by default.
pub const DEFAULT_CHUNK_INTERVAL: Duration = Duration::from_millis(20);
/// How often an exit replaces its OHTTP key by default.
pub const DEFAULT_ROTATE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Exit settings.
#[derive(Debug, Clone)]
pub struct ExitOptions {
    /// Where relays come from (fixed relays, or the DHT); asked again whenever the exit has
    /// fewer relays than `max_relays`.
    pub relays: Arc<dyn RelaySource>,
    /// The exit's first OHTTP key.
    pub key: OhttpKeyPair,
    /// The exit's Ed25519 identity, which signs its descriptor; a fresh one when absent.
    pub identity: Option<Identity>,
    /// Admission certificates from network authorities, carried in the descriptor.
    pub admissions: Vec<Vec<u8>>,
    /// The models the exit's backend serves, listed in its descriptor; when empty, they are
    /// asked of the backend (see `models_refresh`).
    pub models: Vec<String>,
    /// How often to ask the backend for its models when `models` is empty (`None`: never;
    /// the descriptor then lists none). A listing that names no model keeps the last one.
    pub models_refresh: Option<Duration>,
    /// The backend.
    pub backend: BackendOptions,
    /// How many relays to stay registered with at once.
    pub max_relays: usize,
    /// How often to replace the OHTTP key (the previous one stays accepted until the next
    /// rotation); `None` keeps `key` for the exit's lifetime.
    pub rotate_every: Option<Duration>,
    /// How often to heartbeat.
    pub heartbeat_interval: Duration,
    /// How long a heartbeat (or the registration) may take before the exit reconnects.
    pub control_timeout: Duration,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// How far a request's date may be from this exit's clock (replays are refused).
    pub replay_window: Duration,
    /// How long streamed body pieces are gathered into one sealed chunk, so the relay does not
    /// see each token's size and timing; zero sends each piece at once.
    pub chunk_interval: Duration,
    /// Request bytes held in memory at once across all streams, in KiB.
    pub request_budget_kib: usize,
    /// How long a request waits for room in that budget before it is refused unopened
    /// (`exit busy`).
    pub budget_wait: Duration,
}

impl ExitOptions {
    /// Defaults for the given relays, key and backend.
    pub fn new(relays: Arc<dyn RelaySource>, key: OhttpKeyPair, backend: BackendOptions) -> Self {
        Self {
            relays,
            key,
            identity: None,
            admissions: Vec::new(),
            models: Vec::new(),
            models_refresh: Some(models::DEFAULT_MODELS_REFRESH),
            backend,
            max_relays: DEFAULT_MAX_RELAYS,
            rotate_every: Some(DEFAULT_ROTATE_EVERY),
            heartbeat_interval: Duration::from_secs(15),
            control_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            replay_window: DEFAULT_WINDOW,
            chunk_interval: DEFAULT_CHUNK_INTERVAL,
            request_budget_kib: handler::REQUEST_BUDGET_KIB,
            budget_wait: Duration::from_secs(10),
        }
    }
}

/// Why an exit could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExitError {
    /// The key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The backend settings are unusable.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The QUIC endpoint could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The identity could not be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The descriptor could not be signed.
    #[error(transparent)]
    Publication(#[from] PublicationError),
}

/// Why one relay could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay could not be dialled.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The relay's handshake named no identity key to bind the registration to.
    #[error("the relay presented no identity key")]
    NoRelayId,
    /// The exit is already registered with this relay (reached under another address).
    #[error("already registered with this relay")]
    Duplicate,
    /// No stream could be opened, or the connection closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A control stream failed.
    #[error("stream: {0}")]
    Stream(#[from] WireError),
    /// The registration exchange failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// A heartbeat was not acknowledged (in time).
    #[error("heartbeat not acknowledged")]
    Heartbeat,
}

/// The next reconnect delay: double, capped.
pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

/// What one relay session reports to the exit's loop.
enum SessionEvent {
    /// Registered: serve it.
    Registered {
        addr: String,
        relay_id: [u8; PUBLIC_KEY_LEN],
        conn: quinn::Connection,
    },
    /// Could not register.
    Failed { addr: String, error: RelayError },
    /// A registered session ended.
    Lost {
        addr: String,
        relay_id: [u8; PUBLIC_KEY_LEN],
        error: RelayError,
    },
}

type SessionFuture<'a> = Pin<Box<dyn Future<Output = SessionEvent> + Send + 'a>>;

/// A configured exit.
#[derive(Debug)]
pub struct Exit {
    identity: Identity,
    ctx: Arc<ExitContext>,
    options: ExitOptions,
    publication: Arc<RwLock<Publication>>,
    descriptor: watch::Sender<Arc<Vec<u8>>>,
    registrations: watch::Sender<u64>,
}

impl Exit {
    /// Prepares the exit (nothing is dialled yet).
    pub fn new(options: ExitOptions) -> Result<Self, ExitError> {
        let backend = Backend::new(options.backend.clone())?;
        let identity = match &options.identity {
            Some(identity) => identity.clone(),
            None => Identity::generate()?,
        };
        let settings = PublicationSettings {
            rotate_every: options.rotate_every.map(|d| d.as_secs().max(1)),
            models: options.models.clone(),
            admissions: options.admissions.clone(),
        };
        let publication =
            Publication::new(&identity, options.key.clone(), settings, crate::unix_now())?;
        let descriptor = watch::channel(Arc::new(publication.descriptor().to_vec())).0;
        let publication = Arc::new(RwLock::new(publication));
        let ctx = ExitContext {
            publication: publication.clone(),
            backend,
            read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(300),
            request_budget: tokio::sync::Semaphore::new(options.request_budget_kib),
            budget_wait: options.budget_wait,
            chunk_interval: options.chunk_interval,
            replays: std::sync::Mutex::new(ReplayGuard::new(options.replay_window, MAX_SEEN)),
            metrics: Arc::default(),
        };
        Ok(Self {
            ctx: Arc::new(ctx),
            identity,
            options,
            publication,
            descriptor,
            registrations: watch::channel(0).0,
        })
    }

    /// The identity key clients trust ([`ClientOptions::trusted_exits`](crate::ClientOptions)).
    pub fn identity_key(&self) -> [u8; 32] {
        self.identity.public_key()
    }

    /// The exit id clients trust (`--trust-exit`): hex of its identity key.
    pub fn exit_id(&self) -> String {
        self.identity.id()
    }

    fn read_publication(&self) -> std::sync::RwLockReadGuard<'_, Publication> {
        self.publication.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The pubKeyHash of the current OHTTP key (it changes at every rotation).
    pub fn pub_key_hash(&self) -> String {
        let publication = self.read_publication();
        publication
            .keys()
            .next()
            .map(|k| k.public().hash())
            .unwrap_or_default()
    }

    /// What the exit counts ([`ExitMetrics::register`](crate::metrics::ExitMetrics::register)
    /// exposes it).
    pub fn metrics(&self) -> Arc<crate::metrics::ExitMetrics> {
        self.ctx.metrics.clone()
    }

    /// Counts successful registrations (for waiting until the exit is reachable).
    pub fn registrations(&self) -> watch::Receiver<u64> {
        self.registrations.subscribe()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ExitError> {
        tokio::pin!(shutdown);
        let dialer = Dialer::new();
        let wanted = self.options.max_relays.max(1);
        let mut sessions: FuturesUnordered<SessionFuture<'_>> = FuturesUnordered::new();
        let mut busy: HashSet<String> = HashSet::new();
        let mut relay_ids: HashSet<[u8; PUBLIC_KEY_LEN]> = HashSet::new();
        // Every registered connection, so that a shutdown closes them all (the streams being
        // served would otherwise keep them, and their requests, alive).
        let mut open: HashMap<String, quinn::Connection> = HashMap::new();
        let mut delay = self.options.backoff_min;
        let mut fill_at = tokio::time::Instant::now();
        let models_refresh = self
            .options
            .models_refresh
            .filter(|_| self.options.models.is_empty());
        let mut models_at = tokio::time::Instant::now();
        if let Some(every) = models_refresh {
            // Before the first registration, so that the first descriptor lists them.
            self.refresh_models().await?;
            models_at += every;
        }
        loop {
            let rotate_at = self.rotation_deadline();
            tokio::select! {
                () = &mut shutdown => {
                    for conn in open.values() {
                        conn.close(0u32.into(), b"exit shutting down");
                    }
                    return Ok(());
                }
                () = tokio::time::sleep_until(rotate_at) => self.publish_due()?,
                () = tokio::time::sleep_until(models_at), if models_refresh.is_some() => {
                    self.refresh_models().await?;
                    models_at = tokio::time::Instant::now() + models_refresh.unwrap_or_default();
                }
                () = tokio::time::sleep_until(fill_at), if busy.len() < wanted => {
                    match self.options.relays.candidates().await {
                        Ok(candidates) => {
                            for c in candidates {
                                if busy.len() >= wanted {
                                    break;
                                }
                                if busy.insert(c.addr.clone()) {
                                    sessions.push(Box::pin(self.connect(&dialer, c)));
                                }
                            }
                        }
                        Err(e) => warn!("no relay to register with: {e}"),
                    }
                    fill_at = tokio::time::Instant::now() + delay;
                    delay = next_backoff(delay, self.options.backoff_max);
                }
                Some(event) = sessions.next() => match event {
                    SessionEvent::Registered { addr, relay_id, conn } => {
                        if !relay_ids.insert(relay_id) {
                            conn.close(0u32.into(), b"duplicate registration");
                            busy.remove(&addr);
                            debug!(relay = %addr, "{}", RelayError::Duplicate);
                            continue;
                        }
                        delay = self.options.backoff_min;
                        open.insert(addr.clone(), conn.clone());
                        self.ctx.metrics.relays.set(open.len() as i64);
                        self.registrations.send_modify(|n| *n += 1);
                        sessions.push(Box::pin(self.serve(addr, relay_id, conn)));
                    }
                    SessionEvent::Failed { addr, error } => {
                        warn!(relay = %addr, "cannot register with relay: {error}");
                        busy.remove(&addr);
                    }
                    SessionEvent::Lost { addr, relay_id, error } => {
                        warn!(relay = %addr, "connection to relay lost ({error}); looking for a relay in {delay:?}");
                        busy.remove(&addr);
                        open.remove(&addr);
                        self.ctx.metrics.relays.set(open.len() as i64);
                        relay_ids.remove(&relay_id);
                        fill_at = fill_at.min(tokio::time::Instant::now() + delay);
                    }
                },
            }
        }
    }

    /// When the publication next needs a rotation or a new signature.
    fn rotation_deadline(&self) -> tokio::time::Instant {
        let at = self.read_publication().poll_timeout();
        let wait = at.saturating_sub(crate::unix_now());
        tokio::time::Instant::now() + Duration::from_secs(wait)
    }

    /// Rotates the key or signs the descriptor again when due, and publishes the result.
    fn publish_due(&self) -> Result<(), ExitError> {
        let now = crate::unix_now();
        let mut publication = self.publication.write().unwrap_or_else(|p| p.into_inner());
        match publication.due(now) {
            Due::Nothing => return Ok(()),
            Due::Rotate => {
                let key = OhttpKeyPair::generate_with_id(publication.next_key_id())?;
                let hash = key.public().hash();
                publication.rotate(&self.identity, key, now)?;
                info!(key = %hash, "rotated the OHTTP key; the previous key is still accepted");
            }
            Due::Resign => publication.resign(&self.identity, now)?,
        }
        let descriptor = Arc::new(publication.descriptor().to_vec());
        drop(publication);
        self.descriptor.send_replace(descriptor);
        Ok(())
    }

    /// Asks the backend for its models and publishes a new descriptor when they changed.
    async fn refresh_models(&self) -> Result<(), ExitError> {
        let found = models::discover(&self.ctx.backend).await;
        if found.is_empty() {
            debug!("the backend listed no models; keeping the models listed so far");
            return Ok(());
        }
        let mut publication = self.publication.write().unwrap_or_else(|p| p.into_inner());
        if publication.set_models(&self.identity, found, crate::unix_now())? {
            info!(models = ?publication.models(), "serving these models");
            let descriptor = Arc::new(publication.descriptor().to_vec());
            drop(publication);
            self.descriptor.send_replace(descriptor);
        }
        Ok(())
    }

    /// Dials one relay candidate and registers.
    async fn connect(&self, dialer: &Dialer, candidate: RelayCandidate) -> SessionEvent {
        let addr = candidate.addr.clone();
        let options = DialOptions {
            alpn: ALPN_EXIT,
            pin: candidate.pin,
            limits: TransportLimits::to_relay(1024),
            timeout: self.options.control_timeout,
        };
        let conn = match dialer.dial(&candidate.addr, options).await {
            Ok(conn) => conn,
            Err(e) => {
                return SessionEvent::Failed {
                    addr,
                    error: e.into(),
                };
            }
        };
        let Some(relay_id) = peer_key(&conn) else {
            conn.close(1u32.into(), b"no relay identity");
            return SessionEvent::Failed {
                addr,
                error: RelayError::NoRelayId,
            };
        };
        let descriptor = self.descriptor.borrow().clone();
        match self.register(&conn, relay_id, &descriptor).await {
            Ok(()) => {
                info!(relay = %addr, exit = %self.identity.id(), "registered with relay");
                SessionEvent::Registered {
                    addr,
                    relay_id,
                    conn,
                }
            }
            Err(error) => {
                conn.close(1u32.into(), b"register failed");
                SessionEvent::Failed { addr, error }
            }
        }
    }

    /// Runs the registration exchange for `descriptor` on a new stream of `conn`.
    async fn register(
        &self,
        conn: &quinn::Connection,
        relay_id: [u8; PUBLIC_KEY_LEN],
        descriptor: &[u8],
    ) -> Result<(), RelayError> {
        let mut exchange = ExitRegistration::new(
            Instant::now(),
            self.options.control_timeout,
            &self.identity,
            relay_id,
            descriptor,
        );
        let (mut send, mut recv) = conn.open_bi().await?;
        loop {
            while let Some(frame) = exchange.poll_transmit() {
                write_frame(&mut send, &frame).await?;
                if frame.kind == MessageType::RegisterProof {
                    let _ = send.finish();
                }
            }
            if let Some(outcome) = exchange.poll_outcome() {
                return Ok(outcome?);
            }
            let Some(deadline) = exchange.poll_timeout() else {
                return Err(RegistrationError::TimedOut.into());
            };
            match tokio::time::timeout_at(
                deadline.into(),
                read_frame(&mut recv, MAX_CONTROL_PAYLOAD),
            )
            .await
            {
                Ok(frame) => exchange.handle_frame(Instant::now(), frame?),
                Err(_) => exchange.handle_timeout(Instant::now()),
            }
        }
    }

    /// Serves relay streams, heartbeats and publishes new descriptors until the connection
    /// fails.
    async fn serve(
        &self,
        addr: String,
        relay_id: [u8; PUBLIC_KEY_LEN],
        conn: quinn::Connection,
    ) -> SessionEvent {
        let _silence = crate::silence::watch(&conn, crate::transport::KEEP_ALIVE);
        let accept = async {
            loop {
                match conn.accept_bi().await {
                    Ok((send, recv)) => {
                        let ctx = self.ctx.clone();
                        tokio::spawn(async move { handle_stream(&ctx, send, recv).await });
                    }
                    Err(e) => return RelayError::Connection(e),
                }
            }
        };
        let heartbeat = async {
            let mut tick = tokio::time::interval(self.options.heartbeat_interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let beat = timeout(self.options.control_timeout, heartbeat_once(&conn)).await;
                if let Err(e) = beat.unwrap_or(Err(RelayError::Heartbeat)) {
                    conn.close(0u32.into(), b"heartbeat failed");
                    return e;
                }
                debug!("heartbeat acknowledged");
            }
        };
        let publish = async {
            let mut published = self.descriptor.subscribe();
            published.mark_unchanged();
            loop {
                if published.changed().await.is_err() {
                    return std::future::pending().await;
                }
                let descriptor = published.borrow_and_update().clone();
                if let Err(e) = self.register(&conn, relay_id, &descriptor).await {
                    conn.close(1u32.into(), b"publishing the descriptor failed");
                    return e;
                }
                debug!(relay = %addr, "published the new descriptor");
            }
        };
        let error = tokio::select! {
            r = accept => r,
            r = heartbeat => r,
            r = publish => r,
        };
        SessionEvent::Lost {
            addr,
            relay_id,
            error,
        }
    }
}

async fn heartbeat_once(conn: &quinn::Connection) -> Result<(), RelayError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    write_frame(&mut send, &Frame::new(MessageType::Heartbeat, vec![])).await?;
    let _ = send.finish();
    let reply = read_frame(&mut recv, MAX_CONTROL_PAYLOAD).await?;
    if reply.kind == MessageType::HeartbeatAck {
        Ok(())
    } else {
        Err(RelayError::Heartbeat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let max = Duration::from_secs(60);
        assert_eq!(
            next_backoff(Duration::from_secs(1), max),
            Duration::from_secs(2)
        );
        assert_eq!(next_backoff(Duration::from_secs(30), max), max);
        assert_eq!(next_backoff(Duration::from_secs(40), max), max);
        assert_eq!(next_backoff(Duration::from_secs(100), max), max);
    }
}
