//! BEP 51 `sample_infohashes` with libtorrent, on loopback, our node (tokio runtime) the only
//! bootstrap node: libtorrent samples what our node stores (a mainline node's announce), and
//! `tokengo dht sample` samples what libtorrent stores.

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

mod common;

use common::*;
use dht_conformance::{Runtime, TokioRuntime};
use std::process::Command;
use std::time::Duration;
use tokengo_core::Id;
use tokengo_interop::{LibtorrentEvent, LibtorrentNode, eventually};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn libtorrent_and_our_node_sample_each_other() {
    let ours = TokioRuntime::start(our_config(51));
    let mut lt = LibtorrentNode::start(ours.addr()).expect("libtorrent starts");
    let lt_addr = lt.addr();
    let joined = eventually(LIMIT, || {
        let contacts = ours.contacts().ok()?;
        contacts.iter().any(|c| c.addr == lt_addr).then_some(())
    });
    assert!(joined.is_some(), "our node keeps libtorrent in its table");

    // Our node announces; the announce is stored by libtorrent (and served by us).
    let info_hash = Id([0x51; 20]);
    assert!(ours.announce(info_hash, Some(5151)).expect("announce") >= 1);

    // A mainline node announces through our node, which stores it.
    let from_mainline = Id([0x52; 20]);
    let ml = mainline_server(ours.addr());
    mainline_announce(&ml, from_mainline, 5252);
    assert_eq!(ours.stats().expect("stats").stored_keys, 1);

    // libtorrent samples our node.
    lt.command(&format!("sample {} {}", ours.addr(), Id([0; 20])))
        .expect("command");
    let ours_text = ours.addr().to_string();
    let sample = lt.wait_for(LIMIT, |e| match e {
        LibtorrentEvent::Sample {
            from,
            num,
            interval,
            samples,
        } if *from == ours_text => Some((*num, *interval, samples.clone())),
        _ => None,
    });
    // What our node stores for others (not its own announce), and the interval, 6 h.
    assert_eq!(sample, Some((1, 21600, vec![from_mainline.to_string()])));

    // Our CLI samples libtorrent, which holds our announce.
    let out = Command::new(env!("CARGO_BIN_EXE_tokengo-dht"))
        .args(["sample", "--network", "mainline", "--json"])
        .args(["--bootstrap", &lt_addr.to_string(), "--timeout", "30"])
        .output()
        .expect("run tokengo dht sample");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let from_lt = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["addr"] == lt_addr.to_string())
        .expect("libtorrent answered the sample");
    // It holds our announce and, as mainline's lookup reached it too, mainline's.
    let samples = from_lt["samples"].as_array().expect("samples");
    assert!(samples.contains(&info_hash.to_string().into()), "{from_lt}");
    assert_eq!(from_lt["num"].as_u64(), Some(samples.len() as u64));
}
