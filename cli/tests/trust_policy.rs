//! The client's trust policy against relays that lie, over real QUIC on loopback: the test
//! relays in `common::lying` hand out whatever exit lists the test makes and count every
//! request frame a client sends them. Also key rotation and fair choice among real exits.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::lying::{LyingRelay, relays};
use tokengo_gateway::client::{ClientError, ClientOptions, GatewayClient};
use tokengo_gateway::exit::backend::BackendOptions;
use tokengo_gateway::unix_now;
use tokengo_gateway_proto::certificate::{AdmissionCertificate, Role};
use tokengo_gateway_proto::control::ExitKeyEntry;
use tokengo_gateway_proto::descriptor::ExitDescriptor;
use tokengo_gateway_proto::http_message::InnerRequest;
use tokengo_gateway_proto::identity::Identity;
use tokengo_gateway_proto::keys::OhttpKeyPair;

fn id() -> Identity {
    Identity::generate().expect("identity")
}

/// A descriptor of `exit` with a fresh key, valid from a minute ago until `until`.
fn descriptor(exit: &Identity, sequence: u64, until: u64, admissions: Vec<Vec<u8>>) -> Vec<u8> {
    ExitDescriptor {
        exit_id: exit.public_key(),
        key_configs: vec![OhttpKeyPair::generate().expect("key").public().clone()],
        models: vec![],
        valid_from: unix_now() - 60,
        valid_until: until,
        sequence,
        admissions,
    }
    .sign(exit)
    .expect("sign")
}

fn valid(exit: &Identity, sequence: u64) -> Vec<u8> {
    descriptor(exit, sequence, unix_now() + 3600, vec![])
}

fn entry(exit: &Identity, bytes: &[u8]) -> ExitKeyEntry {
    ExitKeyEntry {
        exit_id: exit.id(),
        descriptor: B64.encode(bytes),
    }
}

fn admission(authority: &Identity, exit: &Identity, not_after: u64) -> Vec<u8> {
    AdmissionCertificate {
        subject: exit.public_key(),
        role: Role::Exit,
        not_after,
        authority: authority.public_key(),
    }
    .sign(authority)
    .expect("cert")
}

fn client(
    source: Arc<tokengo_gateway::StaticRelays>,
    options: ClientOptions,
) -> Arc<GatewayClient> {
    Arc::new(GatewayClient::new(source, options))
}

/// What a client with `options` answers through the proxy when its relays are `lying`.
async fn answer(lying: &[&LyingRelay], options: ClientOptions) -> (u16, String) {
    let url = common::proxy(client(relays(lying), options)).await;
    common::post_chat(&url).await
}

fn sent(lying: &[&LyingRelay]) -> usize {
    lying.iter().map(|r| r.requests()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_listing_keys_of_its_own_gets_no_request_frame() {
    let honest = id();
    let operator = id();
    // The relay lists a key of its own under the honest exit's id (it cannot sign for that
    // id, so it signs with its own key), and an exit of its own under its own id.
    let mut posing = entry(&honest, &valid(&operator, 1));
    posing.exit_id = honest.id();
    let relay = LyingRelay::start(1, vec![posing, entry(&operator, &valid(&operator, 1))]);
    let trusting = ClientOptions {
        trusted_exits: vec![honest.public_key()],
        ..ClientOptions::default()
    };
    for options in [trusting, ClientOptions::default()] {
        let (status, body) = answer(&[&relay], options).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("no trusted exit"), "{body}");
    }
    assert_eq!(
        sent(&[&relay]),
        0,
        "no sealed request reached the lying relay"
    );
    // The behaviour this replaces, kept only behind --insecure-any-exit: the attack works.
    let insecure = ClientOptions {
        insecure_any_exit: true,
        ..ClientOptions::default()
    };
    let (status, _) = answer(&[&relay], insecure).await;
    assert_eq!(status, 502);
    assert_eq!(
        sent(&[&relay]),
        1,
        "an insecure client sealed a request to the relay's key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_handing_out_different_descriptors_for_one_exit_are_not_believed() {
    let exit = id();
    let first = valid(&exit, 5);
    let forked = valid(&exit, 5);
    let newer = valid(&exit, 6);
    for (a, b) in [(&first, &forked), (&first, &newer)] {
        let one = LyingRelay::start(2, vec![entry(&exit, a)]);
        let two = LyingRelay::start(3, vec![entry(&exit, b)]);
        let lying = [&one, &two];
        let strict = client(relays(&lying), ClientOptions::default());
        assert!(
            matches!(strict.ready().await, Err(ClientError::Untrusted(_))),
            "two relays disagreeing on the descriptor vouch for nothing"
        );
        let (status, body) = answer(&lying, ClientOptions::default()).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(sent(&lying), 0);
    }
    // The control: two relays with different ids agreeing on one descriptor are believed,
    // and the client sends its request to one of them.
    let one = LyingRelay::start(2, vec![entry(&exit, &first)]);
    let two = LyingRelay::start(3, vec![entry(&exit, &first)]);
    let lying = [&one, &two];
    let agreed = client(relays(&lying), ClientOptions::default());
    assert_eq!(agreed.ready().await.expect("corroborated"), exit.id());
    let (status, _) = answer(&lying, ClientOptions::default()).await;
    assert_eq!(status, 502, "the lying relays refuse what they get");
    assert_eq!(sent(&lying), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_untrusted_descriptor_is_refused_with_its_reason() {
    let (authority, second, unknown) = (id(), id(), id());
    let exit = id();
    let now = unix_now();
    let admitted = |by: &Identity, not_after| {
        descriptor(&exit, 1, now + 3600, vec![admission(by, &exit, not_after)])
    };
    let mut tampered = admitted(&authority, now + 3600);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let cases: [(Vec<u8>, usize, &str); 5] = [
        (
            descriptor(
                &exit,
                1,
                now - 1,
                vec![admission(&authority, &exit, now + 3600)],
            ),
            1,
            "expired",
        ),
        (
            admitted(&authority, now - 1),
            1,
            "admitted by 0 of the trusted authorities, 1 needed",
        ),
        (tampered, 1, "signature does not verify"),
        (
            admitted(&unknown, now + 3600),
            1,
            "admitted by 0 of the trusted authorities, 1 needed",
        ),
        (
            admitted(&authority, now + 3600),
            2,
            "admitted by 1 of the trusted authorities, 2 needed",
        ),
    ];
    for (bytes, threshold, reason) in cases {
        let relay = LyingRelay::start(4, vec![entry(&exit, &bytes)]);
        let options = ClientOptions {
            trusted_authorities: vec![authority.public_key(), second.public_key()],
            authority_threshold: threshold,
            ..ClientOptions::default()
        };
        let (status, body) = answer(&[&relay], options).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains(reason), "expected {reason:?} in {body}");
        assert_eq!(relay.requests(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_keeps_working_across_key_rotations() {
    tokengo_gateway::transport::install_crypto_provider();
    let backend = common::backend_with(false).await;
    let relay = common::relay().await;
    let identity = id();
    let exit_identity = identity.clone();
    let exit = common::exit_with(
        &relay,
        OhttpKeyPair::generate().expect("key"),
        BackendOptions::new(backend.url.clone()),
        move |o| {
            o.identity = Some(exit_identity);
            o.rotate_every = Some(Duration::from_secs(1));
        },
    )
    .await;
    let first_key = exit.hash.clone();
    let client = client(
        Arc::new(tokengo_gateway::StaticRelays(vec![
            tokengo_gateway::RelayCandidate {
                addr: relay.addr.to_string(),
                pin: Some(relay.pin),
            },
        ])),
        ClientOptions {
            trusted_exits: vec![identity.public_key()],
            descriptor_refresh: Duration::from_millis(200),
            ..ClientOptions::default()
        },
    );
    let req = InnerRequest {
        method: "POST".into(),
        path_and_query: "/v1/chat/completions".into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"model":"m"}"#.to_vec(),
    };
    let mut keys = vec![first_key];
    let mut sent = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(4500);
    while tokio::time::Instant::now() < until {
        let resp = client
            .send_single(&req)
            .await
            .expect("no request fails across rotations");
        assert_eq!(resp.head.status, 200);
        sent += 1;
        let key = client.current_key_hash().await.expect("key");
        if keys.last() != Some(&key) {
            keys.push(key);
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        keys.len() >= 3,
        "the client followed at least two rotations: {keys:?}"
    );
    assert_eq!(backend.mock.count.load(Ordering::SeqCst), sent);
    drop(exit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_admitted_exits_share_two_hundred_client_starts_fairly() {
    tokengo_gateway::transport::install_crypto_provider();
    let relay = common::relay().await;
    let backend = common::backend_with(false).await;
    let authority = id();
    // Three "ground" identities: the lowest ids of many, as an attacker hoping that clients
    // sort by id would make them; and seventeen ordinary ones.
    let mut pool: Vec<Identity> = (0..300).map(|_| id()).collect();
    pool.sort_by_key(Identity::id);
    let ground: Vec<Identity> = pool.drain(..3).collect();
    let exits: Vec<Identity> = ground
        .iter()
        .cloned()
        .chain(pool.into_iter().take(17))
        .collect();
    let mut running = Vec::new();
    for exit in &exits {
        let (identity, cert) = (exit.clone(), admission(&authority, exit, unix_now() + 3600));
        running.push(
            common::exit_with(
                &relay,
                OhttpKeyPair::generate().expect("key"),
                BackendOptions::new(backend.url.clone()),
                move |o| {
                    o.identity = Some(identity);
                    o.admissions = vec![cert];
                },
            )
            .await,
        );
    }
    let source = Arc::new(tokengo_gateway::StaticRelays(vec![
        tokengo_gateway::RelayCandidate {
            addr: relay.addr.to_string(),
            pin: Some(relay.pin),
        },
    ]));
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..200 {
        let options = ClientOptions {
            trusted_authorities: vec![authority.public_key()],
            ..ClientOptions::default()
        };
        let chosen = client(source.clone(), options)
            .ready()
            .await
            .expect("an exit");
        *counts.entry(chosen).or_default() += 1;
    }
    // A fair share is 10 of 200. Under Binomial(200, 1/20), P(X >= 30) < 1e-7 for one exit,
    // so no exit reaching 30 (three fair shares) holds in all but about one run in 10^6; the
    // three ground ids together expect 30, and P(>= 60) < 1e-7 too.
    let most = counts.values().copied().max().unwrap_or(0);
    assert!(
        most < 30,
        "an exit was chosen {most} times of 200: {counts:?}"
    );
    let ground_total: u32 = ground
        .iter()
        .map(|g| counts.get(&g.id()).copied().unwrap_or(0))
        .sum();
    assert!(
        ground_total < 60,
        "the ground ids got {ground_total} of 200"
    );
    assert!(
        counts.len() >= 15,
        "only {} exits were ever chosen",
        counts.len()
    );
    assert!(counts.keys().all(|k| exits.iter().any(|e| &e.id() == k)));
    drop(running);
}
