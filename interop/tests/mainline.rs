//! Interoperability with the `mainline` crate (v8), on loopback, our node the only bootstrap.

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

mod common;

use common::*;
use dht_conformance::{MioRuntime, Runtime, TokioRuntime};
use std::time::Duration;
use tokengo_core::Id;
use tokengo_interop::eventually;

fn mainline_interop<R: Runtime>(seed: u64) {
    let ours = R::start(our_config(seed));
    let first = mainline_server(ours.addr());
    assert!(first.bootstrapped(), "mainline got answers from our node");
    assert!(
        first.to_bootstrap().contains(&ours.addr().to_string()),
        "mainline keeps our node in its routing table: {:?}",
        first.to_bootstrap()
    );
    let first_addr = mainline_addr(&first);
    let known = eventually(Duration::from_secs(10), || {
        ours.contacts()
            .ok()?
            .iter()
            .any(|c| c.addr == first_addr)
            .then_some(())
    });
    assert!(
        known.is_some(),
        "our node keeps the mainline server in its routing table"
    );

    // mainline announces through our node; we find it.
    let from_mainline = Id([0xb2; 20]);
    mainline_announce(&first, from_mainline, 6002);
    let (peers, _) = ours.get_peers(from_mainline).expect("get_peers");
    assert!(
        peers.contains(&loopback(6002)),
        "we find mainline's peer: {peers:?}"
    );

    // we announce; another mainline node finds it.
    let from_us = Id([0xb3; 20]);
    assert!(ours.announce(from_us, Some(6003)).expect("announce") >= 1);
    let second = mainline_server(ours.addr());
    assert!(second.bootstrapped());
    let found = mainline_peers(&second, from_us);
    assert!(
        found.contains(&loopback(6003)),
        "mainline finds our announce: {found:?}"
    );

    // `tokengo dht get-peers` finds the peer mainline announced.
    let (code, peers) = cli_get_peers(from_mainline, ours.addr());
    assert_eq!(code, Some(0));
    assert!(peers.contains(&loopback(6002)), "{peers:?}");
}

#[test]
fn mainline_with_our_node_on_tokio() {
    mainline_interop::<TokioRuntime>(11);
}

#[test]
fn mainline_with_our_node_on_mio() {
    mainline_interop::<MioRuntime>(12);
}
