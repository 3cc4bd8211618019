//! BEP 32 against libtorrent 2.0: libtorrent's IPv6 DHT on `::1` with our dual-stack node
//! (IPv4 and IPv6 loopback) as its only bootstrap node. Peers travel as 18-byte IPv6 values
//! and nodes as `nodes6`, in both directions.

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

mod common;

use common::*;
use dht_conformance::{MioRuntime, Runtime, TokioRuntime};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokengo_core::Id;
use tokengo_interop::{LibtorrentEvent, LibtorrentNode, eventually};

/// libtorrent's RPC timeout is a fixed 15 s; this only bounds how long a broken run hangs.
const LIBTORRENT_PATIENCE: Duration = Duration::from_secs(60);

fn loopback6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

fn libtorrent_finds(libtorrent: &mut LibtorrentNode, info_hash: Id, peer: SocketAddr) -> bool {
    let hex = info_hash.to_string();
    eventually(LIBTORRENT_PATIENCE, || {
        libtorrent.command(&format!("get_peers {hex}")).ok()?;
        libtorrent
            .wait_for(Duration::from_secs(20), |event| match event {
                LibtorrentEvent::Peers { info_hash, peers } if *info_hash == hex => {
                    Some(peers.contains(&peer))
                }
                _ => None,
            })?
            .then_some(())
    })
    .is_some()
}

fn libtorrent_over_ipv6<R: Runtime>(seed: u64) {
    let listen = [
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
    ];
    let ours = R::start_on(&listen, our_config(seed));
    let ours6 = ours
        .addrs()
        .into_iter()
        .find(SocketAddr::is_ipv6)
        .expect("an IPv6 socket");
    let mut libtorrent =
        LibtorrentNode::start_on(IpAddr::V6(Ipv6Addr::LOCALHOST), ours6).expect("start libtorrent");
    let libtorrent_addr = libtorrent.addr();
    assert!(libtorrent_addr.is_ipv6());

    // libtorrent keeps our node (by its IPv6 address) in its IPv6 routing table.
    let kept = eventually(LIBTORRENT_PATIENCE, || {
        libtorrent.command("table").ok()?;
        libtorrent.wait_for(Duration::from_secs(2), |event| match event {
            LibtorrentEvent::Table(nodes) if nodes.contains(&ours6) => Some(()),
            _ => None,
        })
    });
    assert!(
        kept.is_some(),
        "libtorrent keeps our node in its IPv6 table"
    );
    // And our node keeps libtorrent, in its IPv6 table.
    let known = eventually(LIBTORRENT_PATIENCE, || {
        let contacts = ours.contacts().ok()?;
        contacts
            .iter()
            .any(|c| c.addr == libtorrent_addr)
            .then_some(())
    });
    assert!(known.is_some(), "our node keeps libtorrent");
    assert!(ours.stats().expect("stats").nodes_v6 >= 1);

    // libtorrent announces over IPv6; our node and our CLI find its IPv6 peer.
    let from_libtorrent = Id([0x61; 20]);
    libtorrent
        .command(&format!("announce {from_libtorrent}"))
        .expect("command");
    let stored = eventually(LIBTORRENT_PATIENCE, || {
        let (peers, _) = ours.get_peers(from_libtorrent).ok()?;
        peers.contains(&libtorrent_addr).then_some(())
    });
    assert!(
        stored.is_some(),
        "libtorrent's IPv6 announce reached our node"
    );
    let (code, peers) = cli_get_peers(from_libtorrent, ours6);
    assert_eq!(code, Some(0));
    assert_eq!(
        peers,
        vec![libtorrent_addr],
        "the CLI over IPv6 finds libtorrent's peer"
    );

    // Our node announces; libtorrent finds our IPv6 peer in an 18-byte value.
    let from_us = Id([0x62; 20]);
    assert!(ours.announce(from_us, Some(7006)).expect("announce") >= 1);
    assert!(
        libtorrent_finds(&mut libtorrent, from_us, loopback6(7006)),
        "libtorrent finds our IPv6 peer"
    );
}

#[test]
fn libtorrent_ipv6_dht_with_our_node_on_tokio() {
    libtorrent_over_ipv6::<TokioRuntime>(31);
}

#[test]
fn libtorrent_ipv6_dht_with_our_node_on_mio() {
    libtorrent_over_ipv6::<MioRuntime>(32);
}
