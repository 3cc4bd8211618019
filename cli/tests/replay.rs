//! A relay that replays sealed requests, over real QUIC on loopback: the exit runs each sealed
//! request once, and refuses one sealed long ago.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokengo_gateway::frame_io::{read_frame, write_frame};
use tokengo_gateway::transport::{self as tls, TransportLimits};
use tokengo_gateway_proto::envelope::seal_single;
use tokengo_gateway_proto::frame::{Frame, MAX_PAYLOAD_LEN, MessageType};
use tokengo_gateway_proto::http_message::InnerRequest;
use tokengo_gateway_proto::replay::{DATE_HEADER, stamp};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn chat(date: u64) -> InnerRequest {
    let mut req = InnerRequest {
        method: "POST".into(),
        path_and_query: "/v1/chat/completions".into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"model":"m"}"#.to_vec(),
    };
    stamp(&mut req, date);
    req
}

/// Plays the relay's part by hand: sends `sealed` to the exit as a client would, and returns
/// the kind of the answer.
async fn send(conn: &quinn::Connection, target: &str, sealed: &[u8]) -> MessageType {
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let frame = Frame::to_target(MessageType::Request, target, sealed.to_vec());
    write_frame(&mut send, &frame).await.expect("write");
    let _ = send.finish();
    tokio::time::timeout(
        Duration::from_secs(10),
        read_frame(&mut recv, MAX_PAYLOAD_LEN),
    )
    .await
    .expect("answer in time")
    .expect("answer")
    .kind
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_or_stale_sealed_request_never_reaches_the_backend_again() {
    let net = common::net().await;
    let limits = TransportLimits {
        max_streams: 8,
        idle_timeout: Duration::from_secs(10),
        keep_alive: None,
        ..TransportLimits::to_relay(0)
    };
    let conn = common::raw_connection(&net.relay, tls::ALPN_CLIENT, limits).await;
    let count = || net.backend.mock.count.load(Ordering::SeqCst);
    let before = count();

    // One sealed request, delivered three times (as a relay that keeps a copy would).
    let (sealed, _) = seal_single(net.key.public(), &chat(now())).expect("seal");
    for _ in 0..3 {
        assert_eq!(
            send(&conn, &net.exit.id, &sealed).await,
            MessageType::Response
        );
    }
    assert_eq!(count() - before, 1, "the backend ran the request once");
    {
        let seen = net.backend.mock.seen.lock().expect("seen");
        let last = seen.last().expect("the backend saw the request");
        assert!(
            last.headers.get(DATE_HEADER).is_none(),
            "the date is the exit's, not the backend's"
        );
    }

    // Sealed ten minutes ago: refused, whoever sends it.
    let (stale, _) = seal_single(net.key.public(), &chat(now() - 600)).expect("seal");
    assert_eq!(
        send(&conn, &net.exit.id, &stale).await,
        MessageType::Response
    );
    assert_eq!(
        count() - before,
        1,
        "a stale request never reaches the backend"
    );

    // A fresh request still runs.
    let (fresh, _) = seal_single(net.key.public(), &chat(now())).expect("seal");
    assert_eq!(
        send(&conn, &net.exit.id, &fresh).await,
        MessageType::Response
    );
    assert_eq!(count() - before, 2);
    conn.close(0u32.into(), b"done");
}
