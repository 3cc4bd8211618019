//! The node's task: owns the [`Node`] and its sockets (one per address family, BEP 32), feeds
//! datagrams, deadlines and commands in, sends each datagram out of the socket of its
//! destination's family and routes events to the callers waiting for them.

use crate::channels::{Command, TokioChannels};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use tokengo_core::{Config, Id, Node};
use tokengo_runtime_support::{Callers, Snapshot};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Datagrams read in one go before timers and commands get a turn.
const RECV_BATCH: usize = 256;
/// Receive buffer: KRPC datagrams are far smaller; longer ones are cut and then dropped as
/// malformed by the node.
const RECV_BUFFER: usize = 4096;

/// The node's sockets: at least one of them.
pub(crate) struct Sockets {
    pub v4: Option<UdpSocket>,
    pub v6: Option<UdpSocket>,
}

impl Sockets {
    fn of(&self, to: &SocketAddr) -> Option<&UdpSocket> {
        if to.is_ipv4() {
            self.v4.as_ref()
        } else {
            self.v6.as_ref()
        }
    }
}

/// Starts the node's task; returns the node's id.
pub(crate) fn spawn(socket: Sockets, config: Config, commands: mpsc::Receiver<Command>) -> Id {
    let node = Node::new(
        tokengo_runtime_support::os::with_os_seed(config),
        Instant::now(),
    );
    let id = node.id();
    let driver = Driver {
        node,
        socket,
        callers: Callers::default(),
    };
    tokio::spawn(driver.run(commands));
    id
}

struct Driver {
    node: Node,
    socket: Sockets,
    callers: Callers<TokioChannels>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut buf6 = vec![0u8; RECV_BUFFER];
        let shutdown_reply = loop {
            self.flush().await;
            let deadline = self.node.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                command = commands.recv() => match command {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(command) => self.callers.apply(&mut self.node, Instant::now(), command),
                },
                received = recv(self.socket.v4.as_ref(), &mut buf) => {
                    self.received(received, &buf);
                    self.drain(false, &mut buf);
                }
                received = recv(self.socket.v6.as_ref(), &mut buf6) => {
                    self.received(received, &buf6);
                    self.drain(true, &mut buf6);
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
        let snapshot = Snapshot::of(&node);
        tracing::debug!(contacts = snapshot.contacts.len(), "DHT node stopped");
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(Ok(snapshot));
        }
    }

    /// Reads what else is waiting on one socket, up to a batch.
    fn drain(&mut self, v6: bool, buf: &mut [u8]) {
        for _ in 1..RECV_BATCH {
            let socket = if v6 { &self.socket.v6 } else { &self.socket.v4 };
            let Some(socket) = socket else { return };
            match socket.try_recv_from(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                received => self.received(received, buf),
            }
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
            let Some(socket) = self.socket.of(&transmit.to) else {
                tracing::debug!(to = %transmit.to, "no socket of this family");
                continue;
            };
            if let Err(error) = socket.send_to(&transmit.payload, transmit.to).await {
                tracing::debug!(to = %transmit.to, %error, "DHT send failed");
            }
        }
        while let Some(event) = self.node.poll_event() {
            self.callers.route(event);
        }
    }
}

/// Receives from `socket`; never returns when there is none.
async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
