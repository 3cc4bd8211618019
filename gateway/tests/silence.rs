//! The silence watch on real QUIC connections over loopback: a relay that stops answering
//! (every datagram between the two dropped by a UDP forwarder in the middle, both processes
//! alive, nothing closed) is closed by the watch, long before QUIC's idle timeout; a live idle
//! relay is not; and dropping the guard with the connection closes it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokengo_gateway::silence;
use tokengo_gateway::transport::{
    self, ALPN_CLIENT, DialOptions, Dialer, KEEP_ALIVE, TransportLimits,
};
use tokengo_gateway_proto::identity::Identity;
use tokio::net::UdpSocket;

/// Forwards datagrams between one client and `server` until `cut` is set, then drops them all.
async fn forwarder(server: SocketAddr, cut: Arc<AtomicBool>) -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    upstream.connect(server).await.expect("connect");
    let addr = socket.local_addr().expect("addr");
    let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    {
        let (socket, upstream, client, cut) = (
            socket.clone(),
            upstream.clone(),
            client.clone(),
            cut.clone(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                *client.lock().expect("lock") = Some(from);
                if !cut.load(Ordering::SeqCst) {
                    let _ = upstream.send(&buf[..n]).await;
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = upstream.recv(&mut buf).await {
            let to = *client.lock().expect("lock");
            if let (Some(to), false) = (to, cut.load(Ordering::SeqCst)) {
                let _ = socket.send_to(&buf[..n], to).await;
            }
        }
    });
    addr
}

/// A relay endpoint and a connection to it from a client through a forwarder.
struct Pair {
    client: quinn::Connection,
    server: quinn::Connection,
    cut: Arc<AtomicBool>,
    _relay: quinn::Endpoint,
}

async fn pair() -> Pair {
    transport::install_crypto_provider();
    let identity = Identity::generate().expect("identity");
    let limits = TransportLimits {
        max_streams: 4,
        idle_timeout: Duration::from_secs(120),
        keep_alive: None,
        ..TransportLimits::to_relay(4)
    };
    let relay = transport::relay_endpoint(&identity, "127.0.0.1:0".parse().expect("addr"), limits)
        .expect("relay endpoint");
    let cut = Arc::new(AtomicBool::new(false));
    let via = forwarder(relay.local_addr().expect("addr"), cut.clone()).await;
    let accept = {
        let relay = relay.clone();
        tokio::spawn(async move {
            relay
                .accept()
                .await
                .expect("incoming")
                .await
                .expect("handshake")
        })
    };
    let options = DialOptions {
        alpn: ALPN_CLIENT,
        pin: Some(identity.public_key()),
        limits: TransportLimits::to_relay(0),
        timeout: Duration::from_secs(5),
    };
    let client = Dialer::new()
        .dial(&via.to_string(), options)
        .await
        .expect("dial");
    let server = accept.await.expect("accept");
    Pair {
        client,
        server,
        cut,
        _relay: relay,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_falls_silent_is_closed_by_the_watch_before_the_idle_timeout() {
    let p = pair().await;
    let _watch = silence::watch(&p.client, KEEP_ALIVE);
    // Alive and idle for three watch limits on loopback: the keep-alive keeps it open.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        p.client.close_reason().is_none(),
        "closed while the relay answered: {:?}",
        p.client.close_reason()
    );
    p.cut.store(true, Ordering::SeqCst);
    // The dialler's idle timeout is 8 s: only the watch closes it locally before then.
    let reason = tokio::time::timeout(Duration::from_secs(30), p.client.closed())
        .await
        .expect("closed at all");
    assert_eq!(reason, quinn::ConnectionError::LocallyClosed, "{reason}");
    drop(p.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_guard_with_the_connection_closes_it() {
    let p = pair().await;
    let watch = silence::watch(&p.client, KEEP_ALIVE);
    drop(watch);
    drop(p.client);
    // The watch held a handle to the connection: had it kept running, the connection would
    // stay open (the keep-alive answered) and the relay would see no close.
    let reason = tokio::time::timeout(Duration::from_secs(5), p.server.closed())
        .await
        .expect("the relay saw the connection close");
    assert!(
        matches!(reason, quinn::ConnectionError::ApplicationClosed(_)),
        "{reason}"
    );
}
