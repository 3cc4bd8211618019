//! `tokengo dht` as a user runs it: real processes on loopback.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tokengo");

fn dht(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("dht")
        .args(args)
        .output()
        .expect("run tokengo")
}

/// A `tokengo dht node` process and the address and id it printed.
struct NodeProcess {
    child: Child,
    addr: SocketAddr,
    /// Every address it listens on (one per family).
    addrs: Vec<SocketAddr>,
    id: String,
}

impl NodeProcess {
    fn start(extra: &[&str]) -> NodeProcess {
        Self::start_on(&["127.0.0.1:0"], extra)
    }

    fn start_on(listen: &[&str], extra: &[&str]) -> NodeProcess {
        let mut child = Command::new(BIN)
            .args(["dht", "node"])
            .args(listen.iter().flat_map(|l| ["--listen", l]))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a node");
        let stdout = child.stdout.take().expect("node stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the node's first line");
        // "listening on ADDR [ADDR6] id ID network NAME"
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words.get(..2),
            Some(&["listening", "on"][..]),
            "unexpected line {line:?}"
        );
        let addrs: Vec<SocketAddr> = words[2..]
            .iter()
            .take_while(|w| **w != "id")
            .map(|w| w.parse().expect("the node's address"))
            .collect();
        let id = words[2 + addrs.len() + 1].to_string();
        NodeProcess {
            child,
            addr: addrs[0],
            addrs,
            id,
        }
    }

    /// Sends SIGINT and waits; returns whether it exited with 0.
    fn stop(mut self) -> bool {
        common::procs::interrupt(&self.child);
        self.child.wait().expect("wait for the node").success()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tokengo dht announce --keep` process, killed if a test fails before stopping it.
struct KeptAnnounce(Child);

impl Drop for KeptAnnounce {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let cases: [&[&str]; 11] = [
        &["get-peers", "abc", "--bootstrap", "127.0.0.1:1"],
        &["get-peers", &"g".repeat(40), "--bootstrap", "127.0.0.1:1"],
        &["get-peers", &"a".repeat(40), "--bootstrap", "127.0.0.1"],
        &["announce", &"a".repeat(40), "--bootstrap", "127.0.0.1:1"],
        &["ping", "not an address"],
        &["node", "--listen", "localhost"],
        // One address per family.
        &["node", "--listen", "127.0.0.1:0", "--listen", "127.0.0.2:0"],
        // BEP 42 policies are prefer, enforce and off, and only Mainline looks at ids.
        &[
            "node",
            "--listen",
            "127.0.0.1:0",
            "--network",
            "mainline",
            "--secure-ids",
            "strict",
        ],
        &["node", "--listen", "127.0.0.1:0", "--secure-ids", "enforce"],
        // --every needs --keep, and a positive whole number of seconds.
        &["announce", &"a".repeat(40), "--port", "1", "--every", "5"],
        &[
            "announce",
            &"a".repeat(40),
            "--port",
            "1",
            "--keep",
            "--every",
            "0",
        ],
    ];
    for args in cases {
        let out = dht(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    }
    // The tokengo network has no public routers: a one-shot command needs --bootstrap.
    let out = dht(&["get-peers", &"a".repeat(40)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bootstrap"));
}

#[test]
fn state_file_keeps_the_node_id_across_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.json");
    let path_text = path.to_str().expect("utf-8 path");
    for runtime in ["tokio", "mio"] {
        let first = NodeProcess::start(&["--state", path_text, "--runtime", runtime]);
        let id = first.id.clone();
        assert!(first.stop(), "the node exits 0 on SIGINT");
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("state written")).expect("json");
        assert_eq!(saved["id"], id.as_str());
        assert_eq!(saved["network"], "tokengo");
        let second = NodeProcess::start(&["--state", path_text, "--runtime", runtime]);
        assert_eq!(second.id, id, "the restored node keeps its id");
        assert!(second.stop());
        std::fs::remove_file(&path).expect("reset the state");
    }
    // A running node saves its state periodically, not only at exit.
    let running = NodeProcess::start(&["--state", path_text, "--save-every", "1"]);
    let saved = (0..100).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let bytes = std::fs::read(&path).ok()?;
        serde_json::from_slice::<serde_json::Value>(&bytes).ok()
    });
    assert_eq!(
        saved.expect("saved while running")["id"],
        running.id.as_str()
    );
    assert!(running.stop());

    // A state saved on one network is refused on another.
    let node = NodeProcess::start(&["--state", path_text]);
    assert!(node.stop());
    let out = dht(&[
        "node",
        "--listen",
        "127.0.0.1:0",
        "--network",
        "mainline",
        "--state",
        path_text,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ping_without_answer_exits_1() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let out = dht(&["ping", &addr, "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn announce_then_get_peers_through_processes() {
    let seed = NodeProcess::start(&[]);
    let seed_addr = seed.addr.to_string();
    let others: Vec<NodeProcess> = ["tokio", "mio", "tokio", "mio"]
        .iter()
        .map(|runtime| NodeProcess::start(&["--bootstrap", &seed_addr, "--runtime", runtime]))
        .collect();
    let info_hash = "5a".repeat(20);
    let out = dht(&[
        "announce",
        &info_hash,
        "--port",
        "4321",
        "--bootstrap",
        &seed_addr,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted by"));

    let bootstrap = others[1].addr.to_string();
    let out = dht(&["get-peers", &info_hash, "--bootstrap", &bootstrap]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "127.0.0.1:4321\n");

    let out = dht(&["get-peers", &info_hash, "--bootstrap", &seed_addr, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["peers"], serde_json::json!(["127.0.0.1:4321"]));
    assert_eq!(json["complete"], true);
    assert!(json["stats"]["answered"].as_u64().unwrap_or(0) >= 1);
    // One-shot: no bootstrap first; every datagram the command sent was one of its lookup's
    // get_peers queries, the first of them to the bootstrap node.
    assert_eq!(json["datagrams_sent"], json["stats"]["queried"], "{json}");
    assert!(json["table_size"].as_u64().unwrap_or(0) >= 1, "{json}");

    // --keep stays up (re-announcing) until SIGINT, then exits 0.
    let kept = "6b".repeat(20);
    let keeper = Command::new(BIN)
        .args([
            "dht",
            "announce",
            &kept,
            "--port",
            "4400",
            "--keep",
            "--every",
            "1",
            "--bootstrap",
            &seed_addr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn announce --keep");
    let mut keeper = KeptAnnounce(keeper);
    let stdout = keeper.0.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // Every round is reported: the first at once, the next a second later.
    for round in ["first", "second"] {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no {round} round reported"));
        let accepted = line
            .strip_prefix(&format!("{kept} port 4400: accepted by "))
            .and_then(|rest| rest.strip_suffix(" nodes"))
            .and_then(|n| n.parse::<usize>().ok());
        assert!(accepted.is_some_and(|n| n > 0), "{round} round: {line}");
    }
    let out = dht(&["get-peers", &kept, "--bootstrap", &seed_addr]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "127.0.0.1:4400\n");
    common::procs::interrupt(&keeper.0);
    assert!(keeper.0.wait().expect("wait").success());

    let out = dht(&["get-peers", &"00".repeat(20), "--bootstrap", &seed_addr]);
    assert_eq!(out.status.code(), Some(1), "no peers: exit 1");
    assert!(out.stdout.is_empty());

    let out = dht(&["ping", &seed_addr]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), seed.id);

    let out = dht(&["find-node", &others[2].id, "--bootstrap", &seed_addr]);
    assert_eq!(out.status.code(), Some(0));
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string);
    assert_eq!(first, Some(format!("{} {}", others[2].id, others[2].addr)));

    for node in others {
        assert!(node.stop());
    }
    assert!(seed.stop());
}

/// The addresses in a node's saved routing table, once the file exists.
fn table_of(path: &std::path::Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(path).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        state["contacts"]
            .as_array()?
            .iter()
            .filter_map(|c| c["addr"].as_str().map(str::to_string))
            .collect(),
    )
}

#[test]
fn private_and_public_nodes_never_share_table_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let node = |network: &str, name: &str, bootstrap: &[&str], extra: &[&str]| {
        let path = state(name);
        let mut args = vec!["--network", network, "--state", &path, "--save-every", "1"];
        for b in bootstrap {
            args.extend(["--bootstrap", b]);
        }
        args.extend(extra);
        NodeProcess::start(&args)
    };
    let private_seed = node("tokengo", "private-seed", &[], &[]);
    let public_seed = node("mainline", "public-seed", &[], &[]);
    let (private_addr, public_addr) = (private_seed.addr.to_string(), public_seed.addr.to_string());
    // Each bridge joins its own network's seed and also tries the other network's. The public
    // one enforces BEP 42, which exempts loopback: it still keeps its loopback seed.
    let private_bridge = node(
        "tokengo",
        "private-bridge",
        &[&private_addr, &public_addr],
        &[],
    );
    let public_bridge = node(
        "mainline",
        "public-bridge",
        &[&public_addr, &private_addr],
        &["--secure-ids", "enforce"],
    );
    let private: Vec<String> = [&private_seed, &private_bridge]
        .iter()
        .map(|n| n.addr.to_string())
        .collect();
    let public: Vec<String> = [&public_seed, &public_bridge]
        .iter()
        .map(|n| n.addr.to_string())
        .collect();
    let tables = [
        ("private-seed", &private_bridge, &private, &public),
        ("private-bridge", &private_seed, &private, &public),
        ("public-seed", &public_bridge, &public, &private),
        ("public-bridge", &public_seed, &public, &private),
    ];
    // Each node's table fills with its own network's other node; none ever holds the other
    // network's nodes, though both bridges sent them queries.
    for (name, peer, own, foreign) in tables {
        let peer = peer.addr.to_string();
        let table = (0..100)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                table_of(&dir.path().join(name)).filter(|t| t.contains(&peer))
            })
            .unwrap_or_else(|| panic!("{name} never learned {peer}"));
        assert!(table.iter().all(|a| own.contains(a)), "{name}: {table:?}");
        assert!(
            !table.iter().any(|a| foreign.contains(a)),
            "{name}: {table:?}"
        );
    }
    // Saved again a second later: still nothing foreign.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for (name, _, own, _) in tables {
        let table = table_of(&dir.path().join(name)).expect("state file");
        assert!(table.iter().all(|a| own.contains(a)), "{name}: {table:?}");
    }
}

#[test]
fn sample_lists_the_info_hashes_nodes_store() {
    let seed = NodeProcess::start(&[]);
    let seed_addr = seed.addr.to_string();
    let empty = dht(&["sample", "--bootstrap", &seed_addr, "--json"]);
    assert_eq!(empty.status.code(), Some(1), "nothing stored yet");
    let json: serde_json::Value = serde_json::from_slice(&empty.stdout).expect("one JSON object");
    assert_eq!(json["nodes"][0]["num"], 0);
    assert_eq!(json["nodes"][0]["interval_s"], 21600);

    let keys = ["5b".repeat(20), "5c".repeat(20)];
    for key in &keys {
        let out = dht(&["announce", key, "--port", "4000", "--bootstrap", &seed_addr]);
        assert_eq!(out.status.code(), Some(0));
    }
    let out = dht(&["sample", "--bootstrap", &seed_addr]);
    assert_eq!(out.status.code(), Some(0));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, keys);
    assert_eq!(
        dht(&["sample", "abc", "--bootstrap", &seed_addr])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_dual_stack_node_serves_lookups_over_ipv6() {
    let seed = NodeProcess::start_on(&["127.0.0.1:0", "[::1]:0"], &[]);
    assert_eq!(seed.addrs.len(), 2, "{:?}", seed.addrs);
    assert!(seed.addrs[0].is_ipv4() && seed.addrs[1].is_ipv6());
    let seed6 = seed.addrs[1].to_string();
    // A node that knows the seed by its IPv6 address only.
    let other = NodeProcess::start_on(&["[::1]:0"], &["--bootstrap", &seed6]);
    let info_hash = "3c".repeat(20);
    let out = dht(&[
        "announce",
        &info_hash,
        "--port",
        "4332",
        "--bootstrap",
        &seed6,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bootstrap = other.addr.to_string();
    let out = dht(&["get-peers", &info_hash, "--bootstrap", &bootstrap]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[::1]:4332\n");
    assert!(other.stop() && seed.stop());
}
