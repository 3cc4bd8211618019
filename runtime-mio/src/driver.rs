//! The node's thread: a mio poll loop that owns the [`Node`] and its sockets (one per address
//! family, BEP 32), feeds datagrams, deadlines and commands in, sends each datagram out of the
//! socket of its destination's family and routes events to waiting callers.

use crate::channels::{Command, MioChannels};
use crate::outbound::Outbound;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokengo_core::{Config, Id, Node};
use tokengo_runtime_support::{Callers, Error, Snapshot, with_bound_addrs};

/// Datagrams read in one go before timers and commands get a turn.
const RECV_BATCH: usize = 256;
/// Receive buffer: KRPC datagrams are far smaller; longer ones are cut and then dropped as
/// malformed by the node.
const RECV_BUFFER: usize = 4096;

const WAKER: Token = Token(0);

/// One of the node's sockets, with its poll token (its index plus one).
struct Socket {
    socket: UdpSocket,
    token: Token,
    ipv6: bool,
    /// Edge-triggered: once readable, the socket stays "maybe readable" until a read returns
    /// WouldBlock, even if a batch limit made us stop earlier.
    maybe_readable: bool,
}

/// What the handles share with the thread: its waker and the stop flag set when the last
/// handle is dropped.
#[derive(Debug)]
pub(crate) struct Shared {
    waker: Waker,
    stop: AtomicBool,
}

impl Shared {
    /// Wakes the poll loop so it reads its command channel.
    pub(crate) fn wake(&self) {
        if let Err(error) = self.waker.wake() {
            tracing::warn!(%error, "cannot wake the DHT thread");
        }
    }

    /// Asks the loop to stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }
}

/// A started node thread.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) local_addrs: Vec<SocketAddr>,
    pub(crate) id: Id,
    pub(crate) shared: Arc<Shared>,
    pub(crate) thread: JoinHandle<()>,
}

/// Binds one socket per address of `listen`, sets up the poll and starts the node's thread.
/// An error names the address that failed.
pub(crate) fn start(
    listen: &[SocketAddr],
    config: Config,
    commands: mpsc::Receiver<Command>,
) -> Result<Started, (SocketAddr, io::Error)> {
    let first = listen
        .first()
        .copied()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let poll = Poll::new().map_err(|e| (first, e))?;
    let mut sockets = Vec::with_capacity(listen.len());
    let mut local_addrs = Vec::with_capacity(listen.len());
    for (index, &addr) in listen.iter().enumerate() {
        let bound = tokengo_runtime_support::os::bind_udp(addr).map_err(|e| (addr, e))?;
        let mut socket = UdpSocket::from_std(bound);
        local_addrs.push(socket.local_addr().map_err(|e| (addr, e))?);
        let token = Token(index + 1);
        poll.registry()
            .register(&mut socket, token, Interest::READABLE)
            .map_err(|e| (addr, e))?;
        sockets.push(Socket {
            socket,
            token,
            ipv6: addr.is_ipv6(),
            maybe_readable: true,
        });
    }
    let local_addr = first;
    let waker = Waker::new(poll.registry(), WAKER).map_err(|e| (local_addr, e))?;
    let shared = Arc::new(Shared {
        waker,
        stop: AtomicBool::new(false),
    });
    let node = Node::new(
        tokengo_runtime_support::os::with_os_seed(with_bound_addrs(config, &local_addrs)),
        Instant::now(),
    );
    let id = node.id();
    let driver = Driver {
        node,
        sockets,
        poll,
        commands,
        shared: shared.clone(),
        callers: Callers::default(),
        outbound: Outbound::default(),
        writable_registered: false,
    };
    let thread = std::thread::Builder::new()
        .name("tokengo-dht-mio".into())
        .spawn(|| driver.run())
        .map_err(|e| (local_addr, e))?;
    Ok(Started {
        local_addrs,
        id,
        shared,
        thread,
    })
}

struct Driver {
    node: Node,
    sockets: Vec<Socket>,
    poll: Poll,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    callers: Callers<MioChannels>,
    outbound: Outbound,
    writable_registered: bool,
}

/// What reading the command channel asks of the loop.
enum Next {
    Continue,
    Stop(Option<mpsc::SyncSender<Result<Snapshot, Error>>>),
}

impl Driver {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; RECV_BUFFER];
        let shutdown_reply = loop {
            self.pump();
            self.send_queued();
            self.update_interest();
            let maybe_readable = self.sockets.iter().any(|s| s.maybe_readable);
            let timeout = if maybe_readable {
                Some(Duration::ZERO)
            } else {
                self.node
                    .poll_timeout()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(%error, "DHT poll failed; stopping the node");
                break None;
            }
            for event in events.iter() {
                if let Some(s) = self.sockets.iter_mut().find(|s| s.token == event.token())
                    && event.is_readable()
                {
                    s.maybe_readable = true;
                }
            }
            if let Next::Stop(reply) = self.read_commands() {
                break reply;
            }
            for index in 0..self.sockets.len() {
                if self.sockets[index].maybe_readable {
                    self.sockets[index].maybe_readable = self.read_batch(index, &mut buf);
                }
            }
            let now = Instant::now();
            if self.node.poll_timeout().is_some_and(|at| at <= now) {
                self.node.handle_timeout(now);
            }
        };
        self.pump();
        self.send_queued();
        let Driver {
            node,
            sockets,
            poll,
            ..
        } = self;
        // Close the sockets before answering, so the caller may bind their addresses again.
        drop((sockets, poll));
        let snapshot = Snapshot::of(&node);
        tracing::debug!(contacts = snapshot.contacts.len(), "DHT node stopped");
        if let Some(reply) = shutdown_reply {
            let _ = reply.try_send(Ok(snapshot));
        }
    }

    /// Reads up to a batch of datagrams; `true` when the batch ran out before `WouldBlock`.
    fn read_batch(&mut self, index: usize, buf: &mut [u8]) -> bool {
        for _ in 0..RECV_BATCH {
            match self.sockets[index].socket.recv_from(buf) {
                Ok((len, from)) => {
                    self.node.handle_input(Instant::now(), from, &buf[..len]);
                    self.pump();
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // Unconnected UDP sockets can report ICMP errors of earlier sends.
                Err(error) => tracing::debug!(%error, "DHT socket receive error"),
            }
        }
        true
    }

    fn read_commands(&mut self) -> Next {
        if self.shared.stop.load(Ordering::Acquire) {
            return Next::Stop(None);
        }
        loop {
            match self.commands.try_recv() {
                Ok(Command::Shutdown { reply }) => return Next::Stop(Some(reply)),
                Ok(command) => {
                    self.callers.apply(&mut self.node, Instant::now(), command);
                    self.pump();
                }
                Err(mpsc::TryRecvError::Empty) => return Next::Continue,
                Err(mpsc::TryRecvError::Disconnected) => return Next::Stop(None),
            }
        }
    }

    /// Moves the node's datagrams to the outbound queue and routes its events.
    fn pump(&mut self) {
        while let Some(transmit) = self.node.poll_transmit() {
            self.outbound.push(transmit);
        }
        while let Some(event) = self.node.poll_event() {
            self.callers.route(event);
        }
    }

    /// Sends queued datagrams until the socket would block.
    fn send_queued(&mut self) {
        let sockets = &self.sockets;
        self.outbound.drain(|payload, to| {
            let Some(socket) = sockets.iter().find(|s| s.ipv6 == to.is_ipv6()) else {
                tracing::debug!(%to, "no socket of this family");
                return true;
            };
            match socket.socket.send_to(payload, to) {
                Ok(_) => true,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => false,
                Err(error) => {
                    tracing::debug!(%to, %error, "DHT send failed");
                    true
                }
            }
        });
    }

    /// Registers WRITABLE interest exactly while datagrams are waiting.
    fn update_interest(&mut self) {
        let want_writable = !self.outbound.is_empty();
        if want_writable == self.writable_registered {
            return;
        }
        let interest = if want_writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let mut all = true;
        for s in &mut self.sockets {
            if let Err(error) = self
                .poll
                .registry()
                .reregister(&mut s.socket, s.token, interest)
            {
                tracing::warn!(%error, "cannot change the DHT socket's interest");
                all = false;
            }
        }
        if all {
            self.writable_registered = want_writable;
        }
    }
}
