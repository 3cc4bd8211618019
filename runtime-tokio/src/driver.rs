//! The node's task: owns the [`Node`] and the socket, feeds datagrams, deadlines and commands
//! in, sends what comes out and routes events to the callers waiting for them.

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

/// Starts the node's task; returns the node's id.
pub(crate) fn spawn(socket: UdpSocket, config: Config, commands: mpsc::Receiver<Command>) -> Id {
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
    socket: UdpSocket,
    callers: Callers<TokioChannels>,
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
                    Some(command) => self.callers.apply(&mut self.node, Instant::now(), command),
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
        let snapshot = Snapshot::of(&node);
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
            self.callers.route(event);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
