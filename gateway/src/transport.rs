//! QUIC endpoints and the trust model between clients, exits and relays.
//!
//! A relay's TLS certificate is self-signed with its Ed25519 identity key. Clients and exits
//! verify the TLS 1.3 handshake signature against the certificate's key and, when given the
//! relay's id (hex public key), require that key to be the pinned one. Without a pin any relay key
//! is accepted (logged as a warning): the transport is then only encrypted, not authenticated.
//! Request content never depends on this: it is sealed end to end to the exit's OHTTP key, which
//! a client may pin separately (`--exit-key-hash`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use tokengo_gateway_proto::identity::{Identity, PUBLIC_KEY_LEN};

/// ALPN of client connections to a relay.
pub const ALPN_CLIENT: &[u8] = b"tokengo-relay";
/// ALPN of exit connections to a relay.
pub const ALPN_EXIT: &[u8] = b"tokengo-exit";
/// The server name used in TLS (relays are identified by key, not by name).
pub const SERVER_NAME: &str = "tokengo-relay";
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why an endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// No QUIC-capable cipher suite.
    #[error("quic crypto: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// Binding the UDP socket failed.
    #[error("bind: {0}")]
    Io(#[from] std::io::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider (needed by reqwest); later calls, and a
/// provider this process installed already, are fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a relay could not be dialled.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The relay's name did not resolve.
    #[error("resolve {target}: {source}")]
    Resolve {
        /// The `host:port` given.
        target: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The relay's name resolved to no address.
    #[error("resolve {target}: no address")]
    NoAddress {
        /// The `host:port` given.
        target: String,
    },
    /// The endpoint or its TLS configuration could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// QUIC refused to start the connection.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The handshake failed (wrong key, refused, lost).
    #[error("handshake: {0}")]
    Handshake(#[from] quinn::ConnectionError),
    /// The handshake did not finish in time.
    #[error("connect timed out")]
    TimedOut,
    /// The relay's certificate carries no Ed25519 identity key.
    #[error("the relay showed no identity key")]
    NoIdentity,
}

/// Resolves `host:port` to one socket address.
pub async fn resolve(target: &str) -> Result<SocketAddr, DialError> {
    if let Ok(a) = target.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(target)
        .await
        .map_err(|source| DialError::Resolve {
            target: target.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| DialError::NoAddress {
            target: target.to_string(),
        })
}

/// Dials relays: one client socket per address family, made on first use and shared by every
/// connection (clients, exits and relay probes all dial through one of these).
#[derive(Debug, Default)]
pub struct Dialer {
    sockets: Mutex<[Option<quinn::Endpoint>; 2]>,
}

/// What to dial and how.
#[derive(Debug, Clone, Copy)]
pub struct DialOptions<'a> {
    /// The ALPN: [`ALPN_CLIENT`] or [`ALPN_EXIT`].
    pub alpn: &'a [u8],
    /// The relay's identity key, when known.
    pub pin: Option<[u8; PUBLIC_KEY_LEN]>,
    /// The connection's limits.
    pub limits: TransportLimits,
    /// Deadline of the handshake.
    pub timeout: Duration,
}

impl Dialer {
    /// A dialer with no socket yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn socket(&self, ipv6: bool) -> Result<quinn::Endpoint, TlsError> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut sockets[usize::from(ipv6)];
        if let Some(e) = slot {
            return Ok(e.clone());
        }
        let e = client_socket(ipv6)?;
        *slot = Some(e.clone());
        Ok(e)
    }

    /// Resolves `target` (`host:port`) and completes a QUIC handshake with it.
    pub async fn dial(
        &self,
        target: &str,
        options: DialOptions<'_>,
    ) -> Result<quinn::Connection, DialError> {
        let addr = resolve(target).await?;
        let config = client_config(options.alpn, options.pin, options.limits)?;
        let connecting = self
            .socket(addr.is_ipv6())?
            .connect_with(config, addr, SERVER_NAME)?;
        tokio::time::timeout(options.timeout, connecting)
            .await
            .map_err(|_| DialError::TimedOut)?
            .map_err(DialError::Handshake)
    }

    /// One handshake with the relay at `addr`, closed at once; returns the identity key the
    /// relay proved in it (how relays found in the DHT are measured and pinned).
    pub async fn probe(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<[u8; PUBLIC_KEY_LEN], DialError> {
        let limits = TransportLimits {
            max_streams: 0,
            idle_timeout: Duration::from_secs(10),
            keep_alive: None,
            ..TransportLimits::to_relay(0)
        };
        let options = DialOptions {
            alpn: ALPN_CLIENT,
            pin: None,
            limits,
            timeout,
        };
        let conn = self.dial(&addr.to_string(), options).await?;
        let key = peer_key(&conn);
        conn.close(0u32.into(), b"probe");
        key.ok_or(DialError::NoIdentity)
    }

    /// Closes the sockets (their connections with them).
    pub fn close(&self) {
        let sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        for e in sockets.iter().flatten() {
            e.close(0u32.into(), b"closed");
        }
    }
}

/// The identity key a relay proved in the handshake of `conn`.
pub fn peer_key(conn: &quinn::Connection) -> Option<[u8; PUBLIC_KEY_LEN]> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?
        .first()
        .and_then(relay_key_of)
}

/// How much a relay buffers of what one stream sends it before the sender must wait.
pub const RELAY_STREAM_WINDOW: u32 = 256 * 1024;
/// How much a relay buffers of what one connection sends it, all streams together: with
/// [`RelayOptions::max_connections`](crate::relay::RelayOptions) connections this bounds the
/// relay's receive buffers (4096 x 1 MiB).
pub const RELAY_CONNECTION_WINDOW: u32 = 1024 * 1024;
/// What a client or an exit buffers of one stream from its relay.
pub const DIALER_STREAM_WINDOW: u32 = 1024 * 1024;
/// What a client or an exit buffers of its relay connection, all streams together.
pub const DIALER_CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

/// How often both ends of a relay connection ping when nothing else is sent: each hears the
/// other (its pings, or the acknowledgements of its own) at least this often, whatever the
/// other's version pings at, and watches for silence past it ([`crate::silence`]).
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// Transport limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    /// Concurrent bidirectional streams a peer may open.
    pub max_streams: u32,
    /// Idle time after which the connection is dropped.
    pub idle_timeout: Duration,
    /// Keep-alive interval (sent by the side that has it set).
    pub keep_alive: Option<Duration>,
    /// Bytes of one stream received before the peer must wait (QUIC stream flow control).
    pub stream_window: u32,
    /// Bytes of the whole connection received, and sent unacknowledged, before the peer
    /// (or this side) must wait.
    pub connection_window: u32,
}

impl TransportLimits {
    /// Limits for a connection this side dialled to a relay (client or exit).
    ///
    /// A relay that vanishes without closing (killed, or its host gone) sends nothing more.
    /// The dialling side pings every [`KEEP_ALIVE`], so a live relay is heard at least
    /// that often, and watches for silence ([`crate::silence`]): a dead relay is noticed
    /// about two seconds after it died on a short path. The idle timeout (the smaller of the two
    /// sides' is in force) stays as the backstop.
    pub fn to_relay(max_streams: u32) -> Self {
        TransportLimits {
            max_streams,
            idle_timeout: Duration::from_secs(8),
            keep_alive: Some(KEEP_ALIVE),
            stream_window: DIALER_STREAM_WINDOW,
            connection_window: DIALER_CONNECTION_WINDOW,
        }
    }
}

fn transport(limits: TransportLimits) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(limits.max_streams.into());
    t.max_concurrent_uni_streams(0u32.into());
    t.max_idle_timeout(quinn::IdleTimeout::try_from(limits.idle_timeout).ok());
    t.keep_alive_interval(limits.keep_alive);
    t.stream_receive_window(limits.stream_window.into());
    t.receive_window(limits.connection_window.into());
    t.send_window(u64::from(limits.connection_window));
    Arc::new(t)
}

/// A relay's QUIC server endpoint on `addr`, accepting both ALPNs.
pub fn relay_endpoint(
    identity: &Identity,
    addr: SocketAddr,
    limits: TransportLimits,
) -> Result<quinn::Endpoint, TlsError> {
    let key_der = PrivatePkcs8KeyDer::from(identity.pkcs8_der().to_vec());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_ED25519)?;
    let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])?;
    let cert = params.self_signed(&key_pair)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key_der))?;
    tls.alpn_protocols = vec![ALPN_CLIENT.to_vec(), ALPN_EXIT.to_vec()];
    let crypto = QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(limits));
    // Stateless-reset tokens derived from the identity survive a restart, so peers of the old
    // process learn at once that their connection is gone instead of waiting for the idle timeout.
    let mut seed = b"tokengo stateless reset key\0".to_vec();
    seed.extend_from_slice(identity.pkcs8_der());
    let digest = ring::digest::digest(&ring::digest::SHA256, &seed);
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, digest.as_ref());
    let socket = std::net::UdpSocket::bind(addr)?;
    Ok(quinn::Endpoint::new(
        quinn::EndpointConfig::new(Arc::new(reset_key)),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )?)
}

/// The QUIC client configuration for dialling a relay with `alpn`, pinned to `pin` if given.
pub fn client_config(
    alpn: &[u8],
    pin: Option<[u8; PUBLIC_KEY_LEN]>,
    limits: TransportLimits,
) -> Result<quinn::ClientConfig, TlsError> {
    let verifier = Arc::new(RelayKeyVerifier {
        pin,
        provider: provider(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(limits));
    Ok(config)
}

/// An unbound-port client endpoint for the address family of the relays it will dial.
pub fn client_socket(ipv6: bool) -> Result<quinn::Endpoint, TlsError> {
    let bind: SocketAddr = if ipv6 {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    Ok(quinn::Endpoint::client(bind)?)
}

/// A client-side endpoint (used by clients and exits) that dials relays.
pub fn dialer_endpoint(
    alpn: &[u8],
    pin: Option<[u8; PUBLIC_KEY_LEN]>,
    limits: TransportLimits,
    ipv6: bool,
) -> Result<quinn::Endpoint, TlsError> {
    let mut endpoint = client_socket(ipv6)?;
    endpoint.set_default_client_config(client_config(alpn, pin, limits)?);
    Ok(endpoint)
}

/// The Ed25519 key of a relay certificate, if it is one.
pub fn relay_key_of(cert: &CertificateDer<'_>) -> Option<[u8; PUBLIC_KEY_LEN]> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    key.try_into().ok()
}

/// Accepts a relay certificate whose Ed25519 key is the pinned one (or any key without pin);
/// the handshake signature proves possession of that key.
#[derive(Debug)]
struct RelayKeyVerifier {
    pin: Option<[u8; PUBLIC_KEY_LEN]>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for RelayKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let key = relay_key_of(end_entity).ok_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadEncoding,
        ))?;
        match self.pin {
            Some(pin) if pin != key => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The negotiated ALPN of a connection.
pub fn alpn_of(conn: &quinn::Connection) -> Option<Vec<u8>> {
    conn.handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .protocol
}
