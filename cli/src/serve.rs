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

use crate::client::proxy::{ProxyOptions, router};
use crate::client::{ClientOptions, GatewayClient, RelayCandidate, StaticRelays};
use crate::exit::backend::BackendOptions;
use crate::exit::{Exit, ExitOptions};
use crate::identity::Identity;
use crate::keys::OhttpKeyPair;
use crate::relay::{Relay, RelayOptions};
use crate::shutdown::{self, Trigger};

/// `serve` settings.
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
        }
    }
}

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A component failed to start.
    #[error("{0}")]
    Start(String),
}

fn start_err(e: impl std::fmt::Display) -> ServeError {
    ServeError::Start(e.to_string())
}

/// A running stack.
#[derive(Debug)]
pub struct Stack {
    api_addr: SocketAddr,
    relay_addr: SocketAddr,
    exit_hash: String,
    trigger: Trigger,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// Starts relay, exit and proxy; returns once requests can flow.
    pub async fn start(options: ServeOptions) -> Result<Self, ServeError> {
        let identity = Identity::generate().map_err(start_err)?;
        let relay =
            Relay::bind(RelayOptions::new(options.relay_listen, identity)).map_err(start_err)?;
        let relay_addr = relay.local_addr().map_err(start_err)?;
        let relay_pin = relay.public_key();
        let key = match &options.ohttp_key {
            Some(path) => OhttpKeyPair::load_or_generate(path).map_err(start_err)?.0,
            None => OhttpKeyPair::generate().map_err(start_err)?,
        };
        let mut exit_options =
            ExitOptions::new(relay_addr.to_string(), key, options.backend.clone());
        exit_options.relay_pin = Some(relay_pin);
        let exit = Exit::new(exit_options).map_err(start_err)?;
        let exit_hash = exit.pub_key_hash().to_string();
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
            .map_err(|_| ServeError::Start("exit did not register with the local relay".into()))?
            .map_err(start_err)?;
        let client = Arc::new(GatewayClient::new(
            Arc::new(StaticRelays(vec![RelayCandidate {
                addr: relay_addr.to_string(),
                pin: Some(relay_pin),
            }])),
            ClientOptions {
                exit_pin: Some(exit_hash.clone()),
                ..ClientOptions::default()
            },
        ));
        client.ready().await.map_err(start_err)?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| ServeError::Start(format!("listen on {}: {e}", options.listen)))?;
        let api_addr = listener.local_addr().map_err(start_err)?;
        let app = router(client, options.proxy.clone());
        let s = signal.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(s.wait())
                .await;
        }));
        Ok(Self {
            api_addr,
            relay_addr,
            exit_hash,
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

    /// The exit's pubKeyHash.
    pub fn exit_hash(&self) -> &str {
        &self.exit_hash
    }

    /// Stops everything and waits (at most a few seconds) for it to finish.
    pub async fn stop(self) {
        self.trigger.fire();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}
