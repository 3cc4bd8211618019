//! The [`Dht`] handle: the blocking API in front of the node's thread.

use crate::channels::Command;
use crate::driver::{self, Shared};
use crate::lookup::PeerLookup;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use tokengo_core::item::{Item, MutableItem, Value};
use tokengo_core::{Config, Id, NodeInfo, Sample, Stats};
use tokengo_runtime_support::{
    AnnounceReport, Error, FindNodeReport, GetReport, ItemRequest, PutReport, Snapshot,
    check_listen, push_spoken, require_bootstrap_addrs,
};

/// Commands queued for the node's thread before callers block for room.
const COMMAND_QUEUE: usize = 256;

/// A running DHT node on its own mio thread. Cheap to clone; every clone talks to the same
/// node. The node stops on [`Dht::shutdown`] or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Dht {
    inner: Arc<Inner>,
    /// One per family the node speaks, in the order given.
    local_addrs: Vec<SocketAddr>,
    id: Id,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::SyncSender<Command>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Dht {
    /// Binds a UDP socket to `listen` and starts a node with `config` on a new thread.
    pub fn bind(listen: SocketAddr, config: Config) -> Result<Dht, Error> {
        Self::bind_all(&[listen], config)
    }

    /// Binds one UDP socket per address in `listen` (one IPv4 and one IPv6 address at most:
    /// BEP 32's dual stack) and starts a node with `config` that speaks their families.
    pub fn bind_all(listen: &[SocketAddr], config: Config) -> Result<Dht, Error> {
        check_listen(listen)?;
        let (commands, receiver) = mpsc::sync_channel(COMMAND_QUEUE);
        let started = driver::start(listen, config, receiver)
            .map_err(|(addr, source)| Error::Bind { addr, source })?;
        tracing::debug!(local_addrs = ?started.local_addrs, id = %started.id, "DHT node started");
        let inner = Inner {
            commands,
            shared: started.shared,
            thread: Mutex::new(Some(started.thread)),
        };
        Ok(Dht {
            inner: Arc::new(inner),
            local_addrs: started.local_addrs,
            id: started.id,
        })
    }

    /// The address of the node's first socket (see [`Dht::local_addrs`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// The addresses the node's sockets are bound to, one per family it speaks.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The node's id when it started. On Mainline a node may later take a BEP 42 secure id
    /// (see `Config::secure_ids`); its current id is in the [`Snapshot`] that shutdown returns.
    pub fn id(&self) -> Id {
        self.id
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.inner
            .commands
            .send(command)
            .map_err(|_| Error::Stopped)?;
        self.inner.shared.wake();
        Ok(())
    }

    fn request<T>(
        &self,
        make: impl FnOnce(mpsc::SyncSender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(make(reply))?;
        answer.recv().map_err(|_| Error::Stopped)?
    }

    /// Resolves `routers` (`HOST:PORT` or `IP:PORT`, in the calling thread) and joins the
    /// network through them (plus the configured bootstrap addresses and known contacts).
    /// Returns the routing table's size when the bootstrap finished (0 when nobody answered;
    /// the node keeps retrying).
    pub fn bootstrap(&self, routers: &[String]) -> Result<usize, Error> {
        let addrs = require_bootstrap_addrs(routers, resolve(routers, &self.local_addrs))?;
        self.bootstrap_addrs(addrs)
    }

    /// [`Dht::bootstrap`] with addresses already resolved.
    pub fn bootstrap_addrs(&self, addrs: Vec<SocketAddr>) -> Result<usize, Error> {
        self.request(|reply| Command::Bootstrap { addrs, reply })
    }

    /// Runs an iterative find_node lookup for `target`.
    pub fn find_node(&self, target: Id) -> Result<FindNodeReport, Error> {
        self.request(|reply| Command::FindNode { target, reply })
    }

    /// Starts a get_peers lookup; iterate the returned [`PeerLookup`] for peers as they arrive.
    pub fn get_peers(&self, info_hash: Id) -> Result<PeerLookup, Error> {
        self.get_peers_via(info_hash, Vec::new())
    }

    /// [`Dht::get_peers`] that also asks `via` (bootstrap nodes, say) from the start, so a
    /// one-shot lookup needs no bootstrap first.
    pub fn get_peers_via(&self, info_hash: Id, via: Vec<SocketAddr>) -> Result<PeerLookup, Error> {
        let (updates, receiver) = mpsc::channel();
        self.send(Command::GetPeers {
            info_hash,
            via,
            updates,
        })?;
        Ok(PeerLookup::new(receiver))
    }

    /// Announces that we serve `info_hash` on `port` (`None`: our source port, `implied_port`)
    /// and returns how the first round went. With `keep` the node re-announces periodically
    /// until [`Dht::stop_announce`].
    pub fn announce(
        &self,
        info_hash: Id,
        port: Option<u16>,
        keep: bool,
    ) -> Result<AnnounceReport, Error> {
        self.request(|reply| Command::Announce {
            info_hash,
            port,
            keep,
            reply,
        })
    }

    /// Stops re-announcing `info_hash`.
    pub fn stop_announce(&self, info_hash: Id) -> Result<(), Error> {
        self.send(Command::StopAnnounce { info_hash })
    }

    /// Looks up the BEP 44 immutable item stored under `target` (the SHA-1 of its value).
    pub fn get_immutable(&self, target: Id) -> Result<GetReport, Error> {
        self.get(ItemRequest::Immutable(target))
    }

    /// Looks up the BEP 44 mutable item of `key` under `salt` (empty for none); the report
    /// carries the valid item with the highest sequence number found.
    pub fn get_mutable(&self, key: [u8; 32], salt: &[u8]) -> Result<GetReport, Error> {
        let salt = salt.to_vec();
        self.get(ItemRequest::Mutable { key, salt })
    }

    /// Looks up a BEP 44 item.
    pub fn get(&self, request: ItemRequest) -> Result<GetReport, Error> {
        self.request(|reply| Command::Get { request, reply })
    }

    /// Stores `value` as a BEP 44 immutable item on the closest nodes.
    pub fn put_immutable(&self, value: Value) -> Result<PutReport, Error> {
        let item = Item::Immutable(value);
        self.request(|reply| Command::Put {
            item,
            cas: None,
            reply,
        })
    }

    /// Stores a signed BEP 44 mutable item on the closest nodes (with `cas`, only where the
    /// stored item has that sequence number).
    pub fn put_mutable(&self, item: MutableItem, cas: Option<i64>) -> Result<PutReport, Error> {
        let item = Item::Mutable(item);
        self.request(|reply| Command::Put { item, cas, reply })
    }

    /// Asks `addr` for a BEP 51 sample of the info hashes it stores (and its nodes closest to
    /// `target`); `None` when it did not answer with one in time.
    pub fn sample_infohashes(&self, addr: SocketAddr, target: Id) -> Result<Option<Sample>, Error> {
        self.request(|reply| Command::Sample {
            addr,
            target,
            reply,
        })
    }

    /// Pings `addr`; returns its node id, or `None` when it did not answer in time.
    pub fn ping(&self, addr: SocketAddr) -> Result<Option<Id>, Error> {
        self.request(|reply| Command::Ping { addr, reply })
    }

    /// The node's counters and sizes.
    pub fn stats(&self) -> Result<Stats, Error> {
        self.request(|reply| Command::Stats { reply })
    }

    /// Exports the routing table's good and questionable contacts.
    pub fn contacts(&self) -> Result<Vec<NodeInfo>, Error> {
        self.request(|reply| Command::Contacts { reply })
    }

    /// Imports contacts (for example saved by an earlier run); they start as questionable.
    pub fn add_contacts(&self, contacts: Vec<NodeInfo>) -> Result<(), Error> {
        self.request(|reply| Command::AddContacts { contacts, reply })
    }

    /// Stops the node after sending what it can, joins its thread and returns its final
    /// state. Commands still waiting fail with [`Error::Stopped`].
    pub fn shutdown(&self) -> Result<Snapshot, Error> {
        let snapshot = self.request(|reply| Command::Shutdown { reply })?;
        let thread = self
            .inner
            .thread
            .lock()
            .map(|mut slot| slot.take())
            .unwrap_or(None);
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::warn!("the DHT thread panicked while stopping");
        }
        Ok(snapshot)
    }
}

/// Resolves every `HOST:PORT` (or `IP:PORT`) in `targets` and keeps the IPv4 results, in order
/// and without duplicates. Names that fail to resolve are logged and skipped. Blocks the
/// calling thread (never the node's).
pub fn resolve_ipv4(targets: &[String]) -> Vec<SocketAddr> {
    resolve(targets, &[SocketAddr::from(([0, 0, 0, 0], 0))])
}

/// [`resolve_ipv4`] for the families of `local` (the node's sockets): IPv6 results too when
/// it has an IPv6 socket (BEP 32).
pub fn resolve(targets: &[String], local: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for target in targets {
        match target.as_str().to_socket_addrs() {
            Ok(addrs) => push_spoken(&mut out, local, addrs),
            Err(error) => tracing::warn!(%target, %error, "cannot resolve bootstrap address"),
        }
    }
    out
}
