//! A libtorrent 2.0 DHT node: `scripts/libtorrent_node.py` run by Debian's Python.

use crate::script_child::ScriptChild;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
    script: ScriptChild<LibtorrentEvent>,
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
        let script = ScriptChild::spawn(
            Command::new(libtorrent_python())
                .arg(script())
                .arg("--bootstrap")
                .arg(bootstrap.to_string())
                .arg("--listen")
                .arg(SocketAddr::new(ip, 0).to_string()),
            |line| Some(parse_event(&line)),
        )?;
        let mut node = LibtorrentNode {
            script,
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
        self.script.command(line)
    }

    /// Waits up to `limit` for an event `pick` accepts; other events are dropped.
    pub fn wait_for<T>(
        &mut self,
        limit: Duration,
        pick: impl FnMut(&LibtorrentEvent) -> Option<T>,
    ) -> Option<T> {
        self.script.wait_for(limit, pick)
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

/// Many libtorrent DHT nodes in one Python process: `scripts/libtorrent_swarm.py`, for the
/// loopback benchmark. Stopped when dropped.
#[derive(Debug)]
pub struct LibtorrentSwarm {
    script: ScriptChild<serde_json::Value>,
    /// The sessions' ports on 127.0.0.1, in the script's order (without a bootstrap node,
    /// the first is the seed the others joined through).
    pub ports: Vec<u16>,
    /// How many sessions posted their bootstrap alert within the script's 30 s.
    pub bootstrapped: u64,
}

/// How long a swarm command may take before the swarm counts as broken.
const SWARM_REPLY: Duration = Duration::from_secs(60);

impl LibtorrentSwarm {
    /// Starts `count` libtorrent sessions on IPv4 loopback, all bootstrapping from `bootstrap`
    /// or, without one, from the first session; returns once they have bootstrapped.
    pub fn start(count: usize, bootstrap: Option<SocketAddr>) -> Result<LibtorrentSwarm, String> {
        let mut command = Command::new(libtorrent_python());
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libtorrent_swarm.py"))
            .arg("--count")
            .arg(count.to_string());
        if let Some(bootstrap) = bootstrap {
            command.arg("--bootstrap").arg(bootstrap.to_string());
        }
        let mut swarm = LibtorrentSwarm {
            script: ScriptChild::spawn(&mut command, json_line)?,
            ports: Vec::new(),
            bootstrapped: 0,
        };
        let listening = swarm.wait_for("listening").ok_or(
            "libtorrent did not start (is python3-libtorrent installed? run scripts/setup)",
        )?;
        swarm.ports = listening["ports"]
            .as_array()
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| u16::try_from(p.as_u64()?).ok())
                    .collect()
            })
            .unwrap_or_default();
        let bootstrapped = swarm
            .wait_for("bootstrapped")
            .ok_or("libtorrent sessions did not bootstrap")?;
        swarm.bootstrapped = bootstrapped["count"].as_u64().unwrap_or(0);
        Ok(swarm)
    }

    /// The address of session `index`.
    pub fn addr(&self, index: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports[index]))
    }

    /// A second bootstrap: every session looks up its own id; returns how many sessions were
    /// still busy when the script stopped waiting for them.
    pub fn rejoin(&mut self) -> Result<u64, String> {
        self.script.command("rejoin")?;
        let reply = self.wait_for("rejoined").ok_or("no reply to rejoin")?;
        Ok(reply["busy"].as_u64().unwrap_or(0))
    }

    /// Session `index` announces its own listen port under `info_hash` (hex); returns the port
    /// and how many announce_peer queries it sent.
    pub fn announce(&mut self, index: usize, info_hash: &str) -> Result<(u16, u64), String> {
        self.script
            .command(&format!("announce {index} {info_hash}"))?;
        let reply = self.wait_for("announced").ok_or("no reply to announce")?;
        let port = reply["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        Ok((port, reply["sent"].as_u64().unwrap_or(0)))
    }

    /// The DHT queries all sessions have received so far.
    pub fn queries_in(&mut self) -> Result<u64, String> {
        self.script.command("stats")?;
        let reply = self.wait_for("stats").ok_or("no reply to stats")?;
        reply["queries_in"]
            .as_u64()
            .ok_or_else(|| format!("bad stats reply {reply}"))
    }

    /// The next line whose event is `event` (others are dropped), within [`SWARM_REPLY`].
    fn wait_for(&mut self, event: &str) -> Option<serde_json::Value> {
        self.script.wait_for(SWARM_REPLY, |line| {
            (line["event"].as_str() == Some(event)).then(|| line.clone())
        })
    }
}

/// What a one-shot libtorrent get_peers lookup reported (`scripts/libtorrent_lookup.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct LibtorrentLookup {
    pub peers: Vec<SocketAddr>,
    /// `false` when the timeout stopped it.
    pub complete: bool,
    /// From the session's creation to the first peer.
    pub first_peer: Option<Duration>,
    /// From the session's creation to the end of the lookup.
    pub elapsed: Duration,
    /// From the `dht_get_peers` call (once the DHT runs) to the end of the lookup.
    pub lookup: Duration,
    /// The DHT queries the session sent (its `dht_*_out` counters).
    pub queries_sent: u64,
    /// The DHT datagrams the session sent, answers to the network's queries included.
    pub datagrams_sent: u64,
}

/// Runs one libtorrent get_peers lookup of `info_hash` (hex) in a fresh session with `router`
/// as its only bootstrap node. The script stops itself after `timeout`; the process is killed
/// if it has not answered `timeout + 10 s` after it started.
pub fn libtorrent_lookup(
    router: SocketAddr,
    info_hash: &str,
    timeout: Duration,
) -> Result<LibtorrentLookup, String> {
    let mut script = ScriptChild::spawn(
        Command::new(libtorrent_python())
            .args(["-X", "faulthandler"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libtorrent_lookup.py"))
            .args(["--bootstrap", &router.to_string(), "--info-hash", info_hash])
            .args(["--timeout", &timeout.as_secs_f64().to_string()]),
        json_line,
    )?;
    let json = script
        .wait_for(timeout + Duration::from_secs(10), |line| Some(line.clone()))
        .ok_or_else(|| {
            format!(
                "the libtorrent lookup did not answer (exit status {:?})",
                script.exit_status()
            )
        })?;
    let ms = |v: &serde_json::Value| v.as_f64().map(|ms| Duration::from_secs_f64(ms / 1e3));
    Ok(LibtorrentLookup {
        peers: addrs(&json["peers"]),
        complete: json["complete"].as_bool().unwrap_or(false),
        first_peer: ms(&json["first_peer_ms"]),
        elapsed: ms(&json["elapsed_ms"]).ok_or("no elapsed_ms")?,
        lookup: ms(&json["lookup_ms"]).ok_or("no lookup_ms")?,
        queries_sent: json["queries_sent"].as_u64().unwrap_or(0),
        datagrams_sent: json["datagrams_sent"].as_u64().unwrap_or(0),
    })
}

/// A line of a script's output as JSON; a line that is not JSON goes to stderr.
fn json_line(line: String) -> Option<serde_json::Value> {
    let json = serde_json::from_str(&line);
    if json.is_err() {
        eprintln!("libtorrent script: {line}");
    }
    json.ok()
}
