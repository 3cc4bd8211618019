//! The exit: dials a relay, registers its OHTTP key, heartbeats, and answers the requests the
//! relay forwards by calling its backend.
//!
//! The exit needs no inbound port. A failed heartbeat or a lost connection starts a reconnect,
//! with backoff from 1 s doubling to 60 s; a successful registration resets the backoff.

pub mod backend;
pub mod handler;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::frame_io::{read_frame, write_frame};
use crate::relay_source::{RelayCandidate, RelaySource, RelaySourceError};
use crate::transport::{ALPN_EXIT, DialError, DialOptions, Dialer, TlsError, TransportLimits};
use backend::{Backend, BackendError, BackendOptions};
use handler::{ExitContext, handle_stream};
use tokengo_gateway_proto::descriptor::{DescriptorError, ExitDescriptor, MAX_VALIDITY};
use tokengo_gateway_proto::frame::{Frame, MessageType, WireError};
use tokengo_gateway_proto::identity::{Identity, IdentityError};
use tokengo_gateway_proto::keys::{KeyError, OhttpKeyPair};
use tokengo_gateway_proto::registration::{
    ExitRegistration, MAX_CONTROL_PAYLOAD, RegistrationError,
};
use tokengo_gateway_proto::replay::{DEFAULT_WINDOW, MAX_SEEN, ReplayGuard};

/// Exit settings.
#[derive(Debug, Clone)]
pub struct ExitOptions {
    /// Where relays come from (a fixed relay, or the DHT); asked again at every reconnect, so
    /// an exit that lost its relay finds another.
    pub relays: Arc<dyn RelaySource>,
    /// The exit's OHTTP key.
    pub key: OhttpKeyPair,
    /// The exit's Ed25519 identity, which signs its descriptor; a fresh one when absent.
    pub identity: Option<Identity>,
    /// Admission certificates from network authorities, carried in the descriptor.
    pub admissions: Vec<Vec<u8>>,
    /// The backend.
    pub backend: BackendOptions,
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
}

impl ExitOptions {
    /// Defaults for the given relays, key and backend.
    pub fn new(relays: Arc<dyn RelaySource>, key: OhttpKeyPair, backend: BackendOptions) -> Self {
        Self {
            relays,
            key,
            identity: None,
            admissions: Vec::new(),
            backend,
            heartbeat_interval: Duration::from_secs(15),
            control_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            replay_window: DEFAULT_WINDOW,
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
    /// The OHTTP server could not be made.
    #[error("ohttp: {0}")]
    Ohttp(#[from] ohttp::Error),
}

/// Why one relay could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay could not be dialled.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// No stream could be opened, or the connection closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A control stream failed.
    #[error("stream: {0}")]
    Stream(#[from] WireError),
    /// The registration exchange failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The descriptor could not be signed.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// A heartbeat was not acknowledged (in time).
    #[error("heartbeat not acknowledged")]
    Heartbeat,
}

/// Why the exit lost (or never got) its relay; it then reconnects.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error(transparent)]
    NoRelay(#[from] RelaySourceError),
    #[error("{relay}: {source}")]
    Relay { relay: String, source: RelayError },
}

/// The next reconnect delay: double, capped.
pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

/// How long an exit's descriptor is valid; it signs a new one at every registration.
pub const DESCRIPTOR_VALIDITY: u64 = MAX_VALIDITY;

/// A configured exit.
#[derive(Debug)]
pub struct Exit {
    identity: Identity,
    ctx: Arc<ExitContext>,
    options: ExitOptions,
    registrations: watch::Sender<u64>,
    hash: String,
}

impl Exit {
    /// Prepares the exit (nothing is dialled yet).
    pub fn new(options: ExitOptions) -> Result<Self, ExitError> {
        let key_config = options.key.server_config()?;
        let server = ohttp::Server::new(options.key.server_config()?)?;
        let backend = Backend::new(options.backend.clone())?;
        let ctx = ExitContext {
            key_config,
            server,
            backend,
            read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(300),
            request_budget: tokio::sync::Semaphore::new(handler::REQUEST_BUDGET_KIB),
            replays: std::sync::Mutex::new(ReplayGuard::new(options.replay_window, MAX_SEEN)),
        };
        let identity = match &options.identity {
            Some(identity) => identity.clone(),
            None => Identity::generate()?,
        };
        Ok(Self {
            ctx: Arc::new(ctx),
            hash: options.key.public().hash(),
            identity,
            options,
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

    /// A descriptor listing this exit's key, valid from a minute ago for
    /// [`DESCRIPTOR_VALIDITY`], signed by its identity.
    fn descriptor(&self) -> Result<Vec<u8>, DescriptorError> {
        let now = crate::unix_now();
        let valid_from = now.saturating_sub(60);
        ExitDescriptor {
            exit_id: self.identity.public_key(),
            key_configs: vec![self.options.key.public().clone()],
            models: Vec::new(),
            valid_from,
            valid_until: valid_from + DESCRIPTOR_VALIDITY,
            sequence: now,
            admissions: self.options.admissions.clone(),
        }
        .sign(&self.identity)
    }

    /// The pubKeyHash this exit registers under.
    pub fn pub_key_hash(&self) -> &str {
        &self.hash
    }

    /// Counts successful registrations (for waiting until the exit is reachable).
    pub fn registrations(&self) -> watch::Receiver<u64> {
        self.registrations.subscribe()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ExitError> {
        tokio::pin!(shutdown);
        let dialer = Dialer::new();
        let mut backoff = self.options.backoff_min;
        loop {
            let session = async {
                let candidates = self.options.relays.candidates().await?;
                let mut last = SessionEnd::NoRelay(RelaySourceError::NoneKnown);
                for candidate in &candidates {
                    match self.connect(&dialer, candidate).await {
                        Ok(conn) => return Ok((conn, candidate.addr.clone())),
                        Err(source) => {
                            warn!(relay = %candidate.addr, "cannot register with relay: {source}");
                            last = SessionEnd::Relay {
                                relay: candidate.addr.clone(),
                                source,
                            };
                        }
                    }
                }
                Err::<_, SessionEnd>(last)
            };
            let conn = tokio::select! {
                () = &mut shutdown => return Ok(()),
                r = session => r,
            };
            match conn {
                Ok((conn, relay)) => {
                    backoff = self.options.backoff_min;
                    self.registrations.send_modify(|n| *n += 1);
                    tokio::select! {
                        () = &mut shutdown => {
                            conn.close(0u32.into(), b"exit shutting down");
                            return Ok(());
                        }
                        reason = self.serve(&conn) => {
                            warn!(%relay, "connection to relay lost ({reason}); reconnecting");
                        }
                    }
                }
                Err(e) => warn!("no relay to register with: {e}"),
            }
            info!("reconnecting in {backoff:?}");
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = next_backoff(backoff, self.options.backoff_max);
        }
    }

    /// Dials one relay candidate and registers.
    async fn connect(
        &self,
        dialer: &Dialer,
        candidate: &RelayCandidate,
    ) -> Result<quinn::Connection, RelayError> {
        let options = DialOptions {
            alpn: ALPN_EXIT,
            pin: candidate.pin,
            limits: TransportLimits::to_relay(1024),
            timeout: self.options.control_timeout,
        };
        let conn = dialer.dial(&candidate.addr, options).await?;
        match self.register(&conn).await {
            Ok(()) => {
                info!(relay = %candidate.addr, exit = %self.hash, "registered with relay");
                Ok(conn)
            }
            Err(e) => {
                conn.close(1u32.into(), b"register failed");
                Err(e)
            }
        }
    }

    /// Runs the registration exchange on a new stream of `conn`.
    async fn register(&self, conn: &quinn::Connection) -> Result<(), RelayError> {
        let descriptor = self.descriptor()?;
        let mut exchange = ExitRegistration::new(
            Instant::now(),
            self.options.control_timeout,
            &self.options.key,
            Some(&descriptor),
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

    /// Serves relay streams and heartbeats until the connection fails; returns why.
    async fn serve(&self, conn: &quinn::Connection) -> RelayError {
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
                let beat = timeout(self.options.control_timeout, heartbeat_once(conn)).await;
                if let Err(e) = beat.unwrap_or(Err(RelayError::Heartbeat)) {
                    conn.close(0u32.into(), b"heartbeat failed");
                    return e;
                }
                debug!("heartbeat acknowledged");
            }
        };
        tokio::select! {
            r = accept => r,
            r = heartbeat => r,
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
