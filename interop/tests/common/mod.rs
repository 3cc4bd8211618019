//! What the interop tests share: our node's Mainline config, mainline-crate nodes, and the
//! `tokengo dht get-peers` command.

#![allow(dead_code, deprecated)] // mainline 8 deprecates its blocking API for its async one.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use tokengo_core::{Config, Id};

/// Our node on the public Mainline DHT protocol (no network tag).
pub fn our_config(seed: u64) -> Config {
    Config {
        seed,
        ..Config::mainline()
    }
}

/// A mainline-crate node in server mode (its default is a read-only client), bound to
/// loopback, with `bootstrap` as its only bootstrap node.
pub fn mainline_server(bootstrap: SocketAddr) -> mainline::Dht {
    mainline::Dht::builder()
        .server_mode()
        .bootstrap(&[bootstrap])
        .bind_address(Ipv4Addr::LOCALHOST)
        .port(0)
        .build()
        .expect("start a mainline node")
}

pub fn mainline_id(id: Id) -> mainline::Id {
    mainline::Id::from_bytes(id.0).expect("20 bytes")
}

/// Every peer a mainline node finds for `info_hash`.
pub fn mainline_peers(node: &mainline::Dht, info_hash: Id) -> Vec<SocketAddr> {
    node.get_peers(mainline_id(info_hash))
        .flatten()
        .map(SocketAddr::V4)
        .collect()
}

/// Announces `port` for `info_hash` from a mainline node, after a get_peers lookup of the key as
/// a BitTorrent client would do. (Without it, mainline collects tokens with a BEP 44 `get`
/// lookup, which our node answers too: see `tests/items.rs`.)
pub fn mainline_announce(node: &mainline::Dht, info_hash: Id, port: u16) {
    let _ = mainline_peers(node, info_hash);
    node.announce_peer(mainline_id(info_hash), Some(port))
        .expect("mainline announces");
}

/// The mainline node's address.
pub fn mainline_addr(node: &mainline::Dht) -> SocketAddr {
    SocketAddr::V4(node.info().local_addr())
}

/// Runs `tokengo dht get-peers` on Mainline through `bootstrap`; returns the exit code and the
/// peers printed on stdout.
pub fn cli_get_peers(info_hash: Id, bootstrap: SocketAddr) -> (Option<i32>, Vec<SocketAddr>) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokengo-dht"))
        .args(["get-peers", &info_hash.to_string(), "--network", "mainline"])
        .args(["--bootstrap", &bootstrap.to_string(), "--timeout", "30"])
        .output()
        .expect("run tokengo dht get-peers");
    let peers = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.parse().expect("one IP:PORT per line"))
        .collect();
    (out.status.code(), peers)
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
