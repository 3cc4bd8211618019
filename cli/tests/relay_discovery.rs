//! Relays announce themselves in the private DHT and a read-only client finds them, on
//! loopback with real sockets: a seed relay alone, then a seed and two relays that join it.

use std::net::SocketAddr;
use std::time::Duration;
use tokengo::bootstrap_peers::{self, Sources};
use tokengo::dht::args::{NetworkName, node_config};
use tokengo::discovery::{self, RelayDht, RelayDhtConfig};
use tokengo::progress::NoProgress;
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
    let sources = bootstrap_peers::resolve(configured(bootstrap), None);
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
