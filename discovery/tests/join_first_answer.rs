//! Joining waits for the first bootstrap node to answer, not for the whole bootstrap: a relay
//! lookup needs one node that answers, and waiting for the bootstrap's lookups (our own id,
//! then the far buckets) would put their round trips before every client's and exit's start.
//! The bootstrap node here is a real UDP socket that answers pings but never a find_node, so a
//! join that waited for the bootstrap would wait out its lookup; this one returns with the node
//! in the table while the bootstrap lookup is still running.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokengo_core::krpc::{self, Body, Message, Query, Response};
use tokengo_core::{Config, Id, Network};
use tokengo_discovery::bootstrap::{Batch, Source};
use tokengo_discovery::progress::NoProgress;
use tokengo_tokio::Dht;

/// Answers pings only; returns its address.
fn ping_only_node(stop: Arc<AtomicBool>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(query) = krpc::decode(&buf[..n]) else {
                continue;
            };
            if !matches!(query.body, Body::Query(Query::Ping { .. })) {
                continue;
            }
            let reply = Message {
                transaction_id: query.transaction_id,
                version: None,
                requester_ip: None,
                read_only: false,
                network: query.network,
                body: Body::Response(Response::with_id(Id([0x42; 20]))),
            };
            let _ = socket.send_to(&reply.to_vec().unwrap(), from);
        }
    });
    addr
}

#[tokio::test]
async fn a_join_ends_at_the_first_answer_while_the_bootstrap_goes_on() {
    let stop = Arc::new(AtomicBool::new(false));
    let node = ping_only_node(stop.clone());
    let config = Config {
        seed: 11,
        network: Network::tokengo(),
        read_only: true,
        ..Config::default()
    };
    let dht = Dht::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let (batches, sources) = tokio::sync::mpsc::channel(1);
    batches
        .send(Batch {
            source: Source::Configured,
            addrs: vec![node],
        })
        .await
        .unwrap();
    drop(batches);
    let report = tokengo_discovery::join(&dht, sources, Duration::from_secs(8), &NoProgress).await;
    assert_eq!(report.table_size, 1, "the node that answered the ping");
    assert_eq!(report.tried, vec![node]);
    let stats = dht.stats().await.unwrap();
    assert!(
        stats.active_lookups >= 1,
        "the bootstrap's lookup is still waiting for its find_node: {stats:?}"
    );
    stop.store(true, Ordering::Relaxed);
}
