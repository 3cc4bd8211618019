//! Memory bounds on the relay under abuse, over real QUIC on loopback: an attacker who runs an
//! exit that never reads and a client that sends into it can make the relay buffer no more
//! than its flow-control windows.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokengo_gateway::frame_io::{read_frame, write_frame, write_header};
use tokengo_gateway::transport::{ALPN_CLIENT, ALPN_EXIT, TransportLimits};
use tokengo_gateway::unix_now;
use tokengo_gateway_proto::descriptor::ExitDescriptor;
use tokengo_gateway_proto::frame::{Frame, MessageType};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;

const MIB: usize = 1024 * 1024;

/// Registers an exit that will never read a stream; returns its connection (keep it open).
async fn stalled_exit(relay: &common::RunningRelay, exit: &Identity) -> quinn::Connection {
    let limits = TransportLimits {
        max_streams: 64,
        idle_timeout: Duration::from_secs(30),
        keep_alive: Some(Duration::from_secs(2)),
        stream_window: 64 * 1024,
        connection_window: 256 * 1024,
    };
    let conn = common::raw_connection(relay, ALPN_EXIT, limits).await;
    let descriptor = ExitDescriptor {
        exit_id: exit.public_key(),
        key_configs: vec![OhttpKeyPair::generate().expect("key").public().clone()],
        models: vec![],
        valid_from: unix_now() - 60,
        valid_until: unix_now() + 3600,
        sequence: 1,
        admissions: vec![],
    }
    .sign(exit)
    .expect("sign");
    let ack = common::hand_register::register_by_hand(
        &conn,
        &relay.pin,
        &exit.id(),
        &descriptor,
        Some(exit),
    )
    .await;
    assert_eq!(ack.kind, MessageType::RegisterAck);
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_exit_cannot_make_the_relay_buffer_more_than_its_window() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let exit = Identity::generate().expect("exit");
    let _exit_conn = stalled_exit(&relay, &exit).await;
    let conn = common::raw_connection(&relay, ALPN_CLIENT, TransportLimits::to_relay(0)).await;
    // Eight requests of 1 MiB each into an exit that reads nothing: whatever the client
    // manages to write sits in the relay (or the exit's small window).
    let written = Arc::new(AtomicUsize::new(0));
    let streams = 8;
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let (mut send, _recv) = conn.open_bi().await.expect("stream");
        let (written, target) = (written.clone(), exit.id());
        tasks.push(tokio::spawn(async move {
            write_header(&mut send, MessageType::Request, &target, MIB)
                .await
                .expect("header");
            let chunk = vec![0u8; 16 * 1024];
            for _ in 0..MIB / chunk.len() {
                if send.write_all(&chunk).await.is_err() {
                    return;
                }
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            let _ = _recv;
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let total = written.load(Ordering::SeqCst);
    for t in tasks {
        t.abort();
    }
    // The relay takes at most its connection window (1 MiB) from the client, and the exit at
    // most its own (256 KiB) from the relay; without the relay's window all 8 MiB went in.
    assert!(
        total <= 2 * MIB,
        "the client pushed {total} bytes into the relay for an exit that reads nothing"
    );
    assert!(total > 0, "the relay accepted nothing at all");
    conn.close(0u32.into(), b"done");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_upload_is_cut_at_the_minimum_rate() {
    tokengo_gateway::transport::install_crypto_provider();
    let backend = common::backend().await;
    let relay = common::relay_with(
        "127.0.0.1:0".parse().expect("addr"),
        Identity::generate().expect("id"),
        |o| {
            o.min_upload_rate = MIB as u64;
            o.upload_grace = Duration::from_millis(500);
        },
    )
    .await;
    let exit = common::exit(
        &relay,
        OhttpKeyPair::generate().expect("key"),
        tokengo_gateway::exit::backend::BackendOptions::new(backend.url.clone()),
    )
    .await;
    let conn = common::raw_connection(&relay, ALPN_CLIENT, TransportLimits::to_relay(0)).await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    // Claims 1 MiB, which at 1 MiB/s and 0.5 s of grace must arrive within 1.5 s; sends 1 KiB
    // every 100 ms instead.
    write_header(&mut send, MessageType::Request, &exit.id, MIB)
        .await
        .expect("header");
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if send.write_all(&[0u8; 1024]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0u8; 64];
    let ended = tokio::time::timeout(Duration::from_secs(10), recv.read(&mut buf)).await;
    trickle.abort();
    assert!(
        matches!(ended, Ok(Err(_)) | Ok(Ok(None))),
        "the relay still held the trickled upload after 10 s: {ended:?}"
    );
    conn.close(0u32.into(), b"done");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_finding_the_exit_budget_held_is_refused_in_time() {
    tokengo_gateway::transport::install_crypto_provider();
    let backend = common::backend().await;
    let relay = common::relay().await;
    // A 1 MiB budget, waited for at most 300 ms.
    let exit = common::exit_with(
        &relay,
        OhttpKeyPair::generate().expect("key"),
        tokengo_gateway::exit::backend::BackendOptions::new(backend.url.clone()),
        |o| {
            o.request_budget_kib = 1024;
            o.budget_wait = Duration::from_millis(300);
        },
    )
    .await;
    let conn = common::raw_connection(&relay, ALPN_CLIENT, TransportLimits::to_relay(0)).await;
    // One request claims the whole budget and sends only a part of itself.
    let (mut holder, _holder_recv) = conn.open_bi().await.expect("stream");
    write_header(&mut holder, MessageType::Request, &exit.id, MIB)
        .await
        .expect("header");
    holder.write_all(&[0u8; 1024]).await.expect("a little");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The next one, however small, cannot get room: it is refused, not left waiting.
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    write_frame(
        &mut send,
        &Frame::to_target(MessageType::Request, exit.id.clone(), vec![0u8; 512]),
    )
    .await
    .expect("request");
    let _ = send.finish();
    let answer = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut recv, 4096))
        .await
        .expect("an answer within 5 s, not a wait for the held budget")
        .expect("frame");
    assert_eq!(answer.kind, MessageType::Error);
    assert_eq!(
        tokengo_gateway_proto::Refusal::decode(&answer.payload).0,
        tokengo_gateway_proto::Refusal::ExitBusy
    );
    drop(holder);
    conn.close(0u32.into(), b"done");
    relay.stop().await;
}
