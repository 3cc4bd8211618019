//! The node's task: owns the [`Node`] and the socket, feeds datagrams, deadlines and commands
//! in, sends what comes out and routes events to the callers waiting for them.

use crate::error::Error;
use crate::handle::{AnnounceReport, FindNodeReport, Snapshot};
use crate::lookup::LookupUpdate;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use tokengo_core::{Config, Event, Id, Node, NodeInfo, QueryId, Stats};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Bound: commands waiting for the node's answer (lookups, pings, announces).
pub const MAX_PENDING: usize = 1024;
/// Bound: peers forwarded to one get_peers caller (more are counted by the node, not sent).
pub(crate) const MAX_PEERS_PER_LOOKUP: usize = 4096;
/// Datagrams read in one go before timers and commands get a turn.
const RECV_BATCH: usize = 256;
/// Receive buffer: KRPC datagrams are far smaller; longer ones are cut and then dropped as
/// malformed by the node.
const RECV_BUFFER: usize = 4096;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A request from a [`Dht`](crate::Dht) handle.
#[derive(Debug)]
pub(crate) enum Command {
    Bootstrap {
        addrs: Vec<SocketAddr>,
        reply: Reply<usize>,
    },
    FindNode {
        target: Id,
        reply: Reply<FindNodeReport>,
    },
    GetPeers {
        info_hash: Id,
        updates: mpsc::UnboundedSender<LookupUpdate>,
    },
    Announce {
        info_hash: Id,
        port: Option<u16>,
        keep: bool,
        reply: Reply<AnnounceReport>,
    },
    StopAnnounce {
        info_hash: Id,
    },
    Ping {
        addr: SocketAddr,
        reply: Reply<Option<Id>>,
    },
    Stats {
        reply: Reply<Stats>,
    },
    Contacts {
        reply: Reply<Vec<NodeInfo>>,
    },
    AddContacts {
        contacts: Vec<NodeInfo>,
        reply: Reply<()>,
    },
    Shutdown {
        reply: Reply<Snapshot>,
    },
}

/// A caller waiting for the events of one query.
#[derive(Debug)]
enum Pending {
    Bootstrap(Reply<usize>),
    FindNode(Reply<FindNodeReport>),
    GetPeers {
        updates: mpsc::UnboundedSender<LookupUpdate>,
        forwarded: usize,
    },
    Announce(Reply<AnnounceReport>),
    Ping(Reply<Option<Id>>),
}

/// Starts the node's task; returns the node's id.
pub(crate) fn spawn(socket: UdpSocket, config: Config, commands: mpsc::Receiver<Command>) -> Id {
    let node = Node::new(config, Instant::now());
    let id = node.id();
    let driver = Driver {
        node,
        socket,
        pending: HashMap::new(),
    };
    tokio::spawn(driver.run(commands));
    id
}

struct Driver {
    node: Node,
    socket: UdpSocket,
    pending: HashMap<QueryId, Pending>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let shutdown_reply = loop {
            self.flush().await;
            let deadline = self.node.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                command = commands.recv() => match command {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(command) => self.apply(command),
                },
                received = self.socket.recv_from(&mut buf) => {
                    self.received(received, &buf);
                    for _ in 1..RECV_BATCH {
                        match self.socket.try_recv_from(&mut buf) {
                            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                            received => self.received(received, &buf),
                        }
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.node.handle_timeout(Instant::now());
                }
            }
        };
        self.flush().await;
        let Driver { node, socket, .. } = self;
        // Close the socket before answering, so the caller may bind its address again.
        drop(socket);
        let snapshot = Snapshot {
            id: node.id(),
            contacts: node.contacts(),
            stats: node.stats(),
        };
        tracing::debug!(contacts = snapshot.contacts.len(), "DHT node stopped");
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(Ok(snapshot));
        }
    }

    fn received(&mut self, received: io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        match received {
            Ok((len, from)) => self.node.handle_input(Instant::now(), from, &buf[..len]),
            // Unconnected UDP sockets can report ICMP errors of earlier sends; nothing to do.
            Err(error) => tracing::debug!(%error, "DHT socket receive error"),
        }
    }

    /// Sends every queued datagram and routes every queued event.
    async fn flush(&mut self) {
        while let Some(transmit) = self.node.poll_transmit() {
            if let Err(error) = self.socket.send_to(&transmit.payload, transmit.to).await {
                tracing::debug!(to = %transmit.to, %error, "DHT send failed");
            }
        }
        while let Some(event) = self.node.poll_event() {
            self.route(event);
        }
    }

    fn apply(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Bootstrap { addrs, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = self.node.bootstrap(now, &addrs);
                    self.pending.insert(query, Pending::Bootstrap(reply));
                }
            }
            Command::FindNode { target, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = self.node.find_node(now, target);
                    self.pending.insert(query, Pending::FindNode(reply));
                }
            }
            Command::GetPeers { info_hash, updates } => {
                if self.pending.len() < MAX_PENDING {
                    let query = self.node.get_peers(now, info_hash);
                    self.pending.insert(
                        query,
                        Pending::GetPeers {
                            updates,
                            forwarded: 0,
                        },
                    );
                } else {
                    let _ = updates.send(LookupUpdate::Refused { limit: MAX_PENDING });
                }
            }
            Command::Announce {
                info_hash,
                port,
                keep,
                reply,
            } => {
                if let Some(reply) = self.room(reply) {
                    let query = self.node.announce(now, info_hash, port, keep);
                    self.pending.insert(query, Pending::Announce(reply));
                }
            }
            Command::StopAnnounce { info_hash } => self.node.stop_announce(info_hash),
            Command::Ping { addr, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = self.node.ping(now, addr);
                    self.pending.insert(query, Pending::Ping(reply));
                }
            }
            Command::Stats { reply } => {
                let _ = reply.send(Ok(self.node.stats()));
            }
            Command::Contacts { reply } => {
                let _ = reply.send(Ok(self.node.contacts()));
            }
            Command::AddContacts { contacts, reply } => {
                for contact in contacts {
                    self.node.add_contact(now, contact);
                }
                let _ = reply.send(Ok(()));
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// Gives the reply back when another pending command fits; answers `Busy` otherwise.
    fn room<T>(&self, reply: Reply<T>) -> Option<Reply<T>> {
        if self.pending.len() < MAX_PENDING {
            Some(reply)
        } else {
            let _ = reply.send(Err(Error::Busy { limit: MAX_PENDING }));
            None
        }
    }

    fn route(&mut self, event: Event) {
        match event {
            Event::Bootstrapped { query, table_size } => {
                if let Some(Pending::Bootstrap(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Bootstrap(_)))
                {
                    let _ = reply.send(Ok(table_size));
                }
            }
            Event::PeerFound { query, peer, .. } => {
                if let Some(Pending::GetPeers { updates, forwarded }) = self.pending.get_mut(&query)
                    && *forwarded < MAX_PEERS_PER_LOOKUP
                {
                    *forwarded += 1;
                    let _ = updates.send(LookupUpdate::Peer(peer));
                }
            }
            Event::LookupDone {
                query,
                stats,
                closest,
                ..
            } => {
                let finishes =
                    |p: &Pending| matches!(p, Pending::FindNode(_) | Pending::GetPeers { .. });
                match self.take_if(query, finishes) {
                    Some(Pending::FindNode(reply)) => {
                        let _ = reply.send(Ok(FindNodeReport { closest, stats }));
                    }
                    Some(Pending::GetPeers { updates, .. }) => {
                        let _ = updates.send(LookupUpdate::Done(stats));
                    }
                    _ => {}
                }
            }
            Event::AnnounceDone {
                query,
                accepted,
                stats,
                ..
            } => {
                if let Some(Pending::Announce(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Announce(_)))
                {
                    let _ = reply.send(Ok(AnnounceReport { accepted, stats }));
                }
            }
            Event::Pong { query, id, .. } => {
                if let Some(Pending::Ping(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Ping(_)))
                {
                    let _ = reply.send(Ok(id));
                }
            }
        }
    }

    /// Removes the pending entry of `query` if it is the kind `expected` accepts: an announce,
    /// for example, also finishes a get_peers lookup, which must not complete its caller.
    fn take_if(&mut self, query: QueryId, expected: impl Fn(&Pending) -> bool) -> Option<Pending> {
        if self.pending.get(&query).is_some_and(expected) {
            self.pending.remove(&query)
        } else {
            None
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
