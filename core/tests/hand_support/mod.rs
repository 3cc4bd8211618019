//! A node under test driven by hand-written datagrams: a tiny bencode writer, a harness that
//! answers the node's queries and asks it its own, and the configs the tests share.

#![allow(dead_code)] // Each test file uses a different part.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokengo_core::krpc::{self, Body};
use tokengo_core::{Config, Event, Id, LookupStats, Node};

/// A bencode value, encoded with sorted dictionary keys.
#[derive(Debug, Clone)]
pub enum B {
    S(Vec<u8>),
    I(i64),
    L(Vec<B>),
    D(Vec<(&'static str, B)>),
}

impl B {
    pub fn s(bytes: impl AsRef<[u8]>) -> B {
        B::S(bytes.as_ref().to_vec())
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            B::S(s) => {
                out.extend_from_slice(format!("{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            B::I(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            B::L(items) => {
                out.push(b'l');
                for item in items {
                    item.encode(out);
                }
                out.push(b'e');
            }
            B::D(items) => {
                let mut items = items.clone();
                items.sort_by_key(|(k, _)| *k);
                out.push(b'd');
                for (k, v) in &items {
                    B::s(k).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

pub fn compact(id: &Id, addr: SocketAddrV4) -> Vec<u8> {
    let mut out = id.0.to_vec();
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

pub fn peer(addr: SocketAddrV4) -> B {
    let mut out = addr.ip().octets().to_vec();
    out.extend_from_slice(&addr.port().to_be_bytes());
    B::S(out)
}

pub fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)
}

/// An id whose first byte is `first` and last byte `last` (the rest zero).
pub fn id(first: u8, last: u8) -> Id {
    let mut id = [0u8; 20];
    id[0] = first;
    id[19] = last;
    Id(id)
}

/// A query our node sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub to: SocketAddrV4,
    pub tid: Vec<u8>,
}

/// One node under test and the clock.
pub struct Harness {
    pub node: Node,
    pub now: Instant,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        let now = Instant::now();
        Harness {
            node: Node::new(config, now),
            now,
        }
    }

    pub fn tag(&self) -> Option<Vec<u8>> {
        self.node.config().network.tag().map(<[u8]>::to_vec)
    }

    pub fn with_tag(&self, mut items: Vec<(&'static str, B)>) -> Vec<u8> {
        if let Some(tag) = self.tag() {
            items.push(("net", B::S(tag)));
        }
        B::D(items).bytes()
    }

    /// The queries the node sent since the last call (answers it sent are dropped).
    pub fn sent(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.node.poll_transmit() {
            let SocketAddr::V4(to) = t.to else { continue };
            let msg = krpc::decode(&t.payload).expect("our own datagrams decode");
            if let Body::Query(_) = msg.body {
                out.push(Sent {
                    to,
                    tid: msg.transaction_id.to_vec(),
                });
            }
        }
        out
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }

    /// Answers `query` as the node `id` with the given return values besides `id`.
    pub fn answer(&mut self, query: &Sent, id: &Id, mut r: Vec<(&'static str, B)>) {
        r.push(("id", B::s(id.0)));
        let datagram = self.with_tag(vec![
            ("r", B::D(r)),
            ("t", B::S(query.tid.clone())),
            ("y", B::s("r")),
        ]);
        self.node
            .handle_input(self.now, SocketAddr::V4(query.to), &datagram);
    }

    /// Sends a query from `from` as the node `id`; returns the node's answer, decoded into
    /// (its `nodes`, its `values`, its token), or `None` for no answer or an error.
    pub fn ask(
        &mut self,
        from: SocketAddrV4,
        id: &Id,
        method: &str,
        mut a: Vec<(&'static str, B)>,
    ) -> Option<Answer> {
        a.push(("id", B::s(id.0)));
        let datagram = self.with_tag(vec![
            ("a", B::D(a)),
            ("q", B::s(method)),
            ("t", B::s("qq")),
            ("y", B::s("q")),
        ]);
        self.node
            .handle_input(self.now, SocketAddr::V4(from), &datagram);
        let mut answer = None;
        while let Some(t) = self.node.poll_transmit() {
            if t.to != SocketAddr::V4(from) {
                continue;
            }
            let msg = krpc::decode(&t.payload).expect("our own datagrams decode");
            if let Body::Response(r) = msg.body {
                answer = Some(Answer {
                    nodes: r
                        .nodes
                        .map(|n| {
                            n.iter()
                                .filter_map(|n| Some((n.id, only_v4(n.addr)?)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    values: r
                        .values
                        .map(|v| v.iter().filter_map(only_v4).collect())
                        .unwrap_or_default(),
                    token: r.token.map(<[u8]>::to_vec),
                });
            }
        }
        answer
    }

    /// Makes `peer_id` at `addr` known and verified: we ping it and it answers.
    pub fn verified(&mut self, peer_id: &Id, addr: SocketAddrV4) {
        self.node.ping(self.now, SocketAddr::V4(addr));
        let sent = self.sent();
        let ping = sent.iter().find(|s| s.to == addr).expect("ping sent");
        self.answer(ping, peer_id, vec![]);
        assert!(self.node.routing_table().get(peer_id).is_some());
    }

    /// Moves the clock to the node's next deadline (at most `limit` ahead) and runs it.
    pub fn tick(&mut self, limit: Duration) {
        let next = self.node.poll_timeout().unwrap_or(self.now + limit);
        self.now = next.min(self.now + limit).max(self.now);
        self.node.handle_timeout(self.now);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub nodes: Vec<(Id, SocketAddrV4)>,
    pub values: Vec<SocketAddrV4>,
    pub token: Option<Vec<u8>>,
}

/// The IPv4 address, if `addr` is one.
pub fn only_v4(addr: SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

pub fn config(k: usize) -> Config {
    Config {
        id: Some(Id([0xff; 20])),
        k,
        query_rate_per_ip: 0,
        ..Config::default()
    }
}

/// Runs a lookup to its end, answering each query from `answers` (by address) until done.
pub fn run_lookup(
    h: &mut Harness,
    mut answer: impl FnMut(&mut Harness, &Sent) -> bool,
) -> (LookupStats, Vec<Sent>) {
    let mut all = Vec::new();
    let deadline = h.now + Duration::from_secs(120);
    while h.now < deadline {
        for query in h.sent() {
            answer(h, &query);
            all.push(query);
        }
        for event in h.events() {
            if let Event::LookupDone { stats, .. } = event {
                return (stats, all);
            }
        }
        h.tick(Duration::from_secs(1));
    }
    panic!("lookup did not finish");
}
