//! The relay: a QUIC server that routes sealed requests from clients to registered exits.
//!
//! Exits dial in with ALPN `tokengo-exit`, register their signed descriptor under their exit id
//! (proving the id with a signature over the relay's challenge) and heartbeat; clients dial in
//! with ALPN `tokengo-relay`, ask for the exits' descriptors and send requests addressed to an
//! exit id. The relay never sees plaintext: it
//! copies frames between a client stream and a stream it opens on the exit's connection, and
//! resets the exit's stream when the client goes away.

pub mod registry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::{RecvStream, SendStream, VarInt};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use tokengo_gateway_proto::admission::{Admission, Load, admit};
use tokengo_gateway_proto::control::encode_exit_keys;
use tokengo_gateway_proto::frame::{Frame, FrameHeader, MAX_PAYLOAD_LEN, MessageType};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::per_ip::PerIpLimit;
use tokengo_gateway_proto::refusal::Refusal;
use tokengo_gateway_proto::registration::{
    MAX_CONTROL_PAYLOAD, NONCE_LEN, RegistrationError, RelayRegistration,
};

use crate::frame_io::{
    CopyError, copy_payload, read_frame, read_header, write_frame, write_header,
};
use crate::metrics::{RelayMetrics, Role};
use crate::transport::{self, ALPN_EXIT, TlsError, TransportLimits};
use crate::unix_now;
pub use registry::Registry;
pub use tokengo_gateway_proto::control::ExitKeyEntry;

/// Application error code used to reset or stop streams.
const CANCELLED: VarInt = VarInt::from_u32(1);

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// The key behind the TLS certificate (clients and exits pin its id).
    pub identity: Identity,
    /// Evict an exit after this long without a heartbeat.
    pub heartbeat_timeout: Duration,
    /// How often to look for silent exits.
    pub sweep_interval: Duration,
    /// Deadline for the first frame on any stream.
    pub read_timeout: Duration,
    /// Deadline for an exit's answer to a non-streamed request, and between streamed frames.
    pub exit_timeout: Duration,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address (handshakes included).
    pub max_connections_per_ip: usize,
    /// Most concurrent streams a peer may open on one connection.
    pub max_streams_per_connection: u32,
    /// When not empty, only exits admitted by one of these network authorities may register.
    pub trusted_authorities: Vec<[u8; 32]>,
    /// Slowest upload waited for, in bytes per second: a request must reach the relay at least
    /// this fast (after `upload_grace`), so a trickling client holds nothing for long.
    pub min_upload_rate: u64,
    /// Time every upload gets before the rate counts.
    pub upload_grace: Duration,
}

/// How long the upload of a `len`-byte request may take: the grace period plus `len` at the
/// minimum rate, never more than `cap`.
pub fn upload_deadline(len: usize, rate: u64, grace: Duration, cap: Duration) -> Duration {
    let secs = (len as u64).checked_div(rate.max(1)).unwrap_or(u64::MAX);
    grace.saturating_add(Duration::from_secs(secs)).min(cap)
}

impl RelayOptions {
    /// Defaults for `listen` and `identity`.
    pub fn new(listen: SocketAddr, identity: Identity) -> Self {
        Self {
            listen,
            identity,
            heartbeat_timeout: Duration::from_secs(90),
            sweep_interval: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            exit_timeout: Duration::from_secs(300),
            max_connections: 4096,
            // A sixteenth of the slots: one host cannot starve the rest, while many clients
            // behind one NAT still fit.
            max_connections_per_ip: 256,
            max_streams_per_connection: 256,
            trusted_authorities: Vec::new(),
            min_upload_rate: 64 * 1024,
            upload_grace: Duration::from_secs(10),
        }
    }
}

/// A bound relay, ready to run.
#[derive(Debug)]
pub struct Relay {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    registry: Registry,
    metrics: Arc<RelayMetrics>,
    options: RelayOptions,
    connections: Arc<Semaphore>,
    per_ip: Arc<PerIpLimit>,
}

impl Relay {
    /// Binds the QUIC endpoint.
    pub fn bind(options: RelayOptions) -> Result<Self, TlsError> {
        let limits = TransportLimits {
            max_streams: options.max_streams_per_connection,
            idle_timeout: Duration::from_secs(120),
            // Its own pings' acknowledgements let the relay hear a live exit every second.
            keep_alive: Some(transport::KEEP_ALIVE),
            stream_window: transport::RELAY_STREAM_WINDOW,
            connection_window: transport::RELAY_CONNECTION_WINDOW,
        };
        let endpoint = transport::relay_endpoint(&options.identity, options.listen, limits)?;
        let connections = Arc::new(Semaphore::new(options.max_connections));
        let per_ip = PerIpLimit::new(options.max_connections_per_ip);
        Ok(Self {
            endpoint,
            shared: Arc::new(Shared {
                registry: Registry::default(),
                metrics: Arc::default(),
                options,
                connections,
                per_ip,
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The id clients and exits pin.
    pub fn id(&self) -> String {
        self.shared.options.identity.id()
    }

    /// The public key clients and exits pin.
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.options.identity.public_key()
    }

    /// How many exits are registered now.
    pub fn exit_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// What the relay counts ([`RelayMetrics::register`] exposes it).
    pub fn metrics(&self) -> Arc<RelayMetrics> {
        self.shared.metrics.clone()
    }

    /// Serves until `shutdown` completes, then closes every connection.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut sweep = tokio::time::interval(self.shared.options.sweep_interval);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = sweep.tick() => self.shared.sweep(),
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let peer = incoming.remote_address();
                    let options = &self.shared.options;
                    let load = Load {
                        from_ip: self.shared.per_ip.count(peer.ip()),
                        max_per_ip: options.max_connections_per_ip,
                        free: self.shared.connections.available_permits(),
                        max: options.max_connections,
                    };
                    match admit(incoming.remote_address_validated(), incoming.may_retry(), load) {
                        Admission::Accept => {}
                        Admission::Retry => {
                            let _ = incoming.retry();
                            continue;
                        }
                        Admission::Refuse => {
                            debug!(%peer, ?load, "connection limit reached");
                            incoming.refuse();
                            continue;
                        }
                    }
                    let (Ok(permit), Some(slot)) = (
                        self.shared.connections.clone().try_acquire_owned(),
                        self.shared.per_ip.try_acquire(peer.ip()),
                    ) else {
                        incoming.refuse();
                        continue;
                    };
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        let _held = (permit, slot);
                        match incoming.await {
                            Ok(conn) => shared.serve_connection(conn).await,
                            Err(e) => debug!("handshake failed: {e}"),
                        }
                    });
                }
            }
        }
        self.endpoint.close(0u32.into(), b"relay shutting down");
        let _ = timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }

    /// The registry of exits (for inspection).
    pub fn registry_keys(&self) -> Vec<ExitKeyEntry> {
        self.shared.registry.keys()
    }
}

impl Shared {
    fn sweep(&self) {
        for (exit_id, conn) in self
            .registry
            .evict_stale(Instant::now(), self.options.heartbeat_timeout)
        {
            info!(exit = %exit_id, "exit evicted after heartbeat timeout");
            conn.close(0u32.into(), b"heartbeat timeout");
        }
        self.metrics.exits.set(self.registry.len() as i64);
    }

    async fn serve_connection(self: Arc<Self>, conn: quinn::Connection) {
        let alpn = transport::alpn_of(&conn);
        debug!(peer = %conn.remote_address(), alpn = ?alpn.as_deref().map(String::from_utf8_lossy), "connection");
        let role = if alpn.as_deref() == Some(ALPN_EXIT) {
            "exit"
        } else {
            "client"
        };
        let open = self
            .metrics
            .connections
            .get_or_create(&Role { role })
            .clone();
        open.inc();
        if role == "exit" {
            self.clone().serve_exit(conn).await;
        } else {
            self.clone().serve_client(conn).await;
        }
        open.dec();
    }

    async fn serve_exit(self: Arc<Self>, conn: quinn::Connection) {
        let t = self.options.read_timeout;
        let Ok(Ok((send, recv))) = timeout(t, conn.accept_bi()).await else {
            return;
        };
        let Some(exit_id) = self.register_exit(&conn, send, recv, None).await else {
            return;
        };
        self.metrics.exits.set(self.registry.len() as i64);
        // A killed exit is dropped from the registry within seconds, not at the idle timeout.
        let _silence = crate::silence::watch(&conn, transport::KEEP_ALIVE);
        loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(s) => s,
                Err(e) => {
                    debug!(exit = %exit_id, "exit connection ended: {e}");
                    break;
                }
            };
            let shared = self.clone();
            let (exit_id, conn) = (exit_id.clone(), conn.clone());
            tokio::spawn(async move { shared.exit_stream(&exit_id, &conn, send, recv).await });
        }
        if self.registry.remove_if(&exit_id, conn.stable_id()) {
            info!(exit = %exit_id, "exit disconnected");
        }
        self.metrics.exits.set(self.registry.len() as i64);
    }

    /// Runs the registration exchange on one stream: the exit's first registration
    /// (`update_of` is `None`), or a registered exit publishing a new descriptor on its
    /// connection. Returns the exit id once the registry holds it.
    async fn register_exit(
        &self,
        conn: &quinn::Connection,
        mut send: SendStream,
        mut recv: RecvStream,
        update_of: Option<(&str, Frame)>,
    ) -> Option<String> {
        let t = self.options.read_timeout;
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).ok()?;
        let relay_id = self.options.identity.public_key();
        let mut exchange = RelayRegistration::new(Instant::now(), unix_now(), t, relay_id, nonce)
            .requiring_admission(self.options.trusted_authorities.clone());
        let update_of = update_of.map(|(id, first)| {
            exchange.handle_frame(Instant::now(), first);
            id
        });
        let outcome = loop {
            while let Some(frame) = exchange.poll_transmit() {
                if write_frame(&mut send, &frame).await.is_err() {
                    return None;
                }
            }
            if let Some(outcome) = exchange.poll_outcome() {
                break outcome;
            }
            let deadline = exchange.poll_timeout()?;
            let read = tokio::time::timeout_at(
                deadline.into(),
                read_frame(&mut recv, MAX_CONTROL_PAYLOAD),
            )
            .await;
            match read {
                Ok(Ok(frame)) => exchange.handle_frame(Instant::now(), frame),
                Ok(Err(_)) => {
                    if update_of.is_none() {
                        conn.close(1u32.into(), b"read register message failed");
                    }
                    return None;
                }
                Err(_) => exchange.handle_timeout(Instant::now()),
            }
        };
        let registered = outcome.and_then(|r| {
            let refused = |refusal| Err(RegistrationError::Refused(refusal));
            let exit_id = r.exit_id();
            let stored = match update_of {
                Some(id) if id != exit_id => return refused(Refusal::ExitIdMismatch),
                Some(id) => self
                    .registry
                    .update(id, conn.stable_id(), r.bytes, Instant::now())
                    .map(|()| None),
                None => {
                    self.registry
                        .register(exit_id.clone(), r.bytes, conn.clone(), Instant::now())
                }
            };
            match stored {
                Ok(old) => {
                    if let Some(old) = old {
                        info!(exit = %exit_id, "exit re-registered; closing its older connection");
                        old.close(0u32.into(), b"replaced by new connection");
                    }
                    Ok(exit_id)
                }
                Err(registry::RegisterError::Full) => refused(Refusal::RelayFull),
                Err(registry::RegisterError::NotRegistered) => refused(Refusal::NotRegistered),
            }
        });
        match &registered {
            Ok(_) => exchange.accept(),
            Err(RegistrationError::Refused(refusal)) => exchange.refuse(*refusal),
            Err(_) => {}
        }
        let mut sent = true;
        while let Some(frame) = exchange.poll_transmit() {
            sent &= write_frame(&mut send, &frame).await.is_ok();
        }
        match registered {
            Ok(exit_id) if sent => {
                let _ = send.finish();
                if update_of.is_some() {
                    info!(exit = %exit_id, "exit published a new descriptor");
                } else {
                    info!(exit = %exit_id, peer = %conn.remote_address(), exits = self.registry.len(), "exit registered");
                }
                Some(exit_id)
            }
            Ok(exit_id) => {
                if update_of.is_none() {
                    self.registry.remove_if(&exit_id, conn.stable_id());
                }
                None
            }
            Err(e) => {
                warn!(peer = %conn.remote_address(), "exit registration refused: {e}");
                let _ = send.finish();
                if update_of.is_none() {
                    // Let the refusal reach the exit before the close.
                    let _ = timeout(Duration::from_secs(1), send.stopped()).await;
                    conn.close(1u32.into(), b"registration refused");
                }
                None
            }
        }
    }

    /// A stream a registered exit opened: a heartbeat, or a Register publishing a new
    /// descriptor.
    async fn exit_stream(
        &self,
        exit_id: &str,
        conn: &quinn::Connection,
        mut send: SendStream,
        mut recv: RecvStream,
    ) {
        let frame = timeout(
            self.options.read_timeout,
            read_frame(&mut recv, MAX_CONTROL_PAYLOAD),
        )
        .await;
        let reply = match frame {
            Ok(Ok(f)) if f.kind == MessageType::Heartbeat => {
                if self
                    .registry
                    .touch(exit_id, conn.stable_id(), Instant::now())
                {
                    Frame::new(MessageType::HeartbeatAck, Vec::new())
                } else {
                    Frame::refusal(Refusal::NotRegistered)
                }
            }
            Ok(Ok(f)) if f.kind == MessageType::Register => {
                self.register_exit(conn, send, recv, Some((exit_id, f)))
                    .await;
                return;
            }
            Ok(Ok(_)) => Frame::refusal(Refusal::InvalidMessageType),
            _ => return,
        };
        let _ = write_frame(&mut send, &reply).await;
        let _ = send.finish();
    }

    async fn serve_client(self: Arc<Self>, conn: quinn::Connection) {
        loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(s) => s,
                Err(e) => {
                    debug!(peer = %conn.remote_address(), "client connection ended: {e}");
                    return;
                }
            };
            let shared = self.clone();
            tokio::spawn(async move { shared.client_stream(send, recv).await });
        }
    }

    async fn client_stream(&self, mut send: SendStream, mut recv: RecvStream) {
        let header = timeout(
            self.options.read_timeout,
            read_header(&mut recv, MAX_PAYLOAD_LEN),
        )
        .await;
        let header = match header {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                debug!("bad client frame: {e}");
                let _ = recv.stop(CANCELLED);
                return;
            }
            Err(_) => {
                debug!("client stream read timed out");
                let _ = recv.stop(CANCELLED);
                return;
            }
        };
        match header.kind {
            MessageType::QueryExitKeys => {
                let _ = recv.stop(0u32.into());
                let keys = self.registry.keys();
                let reply = match encode_exit_keys(&keys) {
                    Ok(json) => Frame::new(MessageType::ExitKeysResponse, json),
                    Err(_) => Frame::refusal(Refusal::ExitKeysUnavailable),
                };
                let _ = write_frame(&mut send, &reply).await;
                let _ = send.finish();
            }
            MessageType::Request | MessageType::StreamRequest => {
                self.forward(header, recv, send).await;
            }
            _ => {
                let _ = recv.stop(CANCELLED);
                let _ = write_frame(&mut send, &Frame::refusal(Refusal::InvalidMessageType)).await;
                let _ = send.finish();
            }
        }
    }

    /// Forwards one request to its exit and copies the answer back, frame by frame and in
    /// bounded pieces (the relay never holds a whole payload); cancels the exit's stream when the
    /// client stops reading or goes away.
    async fn forward(
        &self,
        header: FrameHeader,
        mut client_recv: RecvStream,
        mut client: SendStream,
    ) {
        let streamed = header.kind == MessageType::StreamRequest;
        let exit_conn = if header.target.is_empty() {
            Err(Refusal::MissingTarget)
        } else {
            self.registry
                .lookup(&header.target)
                .ok_or(Refusal::ExitNotFound)
        };
        let opened = match exit_conn {
            Ok(conn) => match timeout(self.options.read_timeout, conn.open_bi()).await {
                Ok(Ok(streams)) => Ok(streams),
                _ => {
                    self.registry.remove_if(&header.target, conn.stable_id());
                    Err(Refusal::ExitUnreachable)
                }
            },
            Err(e) => Err(e),
        };
        let (mut exit_send, mut exit_recv) = match opened {
            Ok(s) => s,
            Err(refusal) => {
                self.metrics.request(refusal.code().to_string());
                debug!(exit = %header.target, "cannot forward: {refusal}");
                let _ = client_recv.stop(0u32.into());
                let _ = write_frame(&mut client, &Frame::refusal(refusal)).await;
                let _ = client.finish();
                return;
            }
        };
        let upload = async {
            write_header(&mut exit_send, header.kind, "", header.payload_len)
                .await
                .map_err(|e| CopyError::Destination(std::io::Error::other(e)))?;
            copy_payload(&mut client_recv, &mut exit_send, header.payload_len).await
        };
        let deadline = upload_deadline(
            header.payload_len,
            self.options.min_upload_rate,
            self.options.upload_grace,
            self.options.exit_timeout,
        );
        match timeout(deadline, upload).await {
            Ok(Ok(())) => {
                let _ = exit_send.finish();
                self.metrics.request("forwarded");
                self.metrics.count_bytes("to_exit", header.payload_len);
            }
            Ok(Err(CopyError::Destination(e))) => {
                debug!("writing to exit failed: {e}");
                let _ = write_frame(&mut client, &Frame::refusal(Refusal::ExitWriteFailed)).await;
                let _ = client.finish();
                return;
            }
            Ok(Err(CopyError::Source(_))) | Err(_) => {
                debug!("client request did not arrive whole");
                let _ = exit_send.reset(CANCELLED);
                let _ = exit_recv.stop(CANCELLED);
                let _ = client.reset(CANCELLED);
                return;
            }
        }

        let client_gone = client.stopped();
        let copy = async {
            loop {
                let next = timeout(
                    self.options.exit_timeout,
                    read_header(&mut exit_recv, MAX_PAYLOAD_LEN),
                )
                .await;
                let h = match next {
                    Ok(Ok(h)) if answer_allowed(h.kind, streamed) => h,
                    Ok(Ok(_)) => {
                        return write_frame(
                            &mut client,
                            &Frame::refusal(Refusal::InvalidExitReply),
                        )
                        .await
                        .is_ok();
                    }
                    Ok(Err(e)) => {
                        debug!("reading from exit failed: {e}");
                        return write_frame(&mut client, &Frame::refusal(Refusal::ExitReadFailed))
                            .await
                            .is_ok();
                    }
                    Err(_) => {
                        return write_frame(&mut client, &Frame::refusal(Refusal::ExitTimedOut))
                            .await
                            .is_ok();
                    }
                };
                if write_header(&mut client, h.kind, "", h.payload_len)
                    .await
                    .is_err()
                {
                    return false;
                }
                let copied = timeout(
                    self.options.exit_timeout,
                    copy_payload(&mut exit_recv, &mut client, h.payload_len),
                )
                .await;
                self.metrics.count_bytes("to_client", h.payload_len);
                if !matches!(copied, Ok(Ok(()))) {
                    // A frame cut in the middle cannot be repaired: fail the client's stream.
                    return false;
                }
                if !streamed || matches!(h.kind, MessageType::StreamEnd | MessageType::Error) {
                    return true;
                }
            }
        };
        let completed = tokio::select! {
            done = copy => done,
            _ = client_gone => false,
        };
        if completed {
            let _ = client.finish();
        } else {
            debug!("client went away or the answer broke; cancelling the exit's stream");
            let _ = exit_recv.stop(CANCELLED);
            let _ = exit_send.reset(CANCELLED);
            let _ = client.reset(CANCELLED);
        }
    }
}

/// The frame types an exit may answer with.
fn answer_allowed(kind: MessageType, streamed: bool) -> bool {
    if streamed {
        matches!(
            kind,
            MessageType::StreamChunk | MessageType::StreamEnd | MessageType::Error
        )
    } else {
        matches!(kind, MessageType::Response | MessageType::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_gets_its_grace_plus_its_size_at_the_minimum_rate() {
        let (grace, cap) = (Duration::from_secs(10), Duration::from_secs(300));
        let rate = 64 * 1024;
        assert_eq!(upload_deadline(0, rate, grace, cap), grace);
        assert_eq!(
            upload_deadline(16 * 1024 * 1024, rate, grace, cap),
            Duration::from_secs(10 + 256)
        );
        assert_eq!(upload_deadline(usize::MAX, rate, grace, cap), cap);
        assert_eq!(
            upload_deadline(1024, 0, grace, cap),
            Duration::from_secs(1034).min(cap)
        );
    }
}
