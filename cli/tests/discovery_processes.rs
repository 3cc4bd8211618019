//! The private network as real processes on loopback: a seed relay, a second relay, an exit and
//! a zero-configuration client, bootstrapped once through `--bootstrap-peer` and once through a
//! local bootstrap.json server; then a request through the discovered path.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tokengo");

/// Kills the process when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str]) -> (Proc, mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("LANG", "C")
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("SHOW_STDERR").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // Keep draining after the receiver is gone: a closed pipe would fail the child's
            // next print.
            let _ = tx.send(line);
        }
    });
    (Proc(child), rx)
}

/// Lines until one contains `needle` (bounded wait); all lines read so far.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let done = line.contains(needle);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("no line with {needle:?}; got {seen:?}");
}

/// A tiny HTTP server that answers every request with `body` (the bootstrap.json server), and
/// a JSON echo backend when `body` is `None`.
fn http_server(body: Option<String>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the head and, if any, a content-length body.
                loop {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            let reply = body.clone().unwrap_or_else(|| {
                                format!(
                                    "{{\"echo\":{:?}}}",
                                    String::from_utf8_lossy(&got[end + 4..])
                                )
                            });
                            let response = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                                reply.len()
                            );
                            use std::io::Write;
                            let _ = stream.write_all(response.as_bytes());
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn post(api: u16, body: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", api)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Posts a chat request until it succeeds (the exit may register a moment after the client is
/// ready; until then the proxy answers 503), for at most 30 s; returns the last answer.
fn post_until_ok(api: u16) -> String {
    let mut answer = String::new();
    for _ in 0..150 {
        answer = post(api, r#"{"messages":[{"role":"user","content":"hi"}]}"#);
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    answer
}

/// Starts two relays (the second joins the seed) and an exit; returns them and the seed's
/// DHT address.
/// The processes are the seed relay, the second relay and the exit, in that order.
fn network(dir: &std::path::Path) -> (Vec<Proc>, String) {
    let backend = http_server(None);
    let seed_dht = format!("127.0.0.1:{}", free_udp());
    let (seed, seed_out) = spawn(&[
        "relay",
        "--listen",
        &format!("127.0.0.1:{}", free_udp()),
        "--dht-listen",
        &seed_dht,
        "--no-default-bootstrap",
    ]);
    wait_for(&seed_out, "relay DHT node on");
    let (second, second_out) = spawn(&[
        "relay",
        "--listen",
        &format!("127.0.0.1:{}", free_udp()),
        "--dht-listen",
        &format!("127.0.0.1:{}", free_udp()),
        "--no-default-bootstrap",
        "--bootstrap-peer",
        &seed_dht,
    ]);
    wait_for(&second_out, "relay DHT node on");
    let key = dir.join("ohttp.key");
    let (exit, _exit_out) = spawn(&[
        "exit",
        "--backend",
        &format!("http://{backend}"),
        "--ohttp-key",
        key.to_str().unwrap(),
        "--no-default-bootstrap",
        "--bootstrap-peer",
        &seed_dht,
    ]);
    (vec![seed, second, exit], seed_dht)
}

fn client_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (_network, seed_dht) = network(dir.path());
    let api = free_tcp();
    let listen = format!("127.0.0.1:{api}");
    let args = [
        "client",
        "--listen",
        &listen,
        "--no-default-bootstrap",
        "--bootstrap-peer",
        &seed_dht,
    ];
    // The exit may register a moment after the client starts; the client keeps looking.
    let (_client, out) = spawn(&args);
    let lines = wait_for(&out, "Ready! Listening on");
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
    assert!(lines.iter().any(|l| l.ends_with("[selected]")), "{lines:?}");
    let answer = post_until_ok(api);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("echo") && answer.contains("hi"), "{answer}");
}

#[test]
fn client_discovers_through_bootstrap_peer_flag() {
    client_flow();
}

#[test]
fn client_discovers_through_bootstrap_json() {
    // The list names a dead peer first and the seed by multiaddr: both forms are read.
    let dir = tempfile::tempdir().unwrap();
    let (_network, seed_dht) = network(dir.path());
    let (ip, port) = seed_dht.split_once(':').unwrap();
    let list = format!(r#"{{"version":1,"peers":["127.0.0.1:9","/ip4/{ip}/udp/{port}"]}}"#);
    let server = http_server(Some(list));
    let url = format!("http://{server}/bootstrap.json");
    let api = free_tcp();
    let listen = format!("127.0.0.1:{api}");
    let (_client, out) = spawn(&[
        "client",
        "--listen",
        &listen,
        "--no-default-bootstrap",
        "--bootstrap-url",
        &url,
    ]);
    let lines = wait_for(&out, "Ready! Listening on");
    assert!(lines.iter().any(|l| l.ends_with("[selected]")), "{lines:?}");
    let answer = post_until_ok(api);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
