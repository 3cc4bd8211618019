//! Interoperability with libtorrent 2.0 (Debian's python3-libtorrent) and the `mainline`
//! crate, on loopback, our node the only bootstrap node.

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

mod common;

use common::*;
use dht_conformance::{MioRuntime, Runtime, TokioRuntime};
use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::Id;
use tokengo_interop::{LibtorrentEvent, LibtorrentNode, eventually};

/// libtorrent's RPC timeout is a fixed 15 s, so its lookups can take a while; these limits only
/// bound how long a broken run hangs.
const LIBTORRENT_PATIENCE: Duration = Duration::from_secs(60);

fn libtorrent_table_has(libtorrent: &mut LibtorrentNode, addr: SocketAddr) -> bool {
    eventually(LIBTORRENT_PATIENCE, || {
        libtorrent.command("table").ok()?;
        libtorrent.wait_for(Duration::from_secs(2), |event| match event {
            LibtorrentEvent::Table(nodes) if nodes.contains(&addr) => Some(()),
            _ => None,
        })
    })
    .is_some()
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

fn libtorrent_interop<R: Runtime>(seed: u64) {
    let ours = R::start(our_config(seed));
    let mut libtorrent = LibtorrentNode::start(ours.addr()).expect("start libtorrent");
    let libtorrent_addr = libtorrent.addr();

    // libtorrent gets answers from our node and keeps it; we keep libtorrent.
    assert!(
        libtorrent_table_has(&mut libtorrent, ours.addr()),
        "libtorrent keeps our node in its routing table"
    );
    let known = eventually(LIBTORRENT_PATIENCE, || {
        let contacts = ours.contacts().ok()?;
        contacts
            .iter()
            .any(|c| c.addr == libtorrent_addr)
            .then_some(())
    });
    assert!(
        known.is_some(),
        "our node keeps libtorrent in its routing table"
    );

    // libtorrent announces IH1 (its listen port, implied_port) through our node.
    let from_libtorrent = Id([0xc1; 20]);
    libtorrent
        .command(&format!("announce {from_libtorrent}"))
        .expect("command");
    let stored = eventually(LIBTORRENT_PATIENCE, || {
        let (peers, _) = ours.get_peers(from_libtorrent).ok()?;
        peers.contains(&libtorrent_addr).then_some(())
    });
    assert!(stored.is_some(), "libtorrent's announce reached our node");

    // mainline finds libtorrent's peer.
    let mainline = mainline_server(ours.addr());
    assert!(mainline.bootstrapped());
    let found = mainline_peers(&mainline, from_libtorrent);
    assert!(
        found.contains(&libtorrent_addr),
        "mainline finds libtorrent's peer: {found:?}"
    );

    // mainline announces IH2; libtorrent finds it.
    let from_mainline = Id([0xc2; 20]);
    mainline_announce(&mainline, from_mainline, 7002);
    assert!(
        libtorrent_finds(&mut libtorrent, from_mainline, loopback(7002)),
        "libtorrent finds mainline's peer"
    );

    // `tokengo dht get-peers` finds both.
    let (code, peers) = cli_get_peers(from_libtorrent, ours.addr());
    assert_eq!(code, Some(0));
    assert!(peers.contains(&libtorrent_addr), "{peers:?}");
    let (code, peers) = cli_get_peers(from_mainline, ours.addr());
    assert_eq!(code, Some(0));
    assert!(peers.contains(&loopback(7002)), "{peers:?}");

    // And libtorrent finds what our node announces.
    let from_us = Id([0xc3; 20]);
    assert!(ours.announce(from_us, Some(7003)).expect("announce") >= 1);
    assert!(
        libtorrent_finds(&mut libtorrent, from_us, loopback(7003)),
        "libtorrent finds our peer"
    );
}

#[test]
fn libtorrent_and_mainline_with_our_node_on_tokio() {
    libtorrent_interop::<TokioRuntime>(21);
}

#[test]
fn libtorrent_and_mainline_with_our_node_on_mio() {
    libtorrent_interop::<MioRuntime>(22);
}
