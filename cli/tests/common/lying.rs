//! A relay that lies: a real QUIC server with a relay's identity that answers QueryExitKeys
//! with whatever list the test gives it, and counts (and refuses) every request frame it gets,
//! so a test can tell whether a client ever sent anything sealed its way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokengo_gateway::frame_io::{read_frame, write_frame};
use tokengo_gateway::transport::{self, TransportLimits};
use tokengo_gateway::{RelayCandidate, StaticRelays};
use tokengo_gateway_proto::Refusal;
use tokengo_gateway_proto::control::{ExitKeyEntry, encode_exit_keys};
use tokengo_gateway_proto::frame::{Frame, MAX_PAYLOAD_LEN, MessageType};
use tokengo_gateway_proto::identity::Identity;
use tokio::task::JoinHandle;

/// A running lying relay.
pub struct LyingRelay {
    pub addr: SocketAddr,
    pub pin: [u8; 32],
    /// Request frames received.
    pub requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl LyingRelay {
    /// Binds on a fresh loopback address `127.0.0.N` (N from `host`) and lists `entries`.
    pub fn start(host: u8, entries: Vec<ExitKeyEntry>) -> Self {
        transport::install_crypto_provider();
        let identity = Identity::generate().expect("identity");
        let limits = TransportLimits {
            max_streams: 64,
            idle_timeout: Duration::from_secs(30),
            keep_alive: None,
            ..TransportLimits::to_relay(0)
        };
        let at: SocketAddr = format!("127.0.0.{host}:0").parse().expect("addr");
        let endpoint = transport::relay_endpoint(&identity, at, limits).expect("endpoint");
        let addr = endpoint.local_addr().expect("bound");
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let list = Arc::new(encode_exit_keys(&entries).expect("json"));
        let task = tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let (list, counted) = (list.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        let (list, counted) = (list.clone(), counted.clone());
                        tokio::spawn(async move {
                            let Ok(frame) = read_frame(&mut recv, MAX_PAYLOAD_LEN).await else {
                                return;
                            };
                            let reply = match frame.kind {
                                MessageType::QueryExitKeys => {
                                    Frame::new(MessageType::ExitKeysResponse, list.to_vec())
                                }
                                _ => {
                                    counted.fetch_add(1, Ordering::SeqCst);
                                    Frame::refusal(Refusal::ExitTimedOut)
                                }
                            };
                            let _ = write_frame(&mut send, &reply).await;
                            let _ = send.finish();
                        });
                    }
                });
            }
        });
        Self {
            addr,
            pin: identity.public_key(),
            requests,
            task,
        }
    }

    pub fn candidate(&self) -> RelayCandidate {
        RelayCandidate {
            addr: self.addr.to_string(),
            pin: Some(self.pin),
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for LyingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A relay source over these lying relays, in this order.
pub fn relays(relays: &[&LyingRelay]) -> Arc<StaticRelays> {
    Arc::new(StaticRelays(relays.iter().map(|r| r.candidate()).collect()))
}
