//! What the relay sees of a streamed answer, over real QUIC on loopback: the test plays the
//! relay's part by hand and counts the sealed chunks an exit sends for a burst of backend
//! events. With the exit's chunk interval, a burst of tokens travels as a few chunks instead of
//! one per token, so the relay learns neither each token's size nor its timing.

mod common;

use std::time::Duration;

use axum::body::Bytes;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::frame_io::{read_frame, write_frame};
use tokengo_gateway::transport::{self as tls, TransportLimits};
use tokengo_gateway_proto::envelope::seal_stream;
use tokengo_gateway_proto::frame::{Frame, MAX_PAYLOAD_LEN, MessageType};
use tokengo_gateway_proto::http_message::InnerRequest;
use tokengo_gateway_proto::keys::OhttpKeyPair;
use tokengo_gateway_proto::replay::stamp;

const EVENTS: usize = 40;

/// Sends one streamed chat through the exit, has the backend burst [`EVENTS`] events, and
/// returns how many StreamChunk frames the exit sent for it.
async fn chunks_for_a_burst(chunk_interval: Duration) -> usize {
    tokengo_gateway::transport::install_crypto_provider();
    let mut backend = common::backend().await;
    let relay = common::relay().await;
    let key = OhttpKeyPair::generate().expect("key");
    let exit = common::exit_with(
        &relay,
        key.clone(),
        BackendOptions::new(backend.url.clone()),
        move |o| o.chunk_interval = chunk_interval,
    )
    .await;
    let conn = common::raw_connection(&relay, tls::ALPN_CLIENT, TransportLimits::to_relay(0)).await;
    let mut req = InnerRequest {
        method: "POST".into(),
        path_and_query: "/v1/chat/completions".into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"model":"m","stream":true}"#.to_vec(),
    };
    stamp(&mut req, tokengo_gateway::unix_now());
    let (sealed, _pending) = seal_stream(key.public(), &req).expect("seal");
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    write_frame(
        &mut send,
        &Frame::to_target(MessageType::StreamRequest, exit.id.clone(), sealed),
    )
    .await
    .expect("request");
    let _ = send.finish();
    let events = tokio::time::timeout(Duration::from_secs(30), backend.streams.recv())
        .await
        .expect("backend got the request")
        .expect("sender");
    // The head travels first, on its own.
    let first = read_frame(&mut recv, MAX_PAYLOAD_LEN).await.expect("head");
    assert_eq!(first.kind, MessageType::StreamChunk);
    for n in 0..EVENTS {
        let event = format!("data: {{\"token\":{n}}}\n\n");
        events.send(Ok(Bytes::from(event))).await.expect("event");
    }
    drop(events);
    let mut chunks = 0;
    loop {
        let frame = tokio::time::timeout(
            Duration::from_secs(30),
            read_frame(&mut recv, MAX_PAYLOAD_LEN),
        )
        .await
        .expect("in time")
        .expect("frame");
        match frame.kind {
            MessageType::StreamChunk => chunks += 1,
            MessageType::StreamEnd => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    conn.close(0u32.into(), b"done");
    chunks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_tokens_travels_as_a_few_sealed_chunks() {
    let each = chunks_for_a_burst(Duration::ZERO).await;
    // Without gathering, every event is its own chunk (plus the final one).
    assert!(
        each > EVENTS,
        "{each} chunks for {EVENTS} events without gathering"
    );
    let gathered = chunks_for_a_burst(Duration::from_millis(50)).await;
    // The burst arrives within a few milliseconds: a handful of chunks at most, even on a
    // loaded machine, where one per event would be more than 40.
    assert!(
        gathered <= EVENTS / 4,
        "{gathered} chunks for {EVENTS} events with gathering"
    );
}
