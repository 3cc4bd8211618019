//! Relays announce themselves in the private DHT and a read-only client finds them, on
//! loopback with real sockets: a seed relay alone, then a seed and two relays that join it.

use std::net::SocketAddr;
use std::time::Duration;
use tokengo::dht::args::{NetworkName, node_config};
use tokengo::progress::NoProgress;
use tokengo_discovery::bootstrap::{self, Sources};
use tokengo_discovery::{self as discovery, RelayDht, RelayDhtConfig};
use tokengo_tokio::Dht;

fn configured(peers: &[SocketAddr]) -> Sources {
    Sources::new(peers.iter().map(ToString::to_string).collect(), true)
}

async fn relay(quic_port: u16, bootstrap: &[SocketAddr]) -> RelayDht {
    RelayDht::start(RelayDhtConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        quic_port,
        state_file: None,
        sources: configured(bootstrap),
        node: node_config(NetworkName::Tokengo, false),
    })
    .await
    .unwrap()
}

async fn client_finds(bootstrap: &[SocketAddr]) -> Vec<SocketAddr> {
    let dht = Dht::bind(
        "127.0.0.1:0".parse().unwrap(),
        node_config(NetworkName::Tokengo, true),
    )
    .await
    .unwrap();
    let sources = bootstrap::resolve(configured(bootstrap), None);
    let joined = discovery::join(&dht, sources, Duration::from_secs(5), &NoProgress).await;
    assert!(joined.table_size >= 1, "{joined:?}");
    let mut relays = discovery::find_relays(&dht, Duration::from_secs(5)).await;
    relays.sort();
    dht.shutdown().await.unwrap();
    relays
}

fn quic(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn lone_seed_relay_is_discoverable() {
    let seed = relay(44301, &[]).await;
    let found = client_finds(&[seed.local_addr()]).await;
    assert_eq!(found, vec![quic(44301)]);
    seed.shutdown().await.unwrap();
}

#[tokio::test]
async fn relays_joining_a_seed_are_all_found() {
    let seed = relay(44311, &[]).await;
    let second = relay(44312, &[seed.local_addr()]).await;
    let third = relay(44313, &[seed.local_addr()]).await;
    // Give the joiners' background bootstrap and re-announce a moment to land: poll until the
    // seed's store holds both (bounded), rather than sleeping a fixed time.
    for _ in 0..100 {
        let stats = seed.dht().stats().await.unwrap();
        if stats.stored_peers >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let found = client_finds(&[seed.local_addr()]).await;
    assert_eq!(found, vec![quic(44311), quic(44312), quic(44313)]);
    for relay in [seed, second, third] {
        relay.shutdown().await.unwrap();
    }
}

/// Real QUIC relays announced in the DHT: the client's relay source finds them, measures their
/// handshakes and pins each candidate to the identity key its relay proved.
#[tokio::test]
async fn dht_relay_source_offers_measured_and_pinned_relays() {
    tokengo_gateway::transport::install_crypto_provider();
    let mut relays = Vec::new();
    let mut stops = Vec::new();
    let mut seed_dht: Option<SocketAddr> = None;
    for _ in 0..2 {
        let identity = tokengo_gateway_proto::identity::Identity::generate().unwrap();
        let server = tokengo_gateway::relay::Relay::bind(
            tokengo_gateway::relay::RelayOptions::new("127.0.0.1:0".parse().unwrap(), identity),
        )
        .unwrap();
        let quic = server.local_addr().unwrap();
        let key = server.public_key();
        let bootstrap: Vec<SocketAddr> = seed_dht.iter().copied().collect();
        let dht = relay(quic.port(), &bootstrap).await;
        seed_dht.get_or_insert(dht.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        relays.push((quic, key, dht));
        stops.push(stop);
    }
    let seed = seed_dht.unwrap();
    // Wait (bounded) until the second relay's announce reached the seed.
    for _ in 0..100 {
        if relays[0].2.dht().stats().await.unwrap().stored_peers >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = Dht::bind(
        "127.0.0.1:0".parse().unwrap(),
        node_config(NetworkName::Tokengo, true),
    )
    .await
    .unwrap();
    let sources = bootstrap::resolve(configured(&[seed]), None);
    discovery::join(&client, sources, Duration::from_secs(5), &NoProgress).await;
    let mut source = discovery::DhtRelays::new(client, std::sync::Arc::new(NoProgress));
    // The relays are on loopback, as the bootstrap peer is.
    source.allow_local = true;
    use tokengo_gateway::RelaySource;
    let mut candidates = source.candidates().await.unwrap();
    candidates.sort_by(|a, b| a.addr.cmp(&b.addr));
    let mut expected: Vec<(String, Option<[u8; 32]>)> = relays
        .iter()
        .map(|(quic, key, _)| (quic.to_string(), Some(*key)))
        .collect();
    expected.sort();
    let got: Vec<(String, Option<[u8; 32]>)> =
        candidates.into_iter().map(|c| (c.addr, c.pin)).collect();
    assert_eq!(got, expected);
    drop(stops);
}
