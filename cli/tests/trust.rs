//! Exit trust against a relay that lies, over real QUIC on loopback: a client that trusts an
//! exit id takes keys only from descriptors that exit signed, whatever the relay hands out.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokengo_gateway::client::{ClientError, ClientOptions, GatewayClient};
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::{RelayCandidate, StaticRelays};
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;

fn trusting(relay: &common::RunningRelay, exit: &Identity) -> Arc<GatewayClient> {
    Arc::new(GatewayClient::new(
        Arc::new(StaticRelays(vec![RelayCandidate {
            addr: relay.addr.to_string(),
            pin: Some(relay.pin),
        }])),
        ClientOptions {
            trusted_exits: vec![exit.public_key()],
            ..ClientOptions::default()
        },
    ))
}

async fn exit_as(
    relay: &common::RunningRelay,
    identity: &Identity,
    backend: &common::Backend,
) -> common::RunningExit {
    admitted_exit(relay, identity, backend, Vec::new()).await
}

/// An exit with `identity` presenting the admission certificates `admissions`.
async fn admitted_exit(
    relay: &common::RunningRelay,
    identity: &Identity,
    backend: &common::Backend,
    admissions: Vec<Vec<u8>>,
) -> common::RunningExit {
    let id = identity.clone();
    common::exit_with(
        relay,
        OhttpKeyPair::generate().expect("key"),
        BackendOptions::new(backend.url.clone()),
        move |o| {
            o.identity = Some(id);
            o.admissions = admissions;
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_offering_a_key_of_its_own_gets_no_request() {
    tokengo_gateway::transport::install_crypto_provider();
    // The relay's operator runs an exit of its own behind the relay and lists only that one.
    let relay = common::relay().await;
    let honest = Identity::generate().expect("id");
    let operator = Identity::generate().expect("id");
    let operator_backend = common::backend().await;
    let _operator_exit = exit_as(&relay, &operator, &operator_backend).await;

    let client = trusting(&relay, &honest);
    assert!(matches!(
        client.ready().await,
        Err(ClientError::Untrusted(_))
    ));
    let url = common::proxy(client).await;
    let (status, body) = common::post_chat(&url).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no trusted exit"), "{body}");
    assert_eq!(
        operator_backend.mock.count.load(Ordering::SeqCst),
        0,
        "the relay's exit never saw a request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_reaches_the_trusted_exit_and_none_the_other() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let trusted = Identity::generate().expect("id");
    let other = Identity::generate().expect("id");
    let trusted_backend = common::backend_with(false).await;
    let other_backend = common::backend_with(false).await;
    let _trusted_exit = exit_as(&relay, &trusted, &trusted_backend).await;
    let _other_exit = exit_as(&relay, &other, &other_backend).await;

    for _ in 0..100 {
        // A fresh client each time: each one chooses an exit anew.
        let client = trusting(&relay, &trusted);
        let req = tokengo_gateway_proto::http_message::InnerRequest {
            method: "POST".into(),
            path_and_query: "/v1/chat/completions".into(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body: br#"{"model":"m"}"#.to_vec(),
        };
        let resp = client.send_single(&req).await.expect("request");
        assert_eq!(resp.head.status, 200);
    }
    assert_eq!(trusted_backend.mock.count.load(Ordering::SeqCst), 100);
    assert_eq!(other_backend.mock.count.load(Ordering::SeqCst), 0);
}

fn admission(authority: &Identity, exit: &Identity) -> Vec<u8> {
    use tokengo_gateway_proto::certificate::{AdmissionCertificate, Role};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    AdmissionCertificate {
        subject: exit.public_key(),
        role: Role::Exit,
        not_after: now + 3600,
        authority: authority.public_key(),
    }
    .sign(authority)
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_exit_an_authority_admitted_gets_requests() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let authority = Identity::generate().expect("authority");
    let stranger = Identity::generate().expect("another authority");
    let admitted = Identity::generate().expect("id");
    let unadmitted = Identity::generate().expect("id");
    let admitted_backend = common::backend_with(false).await;
    let unadmitted_backend = common::backend_with(false).await;
    let cert = admission(&authority, &admitted);
    let _admitted_exit = admitted_exit(&relay, &admitted, &admitted_backend, vec![cert]).await;
    // Admitted too, but by an authority the client does not trust.
    let foreign = admission(&stranger, &unadmitted);
    let _unadmitted_exit =
        admitted_exit(&relay, &unadmitted, &unadmitted_backend, vec![foreign]).await;
    let client_for = |authorities: Vec<[u8; 32]>, threshold: usize| {
        Arc::new(GatewayClient::new(
            Arc::new(StaticRelays(vec![RelayCandidate {
                addr: relay.addr.to_string(),
                pin: Some(relay.pin),
            }])),
            ClientOptions {
                trusted_authorities: authorities,
                authority_threshold: threshold,
                ..ClientOptions::default()
            },
        ))
    };
    let req = tokengo_gateway_proto::http_message::InnerRequest {
        method: "POST".into(),
        path_and_query: "/v1/chat/completions".into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"model":"m"}"#.to_vec(),
    };
    for _ in 0..100 {
        let client = client_for(vec![authority.public_key()], 1);
        let resp = client.send_single(&req).await.expect("request");
        assert_eq!(resp.head.status, 200);
    }
    assert_eq!(admitted_backend.mock.count.load(Ordering::SeqCst), 100);
    assert_eq!(unadmitted_backend.mock.count.load(Ordering::SeqCst), 0);

    // Two authorities required, one admits: nobody passes, nothing is sent.
    let strict = client_for(vec![authority.public_key(), stranger.public_key()], 2);
    assert!(matches!(
        strict.ready().await,
        Err(ClientError::Untrusted(_))
    ));
    assert_eq!(admitted_backend.mock.count.load(Ordering::SeqCst), 100);
    assert_eq!(unadmitted_backend.mock.count.load(Ordering::SeqCst), 0);
}
