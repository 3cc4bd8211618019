//! A libtorrent 2.0 DHT node: `scripts/libtorrent_node.py` run by Debian's Python.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian's `python3-libtorrent` is built for the system interpreter, not for whatever
/// `python3` comes first on PATH (often a pyenv CPython that cannot import it).
pub fn libtorrent_python() -> &'static Path {
    Path::new("/usr/bin/python3")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libtorrent_node.py")
}

/// One report of the script (see its doc string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibtorrentEvent {
    Listening(u16),
    Bootstrapped,
    Peers {
        info_hash: String,
        peers: Vec<SocketAddr>,
    },
    Announced {
        info_hash: String,
    },
    Table(Vec<SocketAddr>),
    /// A BEP 44 put finished on `stored` nodes.
    Put {
        target: String,
        seq: i64,
        stored: u64,
    },
    /// An immutable get finished (`value`: the item's bytes, if found).
    Immutable {
        target: String,
        value: Option<Vec<u8>>,
    },
    /// A mutable get found an item (`authoritative` once the lookup is done).
    Mutable {
        key: String,
        seq: i64,
        value: Option<Vec<u8>>,
        authoritative: bool,
    },
    /// A BEP 51 sample from the node at `from`.
    Sample {
        from: String,
        num: i64,
        interval: i64,
        samples: Vec<String>,
    },
    Other(String),
}

/// A running libtorrent node; stopped when dropped.
#[derive(Debug)]
pub struct LibtorrentNode {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<LibtorrentEvent>,
    /// The UDP (and TCP) port libtorrent listens on; its DHT uses it too.
    pub port: u16,
    /// The IP it listens on.
    ip: IpAddr,
}

impl LibtorrentNode {
    /// Starts libtorrent on IPv4 loopback with `bootstrap` as its only bootstrap node.
    pub fn start(bootstrap: SocketAddr) -> Result<LibtorrentNode, String> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), bootstrap)
    }

    /// Starts libtorrent listening on `ip` (IPv6 loopback for BEP 32's IPv6 DHT) with
    /// `bootstrap` as its only bootstrap node.
    pub fn start_on(ip: IpAddr, bootstrap: SocketAddr) -> Result<LibtorrentNode, String> {
        let mut child = Command::new(libtorrent_python())
            .arg(script())
            .arg("--bootstrap")
            .arg(bootstrap.to_string())
            .arg("--listen")
            .arg(SocketAddr::new(ip, 0).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", libtorrent_python().display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(parse_event(&line)).is_err() {
                    break;
                }
            }
        });
        let mut node = LibtorrentNode {
            child,
            stdin,
            events,
            port: 0,
            ip,
        };
        let listening = node.wait_for(Duration::from_secs(20), |event| match event {
            LibtorrentEvent::Listening(port) => Some(*port),
            _ => None,
        });
        node.port = listening.ok_or(
            "libtorrent did not start (is python3-libtorrent installed? run scripts/setup)",
        )?;
        Ok(node)
    }

    /// The address other nodes see for it.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Sends one command line (`get_peers HEX`, `announce HEX`, `table`, `stats`, the BEP 44
    /// `put_immutable`, `get_immutable`, `put_mutable`, `get_mutable`, `quit`; see the script).
    pub fn command(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| e.to_string())
    }

    /// Waits up to `limit` for an event `pick` accepts; other events are dropped.
    pub fn wait_for<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&LibtorrentEvent) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let event = self.events.recv_timeout(left).ok()?;
            if let Some(found) = pick(&event) {
                return Some(found);
            }
        }
    }
}

impl Drop for LibtorrentNode {
    fn drop(&mut self) {
        let _ = self.command("quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addrs(value: &serde_json::Value) -> Vec<SocketAddr> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| a.as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Encodes hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_event(line: &str) -> LibtorrentEvent {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
        return LibtorrentEvent::Other(line.to_string());
    };
    let text = |key: &str| json[key].as_str().unwrap_or_default().to_string();
    match json["event"].as_str() {
        Some("listening") => LibtorrentEvent::Listening(
            json["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
        ),
        Some("bootstrapped") => LibtorrentEvent::Bootstrapped,
        Some("peers") => LibtorrentEvent::Peers {
            info_hash: text("info_hash"),
            peers: addrs(&json["peers"]),
        },
        Some("announced") => LibtorrentEvent::Announced {
            info_hash: text("info_hash"),
        },
        Some("table") => LibtorrentEvent::Table(addrs(&json["nodes"])),
        Some("sample") => LibtorrentEvent::Sample {
            from: text("from"),
            num: json["num"].as_i64().unwrap_or(-1),
            interval: json["interval"].as_i64().unwrap_or(-1),
            samples: json["samples"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(|h| Some(h.as_str()?.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        },
        Some("put") => LibtorrentEvent::Put {
            target: text("target"),
            seq: json["seq"].as_i64().unwrap_or(-1),
            stored: json["stored"].as_u64().unwrap_or(0),
        },
        Some("immutable") => LibtorrentEvent::Immutable {
            target: text("target"),
            value: json["value"].as_str().and_then(unhex),
        },
        Some("mutable") => LibtorrentEvent::Mutable {
            key: text("key"),
            seq: json["seq"].as_i64().unwrap_or(-1),
            value: json["value"].as_str().and_then(unhex),
            authoritative: json["authoritative"].as_bool().unwrap_or(false),
        },
        _ => LibtorrentEvent::Other(line.to_string()),
    }
}
