//! BEP 44 items across implementations, on loopback, with our node (on the tokio runtime) as
//! the only node between writer and reader: libtorrent and mainline put, our CLI and our node
//! get, and the other way round; mutable updates (seq 1 then 2) are seen, an older seq is
//! refused with 302; mainline's announce_peer (whose storage lookup is a BEP 44 get) goes
//! through our node and libtorrent finds the peer.

#![allow(deprecated)] // mainline 8 deprecates its blocking API for its async one.

mod common;

use common::*;
use dht_conformance::{ItemRequest, Runtime, TokioRuntime};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokengo_core::Id;
use tokengo_core::item::{Item, MutableItem, SigningKey, Value, immutable_target};
use tokengo_interop::{LibtorrentEvent, LibtorrentNode, eventually, hex};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `tokengo dht ARGS --network mainline --bootstrap OURS`; returns exit code and stdout.
fn cli(args: &[&str], ours: SocketAddr) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokengo-dht"))
        .args(args)
        .args(["--network", "mainline", "--bootstrap", &ours.to_string()])
        .args(["--timeout", "30"])
        .output()
        .expect("run tokengo dht");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A libtorrent node that has our node in its routing table.
fn libtorrent(ours: SocketAddr) -> LibtorrentNode {
    let mut node = LibtorrentNode::start(ours).expect("libtorrent starts");
    let joined = eventually(LIMIT, || {
        node.command("table").ok()?;
        node.wait_for(Duration::from_secs(2), |e| match e {
            LibtorrentEvent::Table(nodes) if nodes.contains(&ours) => Some(()),
            _ => None,
        })
    });
    assert!(joined.is_some(), "libtorrent keeps our node in its table");
    node
}

fn lt_put(node: &mut LibtorrentNode) -> Option<(String, i64, u64)> {
    node.wait_for(LIMIT, |e| match e {
        LibtorrentEvent::Put {
            target,
            seq,
            stored,
        } => Some((target.clone(), *seq, *stored)),
        _ => None,
    })
}

fn lt_get_immutable(node: &mut LibtorrentNode, target: Id) -> Option<Vec<u8>> {
    node.command(&format!("get_immutable {target}"))
        .expect("command");
    node.wait_for(LIMIT, |e| match e {
        LibtorrentEvent::Immutable { target: t, value } if *t == target.to_string() => {
            Some(value.clone())
        }
        _ => None,
    })
    .flatten()
}

/// The authoritative answer of a libtorrent mutable get: seq and value.
fn lt_get_mutable(
    node: &mut LibtorrentNode,
    key: &[u8; 32],
    salt: &[u8],
) -> Option<(i64, Vec<u8>)> {
    let salt = if salt.is_empty() {
        "-".to_string()
    } else {
        hex(salt)
    };
    node.command(&format!("get_mutable {} {salt}", hex(key)))
        .expect("command");
    node.wait_for(LIMIT, |e| match e {
        LibtorrentEvent::Mutable {
            key: k,
            seq,
            value,
            authoritative: true,
        } if *k == hex(key) => Some(value.clone().map(|v| (*seq, v))),
        _ => None,
    })
    .flatten()
}

fn stored_items(ours: &TokioRuntime) -> usize {
    ours.stats().expect("stats").stored_items
}

#[test]
fn libtorrent_and_our_cli_exchange_immutable_and_mutable_items() {
    let ours = TokioRuntime::start(our_config(44));
    let mut lt = libtorrent(ours.addr());

    // libtorrent puts an immutable string; our CLI and our node get it.
    lt.command(&format!("put_immutable {}", hex(b"from libtorrent")))
        .expect("command");
    let (target, _, stored) = lt_put(&mut lt).expect("libtorrent's put finished");
    assert!(stored >= 1, "our node stored libtorrent's item");
    assert_eq!(stored_items(&ours), 1);
    let target_id = Id::from_hex(&target).expect("a target");
    assert_eq!(target_id, immutable_target(b"15:from libtorrent"));
    assert_eq!(
        cli(&["get", &target], ours.addr()),
        (Some(0), "from libtorrent\n".into())
    );

    // Our CLI puts an immutable string; libtorrent gets it.
    let (code, out) = cli(&["put", "from tokengo"], ours.addr());
    assert_eq!(code, Some(0));
    let ours_target = Id::from_hex(out.trim()).expect("the CLI prints the target");
    assert_eq!(
        lt_get_immutable(&mut lt, ours_target),
        Some(b"from tokengo".to_vec())
    );

    // libtorrent puts a mutable item twice (it reads the current seq and adds one): seq 1,
    // then seq 2; our CLI sees 2.
    let seed = [21u8; 32];
    let key = SigningKey::from_seed(seed);
    let pk = hex(&key.public_key());
    for (seq, text) in [(1, "lt one"), (2, "lt two")] {
        lt.command(&format!(
            "put_mutable {} {pk} {} {}",
            hex(&seed),
            hex(b"ns"),
            hex(text.as_bytes())
        ))
        .expect("command");
        let (_, put_seq, stored) = lt_put(&mut lt).expect("libtorrent's put finished");
        assert_eq!(
            (put_seq, stored >= 1),
            (seq, true),
            "libtorrent's mutable put {seq}"
        );
    }
    let (code, value) = cli(
        &["get", "--public-key", &pk, "--salt", "ns", "--json"],
        ours.addr(),
    );
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&value).expect("json");
    assert_eq!(
        (json["seq"].as_i64(), json["value"].as_str()),
        (Some(2), Some("lt two"))
    );

    // An older seq for libtorrent's key is refused by our node with 302.
    let (code, out) = cli(
        &[
            "put",
            "--mutable",
            "--key",
            &key_file(&seed),
            "--salt",
            "ns",
            "--seq",
            "1",
            "--json",
            "stale",
        ],
        ours.addr(),
    );
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        json["refused"]
            .as_array()
            .expect("codes")
            .contains(&302.into()),
        "{json}"
    );

    // Our CLI puts a mutable item, seq 1 then 2; libtorrent sees 2.
    let mine = [22u8; 32];
    let file = key_file(&mine);
    for text in ["cli one", "cli two"] {
        let (code, _) = cli(&["put", "--mutable", "--key", &file, text], ours.addr());
        assert_eq!(code, Some(0));
    }
    let mine_pk = SigningKey::from_seed(mine).public_key();
    assert_eq!(
        lt_get_mutable(&mut lt, &mine_pk, b""),
        Some((2, b"cli two".to_vec()))
    );
}

/// A key file for the CLI holding `seed` (in a directory that lives as long as the process).
fn key_file(seed: &[u8; 32]) -> String {
    let dir = std::env::temp_dir().join(format!("tokengo-items-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(hex(&seed[..4]));
    std::fs::write(&path, hex(seed)).expect("write the key");
    path.to_str().expect("utf-8").to_string()
}

#[test]
fn mainline_and_our_node_exchange_items_and_announces() {
    let ours = TokioRuntime::start(our_config(45));
    let ml = mainline_server(ours.addr());
    assert!(ml.bootstrapped());

    // mainline puts an immutable item; our CLI gets it, and mainline gets what our CLI put.
    let target = ml
        .put_immutable(b"from mainline")
        .expect("mainline puts through our node");
    let target = Id(*target.as_bytes());
    assert_eq!(target, immutable_target(b"13:from mainline"));
    assert_eq!(
        cli(&["get", &target.to_string()], ours.addr()),
        (Some(0), "from mainline\n".into())
    );
    let (code, out) = cli(&["put", "for mainline"], ours.addr());
    assert_eq!(code, Some(0));
    let from_cli = mainline_id(Id::from_hex(out.trim()).expect("a target"));
    let got = ml
        .get_immutable(from_cli)
        .expect("mainline gets our CLI's item");
    assert_eq!(&got[..], b"for mainline");

    // mainline puts seq 1 then 2 (with cas); our node reads 2; an older seq is refused.
    let seed = [31u8; 32];
    let signer = mainline::SigningKey::from_bytes(&seed);
    let item1 = mainline::MutableItem::new(signer.clone(), b"ml one", 1, Some(b"s"));
    ml.put_mutable(item1, None).expect("mainline puts seq 1");
    let item2 = mainline::MutableItem::new(signer.clone(), b"ml two", 2, Some(b"s"));
    ml.put_mutable(item2, Some(1)).expect("mainline puts seq 2");
    let pk = SigningKey::from_seed(seed).public_key();
    let got = ours
        .get_item(ItemRequest::Mutable {
            key: pk,
            salt: b"s".to_vec(),
        })
        .expect("get");
    let expected = MutableItem::sign(
        &SigningKey::from_seed(seed),
        b"s",
        2,
        Value::string(b"ml two").expect("value"),
    )
    .expect("signed");
    assert_eq!(
        got,
        Some(Item::Mutable(expected)),
        "mainline's signature verifies with ring"
    );
    let (code, out) = cli(
        &["get", "--public-key", &hex(&pk), "--salt", "s"],
        ours.addr(),
    );
    assert_eq!((code, out.as_str()), (Some(0), "ml two\n"));
    let stale = mainline::MutableItem::new(signer, b"ml stale", 1, Some(b"s"));
    let refused = ml
        .put_mutable(stale, None)
        .expect_err("an older seq is refused");
    assert!(
        format!("{refused:?}").contains("NotMostRecent") || format!("{refused:?}").contains("302"),
        "{refused:?}"
    );

    // Our CLI puts a mutable item; mainline reads it.
    let mine = [32u8; 32];
    let (code, _) = cli(
        &["put", "--mutable", "--key", &key_file(&mine), "cli item"],
        ours.addr(),
    );
    assert_eq!(code, Some(0));
    let mine_pk = SigningKey::from_seed(mine).public_key();
    let got = ml
        .get_mutable_most_recent(&mine_pk, None)
        .expect("mainline reads our CLI's item");
    assert_eq!((got.seq(), got.value()), (1, &b"cli item"[..]));

    // mainline's announce_peer, with no get_peers before it (its storage lookup is a BEP 44
    // get), goes through our node; libtorrent then finds the peer.
    let info_hash = Id([0x44; 20]);
    ml.announce_peer(mainline_id(info_hash), Some(6444))
        .expect("mainline announces through our node");
    let mut lt = libtorrent(ours.addr());
    lt.command(&format!("get_peers {info_hash}"))
        .expect("command");
    let found = lt.wait_for(LIMIT, |e| match e {
        LibtorrentEvent::Peers { peers, .. } if peers.contains(&loopback(6444)) => Some(()),
        _ => None,
    });
    assert!(
        found.is_some(),
        "libtorrent finds the peer mainline announced"
    );
}
