//! `tokengo serve`: relay, exit and client proxy in one process, on loopback by default.
//!
//! The relay gets a fresh identity that the exit and the client pin; the exit's OHTTP key is
//! kept in memory unless a key file is given. [`Stack::start`] returns once the exit is
//! registered and the proxy is listening, so the API URL it reports is usable at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::client::proxy::{self, ProxyOptions};
use crate::client::{ClientError, ClientOptions, GatewayClient};
use crate::exit::backend::BackendOptions;
use crate::exit::{Exit, ExitError, ExitOptions};
use crate::keyfile::KeyFile as _;
use crate::relay::{Relay, RelayOptions};
use crate::relay_source::static_relay;
use crate::shutdown::{self, Trigger};
use crate::transport::TlsError;
use tokengo_gateway_proto::identity::{Identity, IdentityError};
use tokengo_gateway_proto::keys::{KeyError, OhttpKeyPair};

/// What the stack runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The backend.
    pub backend: BackendOptions,
    /// Local API address.
    pub listen: SocketAddr,
    /// Relay address (port 0: any free port).
    pub relay_listen: SocketAddr,
    /// OHTTP key file to load or create; in memory when absent.
    pub ohttp_key: Option<PathBuf>,
    /// Proxy settings.
    pub proxy: ProxyOptions,
    /// How long the exit gathers streamed pieces into one sealed chunk.
    pub chunk_interval: std::time::Duration,
}

impl ServeOptions {
    /// Loopback defaults for `backend`.
    pub fn new(backend: BackendOptions) -> Self {
        Self {
            backend,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            relay_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ohttp_key: None,
            proxy: ProxyOptions::default(),
            chunk_interval: crate::exit::DEFAULT_CHUNK_INTERVAL,
        }
    }
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The relay's identity could not be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The exit's key could not be loaded or made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The relay's endpoint could not be made.
    #[error("relay: {0}")]
    Relay(#[from] TlsError),
    /// The exit could not be set up.
    #[error(transparent)]
    Exit(#[from] ExitError),
    /// The exit did not register with the local relay in time.
    #[error("exit did not register with the local relay")]
    NotRegistered,
    /// The client could not reach the exit.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A socket could not be bound or asked its address.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    api_addr: SocketAddr,
    relay_addr: SocketAddr,
    exit_id: String,
    trigger: Trigger,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// Starts relay, exit and proxy; returns once requests can flow.
    pub async fn start(options: ServeOptions) -> Result<Self, ServeError> {
        let identity = Identity::generate()?;
        let relay = Relay::bind(RelayOptions::new(options.relay_listen, identity))?;
        let relay_addr = relay.local_addr().map_err(|source| ServeError::Listen {
            addr: options.relay_listen,
            source,
        })?;
        let relay_pin = relay.public_key();
        let key = match &options.ohttp_key {
            Some(path) => OhttpKeyPair::load_or_generate(path)?.0,
            None => OhttpKeyPair::generate()?,
        };
        let mut exit_options = ExitOptions::new(
            static_relay(relay_addr.to_string(), Some(relay_pin)),
            key,
            options.backend.clone(),
        );
        exit_options.chunk_interval = options.chunk_interval;
        let exit = Exit::new(exit_options)?;
        let exit_id = exit.identity_key();
        let mut registered = exit.registrations();
        let (trigger, signal) = shutdown::channel();
        let mut tasks = Vec::new();
        let s = signal.clone();
        tasks.push(tokio::spawn(async move { relay.run(s.wait()).await }));
        let s = signal.clone();
        tasks.push(tokio::spawn(async move {
            let _ = exit.run(s.wait()).await;
        }));
        tokio::time::timeout(Duration::from_secs(10), registered.wait_for(|n| *n > 0))
            .await
            .map_err(|_| ServeError::NotRegistered)?
            .map_err(|_| ServeError::NotRegistered)?;
        let client = Arc::new(GatewayClient::new(
            static_relay(relay_addr.to_string(), Some(relay_pin)),
            ClientOptions {
                trusted_exits: vec![exit_id],
                ..ClientOptions::default()
            },
        ));
        client.ready().await?;
        let listen_error = |source| ServeError::Listen {
            addr: options.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(listen_error)?;
        let api_addr = listener.local_addr().map_err(listen_error)?;
        let s = signal.clone();
        let proxy_options = options.proxy.clone();
        tasks.push(tokio::spawn(async move {
            let _ = proxy::serve(listener, client, proxy_options, s.wait()).await;
        }));
        Ok(Self {
            api_addr,
            relay_addr,
            exit_id: hex::encode(exit_id),
            trigger,
            tasks,
        })
    }

    /// The local API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The base URL apps use (OpenAI-style clients append `/chat/completions` etc.).
    pub fn api_url(&self) -> String {
        format!("http://{}/v1", self.api_addr)
    }

    /// The local relay's address.
    pub fn relay_addr(&self) -> SocketAddr {
        self.relay_addr
    }

    /// The exit's id (hex of its identity key).
    pub fn exit_id(&self) -> &str {
        &self.exit_id
    }

    /// Stops everything and waits (at most a few seconds) for it to finish.
    pub async fn stop(self) {
        self.trigger.fire();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}
