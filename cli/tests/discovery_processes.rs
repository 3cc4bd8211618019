//! The private network as real processes on loopback: a seed relay, a second relay, an exit and
//! a zero-configuration client, bootstrapped once through `--bootstrap-peer` and once through a
//! local bootstrap.json server; then a request through the discovered path. Then the relay
//! carrying the traffic is killed and the client and the exit move to the other one; and a lone
//! seed relay is a whole network on its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use common::procs::{BIN, Proc, free_tcp, free_udp, http_server, post, spawn, wait_for};

/// Posts a chat request until it succeeds (the exit may register a moment after the client is
/// ready, or be moving to another relay; meanwhile the proxy answers 503), for at most 60 s;
/// returns the last answer.
fn post_until_ok(api: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = post(api, r#"{"messages":[{"role":"user","content":"hi"}]}"#);
        if answer.starts_with("HTTP/1.1 200") || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The relay address in the exit's next "registered with relay" log line.
fn registered_relay(exit_out: &mpsc::Receiver<String>) -> String {
    let lines = wait_for(exit_out, "registered with relay");
    let line = lines.last().unwrap();
    let at = line.find("relay=").unwrap_or_else(|| panic!("{line}")) + "relay=".len();
    line[at..].split_whitespace().next().unwrap().to_string()
}

/// An exit for `backend` that finds relays through `seed_dht`, its key kept in `dir`.
fn spawn_exit(
    dir: &std::path::Path,
    backend: SocketAddr,
    seed_dht: &str,
) -> (Proc, mpsc::Receiver<String>) {
    let key = dir.join("ohttp.key");
    spawn(&[
        "exit",
        "--backend",
        &format!("http://{backend}"),
        "--ohttp-key",
        key.to_str().unwrap(),
        "--no-default-bootstrap",
        "--bootstrap-peer",
        seed_dht,
    ])
}

/// A private network of processes on loopback.
struct Network {
    /// The relays, the seed first; `None` once killed.
    relays: Vec<Option<Proc>>,
    /// Each relay's QUIC address, in the same order.
    relay_quic: Vec<String>,
    /// The seed relay's DHT address.
    seed_dht: String,
    /// The exit's output.
    exit_out: mpsc::Receiver<String>,
    _exit: Proc,
}

impl Network {
    /// A seed relay, `relays - 1` relays that join through it, and an exit found through the
    /// seed, with an echo backend.
    fn start(dir: &std::path::Path, relays: usize) -> Network {
        let backend = http_server(None);
        let seed_dht = format!("127.0.0.1:{}", free_udp());
        let mut procs = Vec::new();
        let mut relay_quic = Vec::new();
        for i in 0..relays {
            let quic = format!("127.0.0.1:{}", free_udp());
            let dht = if i == 0 {
                seed_dht.clone()
            } else {
                format!("127.0.0.1:{}", free_udp())
            };
            let mut args = vec![
                "relay",
                "--listen",
                &quic,
                "--dht-listen",
                &dht,
                "--no-default-bootstrap",
            ];
            if i > 0 {
                args.extend(["--bootstrap-peer", &seed_dht]);
            }
            let (relay, out) = spawn(&args);
            wait_for(&out, "relay DHT node on");
            procs.push(Some(relay));
            relay_quic.push(quic);
        }
        let (exit, exit_out) = spawn_exit(dir, backend, &seed_dht);
        Network {
            relays: procs,
            relay_quic,
            seed_dht,
            exit_out,
            _exit: exit,
        }
    }

    /// Kills the relay listening on `quic` at once (no clean shutdown).
    fn kill_relay(&mut self, quic: &str) {
        let i = self
            .relay_quic
            .iter()
            .position(|a| a == quic)
            .unwrap_or_else(|| panic!("{quic} is none of the relays {:?}", self.relay_quic));
        let mut relay = self.relays[i].take().expect("a live relay");
        relay.0.kill().unwrap();
        relay.0.wait().unwrap();
    }
}

/// Starts a zero-configuration client with only `bootstrap` as its bootstrap source
/// (`--bootstrap-peer P` or `--bootstrap-url U`); returns it, its API port and its output,
/// once it printed its ready line (checked for the progress lines), or the line saying it
/// listens and still looks for an exit.
fn start_client(bootstrap: [&str; 2]) -> (Proc, u16, mpsc::Receiver<String>) {
    let (client, api, out, _, _) = start_client_with(bootstrap, &[]);
    (client, api, out)
}

/// Like [`start_client`], with `extra` arguments; also returns the relay it selected and the
/// lines it printed until it listened.
fn start_client_with(
    bootstrap: [&str; 2],
    extra: &[&str],
) -> (Proc, u16, mpsc::Receiver<String>, String, Vec<String>) {
    let api = free_tcp();
    let listen = format!("127.0.0.1:{api}");
    // The exit may register a moment after the client starts; the client keeps looking.
    let mut args = vec!["client", "--listen", &listen, "--no-default-bootstrap"];
    args.extend(bootstrap);
    args.extend(extra);
    let (client, out) = spawn(&args);
    let lines = wait_for(&out, "Listening on");
    assert!(
        lines.iter().any(|l| l.starts_with("Connecting to the DHT")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("relays, measuring latency")),
        "{lines:?}"
    );
    let selected = lines
        .iter()
        .find(|l| l.ends_with("[selected]"))
        .unwrap_or_else(|| panic!("no relay selected: {lines:?}"));
    let selected = selected
        .trim()
        .split(':')
        .take(2)
        .collect::<Vec<_>>()
        .join(":");
    (client, api, out, selected, lines)
}

fn assert_echoed(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("echo") && answer.contains("hi"), "{answer}");
}

#[test]
fn client_discovers_through_bootstrap_peer_flag() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 2);
    let (_client, api, _out) = start_client(["--bootstrap-peer", &network.seed_dht]);
    assert_echoed(&post_until_ok(api));
}

#[test]
fn client_discovers_through_bootstrap_json() {
    // The list names a dead peer first and the seed by multiaddr: both forms are read.
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 2);
    let (ip, port) = network.seed_dht.split_once(':').unwrap();
    let list = format!(r#"{{"version":1,"peers":["127.0.0.1:9","/ip4/{ip}/udp/{port}"]}}"#);
    let server = http_server(Some(list));
    let url = format!("http://{server}/bootstrap.json");
    let (_client, api, _out) = start_client(["--bootstrap-url", &url]);
    assert_echoed(&post_until_ok(api));
}

#[test]
fn lone_seed_relay_is_a_whole_network() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 1);
    // With no exit or authority trusted, one relay cannot vouch for an exit on its own: the
    // client answers 503 and says why.
    let (_strict, api, _out, _, said) =
        start_client_with(["--bootstrap-peer", &network.seed_dht], &[]);
    assert_eq!(registered_relay(&network.exit_out), network.relay_quic[0]);
    let listening = said.last().unwrap();
    assert!(
        listening.contains("still looking") && !said.iter().any(|l| l.contains("Ready!")),
        "a client without a usable exit must not say it is ready: {said:?}"
    );
    let answer = post(api, r#"{"messages":[{"role":"user","content":"hi"}]}"#);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("came identically from 1 relay"), "{answer}");
    let (_client, api, _out, _, _) = start_client_with(
        ["--bootstrap-peer", &network.seed_dht],
        &["--insecure-any-exit"],
    );
    assert_echoed(&post_until_ok(api));
}

#[test]
fn a_client_started_before_any_exit_says_it_is_still_looking_then_that_it_is_ready() {
    let seed_dht = format!("127.0.0.1:{}", free_udp());
    let quic = format!("127.0.0.1:{}", free_udp());
    let (_relay, relay_out) = spawn(&[
        "relay",
        "--listen",
        &quic,
        "--dht-listen",
        &seed_dht,
        "--no-default-bootstrap",
    ]);
    wait_for(&relay_out, "relay DHT node on");
    let api = free_tcp();
    let listen = format!("127.0.0.1:{api}");
    let (_client, out) = spawn(&[
        "client",
        "--listen",
        &listen,
        "--no-default-bootstrap",
        "--bootstrap-peer",
        &seed_dht,
        "--insecure-any-exit",
    ]);
    let before = wait_for(&out, "Listening on");
    assert!(
        before.last().unwrap().contains("still looking")
            && !before.iter().any(|l| l.contains("Ready!")),
        "{before:?}"
    );
    let answer = post(api, r#"{"messages":[{"role":"user","content":"hi"}]}"#);
    assert!(answer.starts_with("HTTP/1.1 50"), "{answer}");

    let dir = tempfile::tempdir().unwrap();
    let (_exit, exit_out) = spawn_exit(dir.path(), http_server(None), &seed_dht);
    assert_eq!(registered_relay(&exit_out), quic);
    let after = wait_for(&out, "Ready! Listening on");
    assert!(after.last().unwrap().contains(&listen), "{after:?}");
    assert_echoed(&post_until_ok(api));
}

#[test]
fn client_and_exit_fail_over_when_their_relay_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 3);
    // The exit registers with every relay (up to --max-relays, 3), so a zero-configuration
    // client sees its descriptor through independent relays.
    let mut registered: Vec<String> = (0..3)
        .map(|_| registered_relay(&network.exit_out))
        .collect();
    registered.sort();
    let mut all = network.relay_quic.clone();
    all.sort();
    assert_eq!(registered, all);
    let (_client, api, _out, used, _) =
        start_client_with(["--bootstrap-peer", &network.seed_dht], &[]);
    assert_echoed(&post_until_ok(api));
    // Kill the relay carrying the client's traffic without warning. Its announcement stays in
    // the DHT's peer stores; the probes must weed it out.
    assert!(
        network.relay_quic.contains(&used),
        "{used} of {:?}",
        network.relay_quic
    );
    network.kill_relay(&used);
    let answer = post_until_ok(api);
    assert_echoed(&answer);
}

#[test]
fn relay_outlives_a_closed_stdout() {
    // Started with a stdout nobody reads (a pipe whose reader is gone), the relay must still
    // come up and serve, not die on its first status line.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let dht = format!("127.0.0.1:{}", free_udp());
    let relay = Command::new(BIN)
        .args(["relay", "--listen", "127.0.0.1:0", "--dht-listen", &dht])
        .arg("--no-default-bootstrap")
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut relay = Proc(relay);
    let answered = (0..20).any(|_| {
        Command::new(BIN)
            .args(["dht", "ping", &dht, "--timeout", "1"])
            .output()
            .unwrap()
            .status
            .success()
    });
    assert!(answered, "the relay's DHT node never answered");
    assert!(relay.0.try_wait().unwrap().is_none(), "the relay exited");
}

/// Runs a one-shot `tokengo ARGS`; the value after `label` in its stdout.
fn printed(args: &[&str], label: &str) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {stdout}"))
        .trim()
        .to_string()
}

#[test]
fn an_exit_admitted_by_an_authority_serves_the_clients_that_trust_it_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let authority = printed(
        &[
            "keygen",
            "--type",
            "authority",
            "--output",
            &path("authority"),
        ],
        "authority id:",
    );
    let other_authority = printed(
        &["keygen", "--type", "authority", "--output", &path("other")],
        "authority id:",
    );
    let exit_id = printed(
        &["keygen", "--type", "identity", "--output", &path("exit")],
        "id:",
    );
    let cert = path("exit.cert");
    let written = printed(
        &[
            "authority",
            "admit",
            "--key",
            &path("authority/authority.key"),
            "--exit",
            &exit_id,
            "--valid",
            "30d",
            "--output",
            &cert,
        ],
        "admission certificate:",
    );
    assert_eq!(written, cert);

    let backend = http_server(None);
    let quic = format!("127.0.0.1:{}", free_udp());
    let (_relay, relay_out) = spawn(&[
        "relay",
        "--listen",
        &quic,
        "--no-dht",
        "--identity",
        &path("relay.key"),
    ]);
    let relay_id = wait_for(&relay_out, "relay id:")
        .last()
        .and_then(|l| l.split("relay id:").nth(1))
        .unwrap()
        .trim()
        .to_string();
    let (_exit, exit_out) = spawn(&[
        "exit",
        "--relay",
        &quic,
        "--relay-id",
        &relay_id,
        "--backend",
        &format!("http://{backend}"),
        "--ohttp-key",
        &path("ohttp.key"),
        "--identity",
        &path("exit/identity.key"),
        "--admission",
        &cert,
    ]);
    let lines = wait_for(&exit_out, "registered with relay");
    assert!(lines.iter().any(|l| l.contains(&exit_id)), "{lines:?}");

    let client = |trust: &str| {
        let api = free_tcp();
        let (proc, out) = spawn(&[
            "client",
            "--relay",
            &quic,
            "--relay-id",
            &relay_id,
            "--trust-authority",
            trust,
            "--listen",
            &format!("127.0.0.1:{api}"),
        ]);
        let said = wait_for(&out, "Listening on");
        (proc, api, said.last().unwrap().clone())
    };
    let (_trusting, api, said) = client(&authority);
    assert!(said.starts_with("Ready! Listening on"), "{said}");
    assert_echoed(&post_until_ok(api));
    let (_other, api, said) = client(&other_authority);
    assert!(said.contains("still looking"), "{said}");
    let answer = post(api, r#"{"messages":[{"role":"user","content":"hi"}]}"#);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("no trusted exit"), "{answer}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_proxy_started_under_a_low_open_file_limit_raises_it() {
    // Started as services often are, with a soft limit of 256 (the hard one is higher here),
    // the client takes every descriptor it is allowed before it serves.
    let api = free_tcp();
    let listen = format!("127.0.0.1:{api}");
    let child = Command::new("sh")
        .args(["-c", "ulimit -S -n 256 && exec \"$0\" \"$@\"", BIN])
        .args(["client", "--relay", "127.0.0.1:9", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut proc = Proc(child);
    let stdout = proc.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("Listening on"))),
        "the client never said it was listening"
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proc.0.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_eq!(soft, hard, "{line}");
    assert_ne!(soft, "256", "{line}");
}
