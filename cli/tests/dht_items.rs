//! `tokengo dht put` and `tokengo dht get` (BEP 44) as a user runs them: real processes on
//! loopback, with a `tokengo dht node` process as the only node between writer and reader.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tokengo");

fn dht(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("dht")
        .args(args)
        .output()
        .expect("run tokengo")
}

/// A `tokengo dht node` process and the address it printed.
struct NodeProcess {
    child: Child,
    addr: String,
}

impl NodeProcess {
    fn start(runtime: &str) -> NodeProcess {
        let mut child = Command::new(BIN)
            .args([
                "dht",
                "node",
                "--listen",
                "127.0.0.1:0",
                "--runtime",
                runtime,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the node's first line");
        // "listening on ADDR id ID network NAME"
        let addr = line
            .split_whitespace()
            .nth(2)
            .expect("an address")
            .to_string();
        NodeProcess { child, addr }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(out)
}

#[test]
fn an_immutable_value_put_from_the_shell_is_got_back() {
    for runtime in ["tokio", "mio"] {
        let node = NodeProcess::start(runtime);
        let b = ["--bootstrap", node.addr.as_str()];
        let put = ok(&dht(&[&["put", "hello from the shell"], &b[..]].concat()));
        // BEP 44: the target is the SHA-1 of the bencoded value, "20:hello from the shell".
        let target = put.trim();
        assert_eq!(target.len(), 40, "{put:?}");
        let got = ok(&dht(&[&["get", target], &b[..]].concat()));
        assert_eq!(got, "hello from the shell\n");

        let json = ok(&dht(&[&["get", target, "--json"], &b[..]].concat()));
        let json: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
        assert_eq!(json["found"], true);
        assert_eq!(json["value"], "hello from the shell");
        assert_eq!(json["seq"], serde_json::Value::Null);

        let absent = "00".repeat(20);
        let out = dht(&[&["get", absent.as_str(), "--timeout", "5"], &b[..]].concat());
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn mutable_values_follow_their_sequence_numbers() {
    let node = NodeProcess::start("tokio");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("dht.key");
    let key = key.to_str().expect("utf-8 path");
    let b = ["--bootstrap", node.addr.as_str()];
    let put = |value: &str, extra: &[&str]| {
        dht(&[
            &["put", "--mutable", "--key", key, "--salt", "s", value],
            extra,
            &b[..],
        ]
        .concat())
    };
    // No --seq: one more than what the DHT holds, so 1 and then 2.
    let first = ok(&put("one", &[]));
    let (public_key, seq) = first.trim().split_once(' ').expect("KEY SEQ");
    assert_eq!((public_key.len(), seq), (64, "1"));
    let second = ok(&put("two", &[]));
    assert_eq!(second.trim(), format!("{public_key} 2"));

    let get = dht(&[&["get", "--public-key", public_key, "--salt", "s"], &b[..]].concat());
    assert_eq!(ok(&get), "two\n");
    assert!(String::from_utf8_lossy(&get.stderr).contains("seq 2"));
    // Another salt is another item.
    let other = dht(&[
        &["get", "--public-key", public_key, "--timeout", "5"],
        &b[..],
    ]
    .concat());
    assert_eq!(other.status.code(), Some(1));

    // An older sequence number is refused with 302, and nothing is stored.
    let older = put("stale", &["--seq", "1", "--json"]);
    assert_eq!(older.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&text(&older)).expect("one JSON object");
    assert_eq!(json["accepted"], 0);
    assert_eq!(json["refused"], serde_json::json!([302]));
    let get = dht(&[&["get", "--public-key", public_key, "--salt", "s"], &b[..]].concat());
    assert_eq!(ok(&get), "two\n");

    // A compare-and-swap on the wrong sequence number is refused with 301.
    let cas = put("three", &["--seq", "3", "--cas", "1", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&text(&cas)).expect("one JSON object");
    assert_eq!(json["refused"], serde_json::json!([301]));
    ok(&put("three", &["--seq", "3", "--cas", "2"]));
}

#[test]
fn bad_item_input_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad_key = dir.path().join("bad.key");
    std::fs::write(&bad_key, "not a key").expect("write");
    let bad_key = bad_key.to_str().expect("utf-8 path");
    let long = "x".repeat(1000);
    let long_salt = "s".repeat(65);
    let b = "127.0.0.1:1";
    let cases: [&[&str]; 7] = [
        &["get", "abc", "--bootstrap", b],
        &["get", "--public-key", "abcd", "--bootstrap", b],
        &[
            "get",
            "--public-key",
            &"ab".repeat(32),
            "--salt",
            &long_salt,
            "--bootstrap",
            b,
        ],
        &["get", "--bootstrap", b],
        &["put", &long, "--bootstrap", b],
        &["put", "--mutable", "--key", bad_key, "v", "--bootstrap", b],
        &["put", "--salt", "s", "v", "--bootstrap", b],
    ];
    for args in cases {
        let out = dht(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    }
}
