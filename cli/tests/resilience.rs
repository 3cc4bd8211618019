//! Restarts, cancellation, error mapping and registration checks, over real QUIC on loopback.

mod common;

use std::time::Duration;

use axum::body::Bytes;
use futures_util::StreamExt as _;
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::transport::{self as tls, ALPN_EXIT, SERVER_NAME, TransportLimits};
use tokengo_gateway_proto::Refusal;
use tokengo_gateway_proto::descriptor::ExitDescriptor;
use tokengo_gateway_proto::frame::{Frame, MessageType};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;

const CHAT: &str = "/v1/chat/completions";

async fn chat_ok(url: &str) {
    let resp = common::http()
        .post(format!("{url}{CHAT}"))
        .body(r#"{"model":"m"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_restart_reregisters_and_requests_succeed_again() {
    let net = common::net().await;
    chat_ok(&net.url).await;
    net.exit.stop().await;
    let resp = common::http()
        .post(format!("{}{CHAT}", net.url))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503, "no exit while it is down");
    let body: serde_json::Value = resp.json().await.expect("json error");
    assert_eq!(body["error"]["code"], 503);
    let _exit = common::exit(
        &net.relay,
        net.key.clone(),
        BackendOptions::new(net.backend.url.clone()),
    )
    .await;
    chat_ok(&net.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_restart_exit_reconnects_and_client_recovers() {
    let mut net = common::net().await;
    chat_ok(&net.url).await;
    let addr = net.relay.addr;
    let identity = net.relay.identity.clone();
    net.relay.stop().await;
    let resp = common::http()
        .post(format!("{}{CHAT}", net.url))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 502, "relay down");
    let relay = common::relay_at(addr, identity).await;
    net.exit.registered(2).await;
    chat_ok(&net.url).await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_going_away_cancels_the_backend_stream() {
    let mut net = common::net().await;
    let resp_task = {
        let url = format!("{}{CHAT}", net.url);
        tokio::spawn(async move {
            common::http()
                .post(url)
                .body(r#"{"stream":true}"#)
                .send()
                .await
                .expect("send")
        })
    };
    let events = tokio::time::timeout(Duration::from_secs(30), net.backend.streams.recv())
        .await
        .expect("request reached the backend")
        .expect("sender");
    events
        .send(Ok(Bytes::from_static(b"data: first\n\n")))
        .await
        .expect("send");
    let resp = resp_task.await.expect("join");
    let mut body = resp.bytes_stream();
    let first = body.next().await.expect("piece").expect("ok");
    assert!(String::from_utf8_lossy(&first).contains("first"));
    drop(body);
    // The backend's body channel closes only when the exit drops its backend response.
    tokio::time::timeout(Duration::from_secs(30), events.closed())
        .await
        .expect("cancellation reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_relay_is_502_and_no_exit_is_503() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let url = common::proxy(common::client(&relay)).await;
    let resp = common::http()
        .post(format!("{url}{CHAT}"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    relay.stop().await;
    let resp = common::http()
        .post(format!("{url}{CHAT}"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.expect("json error");
    assert_eq!(body["error"]["code"], 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_with_wrong_relay_pin_does_not_connect() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let client = tokengo_gateway::client::GatewayClient::new(
        std::sync::Arc::new(tokengo_gateway::StaticRelays(vec![
            tokengo_gateway::RelayCandidate {
                addr: relay.addr.to_string(),
                pin: Some([7u8; 32]),
            },
        ])),
        tokengo_gateway::client::ClientOptions::default(),
    );
    assert!(matches!(
        client.ready().await,
        Err(tokengo_gateway::client::ClientError::Dial { .. })
    ));
}

/// Registers by hand: sends `descriptor` under `target` and answers the relay's challenge with a
/// proof signed by `signer` if given, else with junk.
async fn raw_register(
    relay: &common::RunningRelay,
    target: &str,
    descriptor: Vec<u8>,
    signer: Option<&Identity>,
) -> Frame {
    let limits = TransportLimits {
        max_streams: 16,
        idle_timeout: Duration::from_secs(10),
        keep_alive: None,
        ..TransportLimits::to_relay(0)
    };
    let conn = common::raw_connection(relay, ALPN_EXIT, limits).await;
    common::hand_register::register_by_hand(&conn, &relay.pin, target, &descriptor, signer).await
}

fn unix_now() -> u64 {
    tokengo_gateway::unix_now()
}

/// A descriptor for `exit` listing `key`, valid for an hour, with `admissions`.
fn signed_descriptor(exit: &Identity, key: &OhttpKeyPair, admissions: Vec<Vec<u8>>) -> Vec<u8> {
    ExitDescriptor {
        exit_id: exit.public_key(),
        key_configs: vec![key.public().clone()],
        models: vec![],
        valid_from: unix_now() - 60,
        valid_until: unix_now() + 3600,
        sequence: 1,
        admissions,
    }
    .sign(exit)
    .expect("descriptor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_checks_the_descriptor_and_the_proof_of_identity() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let exit = Identity::generate().expect("exit");
    let key = OhttpKeyPair::generate().expect("key");
    let descriptor = signed_descriptor(&exit, &key, vec![]);
    let other = Identity::generate().expect("other");
    let reply = raw_register(&relay, &other.id(), descriptor.clone(), Some(&exit)).await;
    assert_eq!(reply.kind, MessageType::Error);
    assert_eq!(Refusal::decode(&reply.payload).0, Refusal::ExitIdMismatch);
    let reply = raw_register(&relay, &exit.id(), vec![1, 2, 3], Some(&exit)).await;
    assert_eq!(Refusal::decode(&reply.payload).0, Refusal::BadDescriptor);
    // Someone who has only the (public) descriptor cannot register it, with junk or with a
    // signature by another key.
    for signer in [None, Some(&other)] {
        let reply = raw_register(&relay, &exit.id(), descriptor.clone(), signer).await;
        assert_eq!(reply.kind, MessageType::Error);
        assert_eq!(Refusal::decode(&reply.payload).0, Refusal::BadProof);
    }
    let reply = raw_register(&relay, &exit.id(), descriptor, Some(&exit)).await;
    assert_eq!(reply.kind, MessageType::RegisterAck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_exit_is_evicted_and_reconnects() {
    tokengo_gateway::transport::install_crypto_provider();
    let backend = common::backend().await;
    let relay = common::relay_with(
        "127.0.0.1:0".parse().expect("addr"),
        tokengo_gateway_proto::identity::Identity::generate().expect("id"),
        |o| {
            o.heartbeat_timeout = Duration::from_millis(300);
            o.sweep_interval = Duration::from_millis(100);
        },
    )
    .await;
    // This exit never heartbeats within the relay's timeout.
    let mut exit = common::exit_with(
        &relay,
        OhttpKeyPair::generate().expect("key"),
        BackendOptions::new(backend.url.clone()),
        |o| o.heartbeat_interval = Duration::from_secs(3600),
    )
    .await;
    // Evicted, its connection closed by the relay, it registers again on its own.
    exit.registered(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_answers_gives_a_json_504() {
    let net = common::net().await;
    let options = tokengo_gateway::client::proxy::ProxyOptions {
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let url = common::proxy_with(net.client.clone(), options).await;
    let resp = common::http()
        .post(format!("{url}/v1/never"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = resp.json().await.expect("json error");
    assert_eq!(body["error"]["code"], 504);
}

/// A relay that lets one address hold at most `max_per_ip` connections.
async fn relay_with_per_ip_limit(max_per_ip: usize) -> common::RunningRelay {
    common::relay_with(
        "127.0.0.1:0".parse().expect("addr"),
        tokengo_gateway_proto::identity::Identity::generate().expect("id"),
        move |o| o.max_connections_per_ip = max_per_ip,
    )
    .await
}

/// A client endpoint of its own (its own socket and address tokens) for `relay`.
fn client_endpoint(relay: &common::RunningRelay) -> quinn::Endpoint {
    let limits = TransportLimits {
        max_streams: 4,
        idle_timeout: Duration::from_secs(10),
        keep_alive: None,
        ..TransportLimits::to_relay(0)
    };
    tls::dialer_endpoint(tls::ALPN_CLIENT, Some(relay.pin), limits, false).expect("ep")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_only_its_share_of_connections() {
    let relay = relay_with_per_ip_limit(2).await;
    let endpoint = client_endpoint(&relay);
    let dial = || async {
        endpoint
            .connect(relay.addr, SERVER_NAME)
            .expect("connect")
            .await
    };
    let first = dial().await.expect("first connection");
    let _second = dial().await.expect("second connection");
    assert!(dial().await.is_err(), "a third connection from one address");
    // Closing one frees its slot.
    first.close(0u32.into(), b"done");
    let mut third = None;
    for _ in 0..50 {
        if let Ok(conn) = dial().await {
            third = Some(conn);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(third.is_some(), "a freed slot is given again");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_address_proves_itself_with_a_retry_and_still_connects() {
    use tokengo_gateway_proto::admission::UNPROVEN_PER_IP;
    let max = UNPROVEN_PER_IP + 2;
    let relay = common::relay_with(
        "127.0.0.1:0".parse().expect("addr"),
        tokengo_gateway_proto::identity::Identity::generate().expect("id"),
        move |o| o.max_connections_per_ip = max,
    )
    .await;
    let limits = TransportLimits {
        max_streams: 4,
        idle_timeout: Duration::from_secs(10),
        keep_alive: None,
        ..TransportLimits::to_relay(0)
    };
    // A new endpoint for every connection: one endpoint would present the address token the
    // relay gave it on the first connection, and so count as proven already.
    let endpoint =
        || tls::dialer_endpoint(tls::ALPN_CLIENT, Some(relay.pin), limits, false).expect("ep");
    let mut held = Vec::new();
    // Past UNPROVEN_PER_IP the relay answers with a Retry; the client comes back with the
    // token and is let in, up to the limit.
    for i in 0..max {
        let conn = endpoint()
            .connect(relay.addr, SERVER_NAME)
            .expect("connect")
            .await
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        held.push(conn);
    }
    let over = endpoint()
        .connect(relay.addr, SERVER_NAME)
        .expect("connect")
        .await;
    assert!(over.is_err(), "one past the limit");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lost_after_sending_fails_and_is_not_run_twice() {
    use std::sync::atomic::Ordering;
    let net = common::net().await;
    // A second relay with an exit of the same key: a replay would have somewhere to go.
    let spare = common::relay().await;
    let _spare_exit = common::exit(
        &spare,
        net.key.clone(),
        BackendOptions::new(net.backend.url.clone()),
    )
    .await;
    let candidates = [&net.relay, &spare].map(|r| tokengo_gateway::RelayCandidate {
        addr: r.addr.to_string(),
        pin: Some(r.pin),
    });
    let client = std::sync::Arc::new(tokengo_gateway::client::GatewayClient::new(
        std::sync::Arc::new(tokengo_gateway::StaticRelays(candidates.to_vec())),
        tokengo_gateway::ClientOptions {
            insecure_any_exit: true,
            ..Default::default()
        },
    ));
    let url = common::proxy(client).await;
    // The backend never answers this one: it is in flight until the relay goes.
    let pending = tokio::spawn(async move {
        common::http()
            .post(format!("{url}/v1/never"))
            .body("{}")
            .send()
            .await
            .expect("send")
    });
    let mock = net.backend.mock.clone();
    for _ in 0..300 {
        if mock.count.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        mock.count.load(Ordering::SeqCst),
        1,
        "the request reached the backend"
    );
    net.relay.stop().await;
    let resp = tokio::time::timeout(Duration::from_secs(20), pending)
        .await
        .expect("a clear error, not a wait")
        .expect("join");
    assert_eq!(resp.status(), 502);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mock.count.load(Ordering::SeqCst),
        1,
        "the request was sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_trusting_an_authority_registers_only_the_exits_it_admitted() {
    use tokengo_gateway_proto::certificate::{AdmissionCertificate, Role};
    tokengo_gateway::transport::install_crypto_provider();
    let authority = Identity::generate().expect("authority");
    let trusted = authority.public_key();
    let relay = common::relay_with(
        "127.0.0.1:0".parse().expect("addr"),
        Identity::generate().expect("id"),
        move |o| o.trusted_authorities = vec![trusted],
    )
    .await;
    for admitted in [true, false] {
        let exit = Identity::generate().expect("exit");
        let key = OhttpKeyPair::generate().expect("key");
        let admissions = if admitted {
            let cert = AdmissionCertificate {
                subject: exit.public_key(),
                role: Role::Exit,
                not_after: unix_now() + 3600,
                authority: authority.public_key(),
            };
            vec![cert.sign(&authority).expect("cert")]
        } else {
            vec![]
        };
        let descriptor = signed_descriptor(&exit, &key, admissions);
        let reply = raw_register(&relay, &exit.id(), descriptor, Some(&exit)).await;
        if admitted {
            assert_eq!(reply.kind, MessageType::RegisterAck);
        } else {
            assert_eq!(reply.kind, MessageType::Error);
            assert_eq!(Refusal::decode(&reply.payload).0, Refusal::NotAdmitted);
        }
    }
    relay.stop().await;
}
