//! A lying DHT responder cannot turn `tokengo client` into a reflector or a scanner: it answers
//! the relay lookup with 150 addresses (duplicates and port 0 among them), every one a real UDP
//! socket on loopback that records the QUIC handshakes it is sent. The client, a real process,
//! must start at most 32 handshakes in its round, one per address.
//!
//! An unspecified IP is not among the lies: in the private network `0.0.0.0:P` is how a node
//! says "me, at port P", so it names the responder's own address, never a third party's.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::procs::{free_tcp, spawn, wait_for};
use tokengo_core::Id;
use tokengo_core::krpc::{self, Body, CompactNodes, Message, PeerList, Query, Response};

const LISTENERS: usize = 150;

/// Destination connection ids of the QUIC Initial packets each listener received.
type Seen = Arc<Mutex<HashMap<SocketAddr, HashSet<Vec<u8>>>>>;

/// The destination connection id of a QUIC long-header packet.
fn initial_dcid(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.first()? & 0x80 == 0 {
        return None;
    }
    let len = usize::from(*packet.get(5)?);
    packet.get(6..6 + len).map(<[u8]>::to_vec)
}

fn listen(socket: UdpSocket, seen: Seen, stop: Arc<AtomicBool>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let at = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = socket.recv_from(&mut buf)
                && let Some(dcid) = initial_dcid(&buf[..n])
            {
                seen.lock().unwrap().entry(at).or_default().insert(dcid);
            }
        }
    });
}

/// Answers every query as a node of the private network would, and every get_peers with
/// `values`.
fn lie(socket: UdpSocket, values: Vec<SocketAddr>, stop: Arc<AtomicBool>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    std::thread::spawn(move || {
        let id = Id([0x5a; 20]);
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(query) = krpc::decode(&buf[..n]) else {
                continue;
            };
            let Body::Query(q) = &query.body else {
                continue;
            };
            let mut response = Response::with_id(id);
            response.nodes = CompactNodes::new(&[]);
            if matches!(q, Query::GetPeers { .. }) {
                response.token = Some(b"token");
                response.values = Some(PeerList::Addrs(&values));
            }
            let reply = Message {
                transaction_id: query.transaction_id,
                version: None,
                requester_ip: None,
                read_only: false,
                network: query.network,
                body: Body::Response(response),
            };
            let _ = socket.send_to(&reply.to_vec().unwrap(), from);
        }
    });
}

#[test]
fn a_lying_dht_responder_gets_at_most_32_handshakes_one_per_address() {
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut listeners = Vec::new();
    for i in 0..LISTENERS {
        let ip = Ipv4Addr::new(127, 21, (i / 50) as u8, (i % 50 + 1) as u8);
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        listeners.push(socket.local_addr().unwrap());
        listen(socket, seen.clone(), stop.clone());
    }
    let mut values = vec![SocketAddr::new(listeners[0].ip(), 0)];
    for (i, &addr) in listeners.iter().enumerate() {
        values.push(addr);
        if i < 5 {
            values.extend([addr; 4]);
        }
    }
    let liar = UdpSocket::bind("127.0.0.1:0").unwrap();
    let liar_addr = liar.local_addr().unwrap().to_string();
    lie(liar, values, stop.clone());

    let listen_at = format!("127.0.0.1:{}", free_tcp());
    let (_client, out) = spawn(&[
        "client",
        "--listen",
        &listen_at,
        "--no-default-bootstrap",
        "--bootstrap-peer",
        &liar_addr,
    ]);
    let lines = wait_for(&out, "relays, measuring latency");
    // One round: handshakes wait 3 s for an answer that never comes; read well within it.
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, Ordering::Relaxed);
    let seen = seen.lock().unwrap().clone();

    let found = lines.last().unwrap();
    assert!(found.contains("Found 32 relays"), "{found}");
    assert!(
        seen.len() <= tokengo_discovery::candidates::MAX_PROBED,
        "{} addresses probed in one round",
        seen.len()
    );
    assert!(seen.len() >= 16, "only {} addresses probed", seen.len());
    for (addr, handshakes) in &seen {
        assert_eq!(
            handshakes.len(),
            1,
            "{addr} got {} handshakes",
            handshakes.len()
        );
    }
}
