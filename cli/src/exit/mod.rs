//! The exit: dials a relay, registers its OHTTP key, heartbeats, and answers the requests the
//! relay forwards by calling its backend.
//!
//! The exit needs no inbound port. A failed heartbeat or a lost connection starts a reconnect,
//! with backoff from 1 s doubling to 60 s; a successful registration resets the backoff.

pub mod backend;
pub mod handler;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::client::{RelayCandidate, RelaySource};
use crate::keys::{KeyError, OhttpKeyPair};
use crate::tls::{self, ALPN_EXIT, SERVER_NAME, TlsError, TransportLimits};
use crate::wire::{Frame, MessageType, read_frame, write_frame};
use backend::{Backend, BackendError, BackendOptions};
use handler::{ExitContext, handle_stream};

/// Exit settings.
#[derive(Debug, Clone)]
pub struct ExitOptions {
    /// Where relays come from (a fixed relay, or the DHT); asked again at every reconnect, so
    /// an exit that lost its relay finds another.
    pub relays: Arc<dyn RelaySource>,
    /// The exit's OHTTP key.
    pub key: OhttpKeyPair,
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
}

impl ExitOptions {
    /// Defaults for the given relays, key and backend.
    pub fn new(relays: Arc<dyn RelaySource>, key: OhttpKeyPair, backend: BackendOptions) -> Self {
        Self {
            relays,
            key,
            backend,
            heartbeat_interval: Duration::from_secs(15),
            control_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
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
    /// The OHTTP server could not be made.
    #[error("ohttp: {0}")]
    Ohttp(#[from] ohttp::Error),
}

/// The next reconnect delay: double, capped.
pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

/// A configured exit.
#[derive(Debug)]
pub struct Exit {
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
        };
        Ok(Self {
            ctx: Arc::new(ctx),
            hash: options.key.public().hash(),
            options,
            registrations: watch::channel(0).0,
        })
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
        let limits = TransportLimits::to_relay(1024);
        let mut endpoints: [Option<quinn::Endpoint>; 2] = [None, None];
        let mut backoff = self.options.backoff_min;
        loop {
            let session = async {
                let candidates = self.options.relays.candidates().await?;
                let mut last = String::from("no relay known");
                for candidate in &candidates {
                    match self.connect(&mut endpoints, candidate, limits).await {
                        Ok(conn) => return Ok((conn, candidate.addr.clone())),
                        Err(e) => {
                            warn!(relay = %candidate.addr, "cannot register with relay: {e}");
                            last = format!("{}: {e}", candidate.addr);
                        }
                    }
                }
                Err::<_, String>(last)
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

    /// Dials one relay candidate (one client socket per address family) and registers.
    async fn connect(
        &self,
        endpoints: &mut [Option<quinn::Endpoint>; 2],
        candidate: &RelayCandidate,
        limits: TransportLimits,
    ) -> Result<quinn::Connection, String> {
        let addr = resolve(&candidate.addr).await?;
        let slot = usize::from(addr.is_ipv6());
        if endpoints[slot].is_none() {
            endpoints[slot] = Some(tls::client_socket(addr.is_ipv6()).map_err(|e| e.to_string())?);
        }
        let endpoint = endpoints[slot].as_ref().ok_or("no endpoint")?;
        let config =
            tls::client_config(ALPN_EXIT, candidate.pin, limits).map_err(|e| e.to_string())?;
        self.register(endpoint, config, addr).await
    }

    async fn register(
        &self,
        endpoint: &quinn::Endpoint,
        config: quinn::ClientConfig,
        addr: SocketAddr,
    ) -> Result<quinn::Connection, String> {
        let t = self.options.control_timeout;
        let connecting = endpoint
            .connect_with(config, addr, SERVER_NAME)
            .map_err(|e| e.to_string())?;
        let conn = timeout(t, connecting)
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
            let register = Frame::to_target(
                MessageType::Register,
                self.hash.clone(),
                self.options.key.public().encoded.clone(),
            );
            write_frame(&mut send, &register)
                .await
                .map_err(|e| e.to_string())?;
            loop {
                let reply = read_frame(&mut recv, 4096)
                    .await
                    .map_err(|e| e.to_string())?;
                match reply.kind {
                    MessageType::RegisterChallenge => {
                        // Prove we hold the private key behind the config we register.
                        let (nonce, _) = self
                            .ctx
                            .server
                            .decapsulate(&reply.payload)
                            .map_err(|e| format!("cannot answer the relay's challenge: {e}"))?;
                        let proof = Frame::new(MessageType::RegisterProof, nonce);
                        write_frame(&mut send, &proof)
                            .await
                            .map_err(|e| e.to_string())?;
                        let _ = send.finish();
                    }
                    MessageType::RegisterAck => return Ok(()),
                    MessageType::Error => {
                        return Err(format!(
                            "relay refused: {}",
                            String::from_utf8_lossy(&reply.payload)
                        ));
                    }
                    _ => return Err("unexpected reply to register".to_string()),
                }
            }
        };
        match timeout(t, exchange).await {
            Ok(Ok(())) => {
                info!(relay = %addr, exit = %self.hash, "registered with relay");
                Ok(conn)
            }
            Ok(Err(e)) => {
                conn.close(1u32.into(), b"register failed");
                Err(e)
            }
            Err(_) => {
                conn.close(1u32.into(), b"register timed out");
                Err("register timed out".into())
            }
        }
    }

    /// Serves relay streams and heartbeats until the connection fails; returns why.
    async fn serve(&self, conn: &quinn::Connection) -> String {
        let accept = async {
            loop {
                match conn.accept_bi().await {
                    Ok((send, recv)) => {
                        let ctx = self.ctx.clone();
                        tokio::spawn(async move { handle_stream(&ctx, send, recv).await });
                    }
                    Err(e) => return format!("connection closed: {e}"),
                }
            }
        };
        let heartbeat = async {
            let mut tick = tokio::time::interval(self.options.heartbeat_interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = timeout(self.options.control_timeout, heartbeat_once(conn))
                    .await
                    .map_err(|_| "heartbeat timed out".to_string())
                    .and_then(|r| r)
                {
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

async fn heartbeat_once(conn: &quinn::Connection) -> Result<(), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    write_frame(&mut send, &Frame::new(MessageType::Heartbeat, vec![]))
        .await
        .map_err(|e| e.to_string())?;
    let _ = send.finish();
    let reply = read_frame(&mut recv, 4096)
        .await
        .map_err(|e| e.to_string())?;
    if reply.kind == MessageType::HeartbeatAck {
        Ok(())
    } else {
        Err("heartbeat not acknowledged".into())
    }
}

/// Resolves `host:port` to one socket address.
pub async fn resolve(target: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = target.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(target)
        .await
        .map_err(|e| format!("resolve {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {target}: no address"))
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
