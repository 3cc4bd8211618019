//! The [`Dht`] handle: the async API in front of the node's task.

use crate::channels::Command;
use crate::driver::{self, Sockets};
use crate::lookup::PeerLookup;
use crate::resolve::resolve;
use std::net::SocketAddr;
use tokengo_core::item::{Item, MutableItem, Value};
use tokengo_core::{Config, Id, NodeInfo, Sample, Stats};
use tokengo_runtime_support::{
    AnnounceReport, Error, FindNodeReport, GetReport, ItemRequest, PutReport, Snapshot,
    check_listen, require_bootstrap_addrs, with_bound_addrs,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Commands queued for the node's task before callers wait for room.
const COMMAND_QUEUE: usize = 256;

/// A running DHT node on tokio. Cheap to clone; every clone talks to the same node. The node
/// stops on [`Dht::shutdown`] or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Dht {
    commands: mpsc::Sender<Command>,
    /// One per family the node speaks, in the order given.
    local_addrs: Vec<SocketAddr>,
    id: Id,
}

impl Dht {
    /// Binds a UDP socket to `listen` and starts a node with `config` on the current runtime.
    pub async fn bind(listen: SocketAddr, config: Config) -> Result<Dht, Error> {
        Self::bind_all(&[listen], config).await
    }

    /// Binds one UDP socket per address in `listen` (one IPv4 and one IPv6 address at most:
    /// BEP 32's dual stack) and starts a node with `config` that speaks their families.
    pub async fn bind_all(listen: &[SocketAddr], config: Config) -> Result<Dht, Error> {
        check_listen(listen)?;
        let mut sockets = Sockets { v4: None, v6: None };
        let mut local_addrs = Vec::with_capacity(listen.len());
        for &addr in listen {
            let bind_error = |source| Error::Bind { addr, source };
            let socket = tokengo_runtime_support::os::bind_udp(addr)
                .and_then(UdpSocket::from_std)
                .map_err(bind_error)?;
            local_addrs.push(socket.local_addr().map_err(bind_error)?);
            if addr.is_ipv4() {
                sockets.v4 = Some(socket);
            } else {
                sockets.v6 = Some(socket);
            }
        }
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let config = with_bound_addrs(config, &local_addrs);
        let id = driver::spawn(sockets, config, receiver);
        tracing::debug!(?local_addrs, %id, "DHT node started");
        Ok(Dht {
            commands,
            local_addrs,
            id,
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

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Resolves `routers` (`HOST:PORT` or `IP:PORT`) and joins the network through them (plus
    /// the configured bootstrap addresses and known contacts). Returns the routing table's
    /// size when the bootstrap finished (0 when nobody answered; the node keeps retrying).
    pub async fn bootstrap(&self, routers: &[String]) -> Result<usize, Error> {
        let resolved = resolve(routers, &self.local_addrs).await;
        let addrs = require_bootstrap_addrs(routers, resolved)?;
        self.bootstrap_addrs(addrs).await
    }

    /// [`Dht::bootstrap`] with addresses already resolved.
    pub async fn bootstrap_addrs(&self, addrs: Vec<SocketAddr>) -> Result<usize, Error> {
        self.request(|reply| Command::Bootstrap { addrs, reply })
            .await
    }

    /// Runs an iterative find_node lookup for `target`.
    pub async fn find_node(&self, target: Id) -> Result<FindNodeReport, Error> {
        self.request(|reply| Command::FindNode { target, reply })
            .await
    }

    /// Starts a get_peers lookup; the returned [`PeerLookup`] yields peers as they arrive and
    /// then the final report.
    pub async fn get_peers(&self, info_hash: Id) -> Result<PeerLookup, Error> {
        self.get_peers_via(info_hash, Vec::new()).await
    }

    /// [`Dht::get_peers`] that also asks `via` (bootstrap nodes, say) from the start, so a
    /// one-shot lookup needs no bootstrap first.
    pub async fn get_peers_via(
        &self,
        info_hash: Id,
        via: Vec<SocketAddr>,
    ) -> Result<PeerLookup, Error> {
        let (updates, receiver) = mpsc::unbounded_channel();
        self.commands
            .send(Command::GetPeers {
                info_hash,
                via,
                updates,
            })
            .await
            .map_err(|_| Error::Stopped)?;
        Ok(PeerLookup::new(receiver))
    }

    /// Announces that we serve `info_hash` on `port` (`None`: our source port, `implied_port`)
    /// and returns how the first round went. With `keep` the node re-announces periodically
    /// until [`Dht::stop_announce`].
    pub async fn announce(
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
        .await
    }

    /// Stops re-announcing `info_hash`.
    pub async fn stop_announce(&self, info_hash: Id) -> Result<(), Error> {
        self.commands
            .send(Command::StopAnnounce { info_hash })
            .await
            .map_err(|_| Error::Stopped)
    }

    /// Looks up the BEP 44 immutable item stored under `target` (the SHA-1 of its value).
    pub async fn get_immutable(&self, target: Id) -> Result<GetReport, Error> {
        self.get(ItemRequest::Immutable(target)).await
    }

    /// Looks up the BEP 44 mutable item of `key` under `salt` (empty for none); the report
    /// carries the valid item with the highest sequence number found.
    pub async fn get_mutable(&self, key: [u8; 32], salt: &[u8]) -> Result<GetReport, Error> {
        let salt = salt.to_vec();
        self.get(ItemRequest::Mutable { key, salt }).await
    }

    /// Looks up a BEP 44 item.
    pub async fn get(&self, request: ItemRequest) -> Result<GetReport, Error> {
        self.request(|reply| Command::Get { request, reply }).await
    }

    /// Stores `value` as a BEP 44 immutable item on the closest nodes.
    pub async fn put_immutable(&self, value: Value) -> Result<PutReport, Error> {
        let item = Item::Immutable(value);
        self.request(|reply| Command::Put {
            item,
            cas: None,
            reply,
        })
        .await
    }

    /// Stores a signed BEP 44 mutable item on the closest nodes (with `cas`, only where the
    /// stored item has that sequence number).
    pub async fn put_mutable(
        &self,
        item: MutableItem,
        cas: Option<i64>,
    ) -> Result<PutReport, Error> {
        let item = Item::Mutable(item);
        self.request(|reply| Command::Put { item, cas, reply })
            .await
    }

    /// Asks `addr` for a BEP 51 sample of the info hashes it stores (and its nodes closest to
    /// `target`); `None` when it did not answer with one in time.
    pub async fn sample_infohashes(
        &self,
        addr: SocketAddr,
        target: Id,
    ) -> Result<Option<Sample>, Error> {
        self.request(|reply| Command::Sample {
            addr,
            target,
            reply,
        })
        .await
    }

    /// Pings `addr`; returns its node id, or `None` when it did not answer in time.
    pub async fn ping(&self, addr: SocketAddr) -> Result<Option<Id>, Error> {
        self.request(|reply| Command::Ping { addr, reply }).await
    }

    /// The node's counters and sizes.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.request(|reply| Command::Stats { reply }).await
    }

    /// Exports the routing table's good and questionable contacts.
    pub async fn contacts(&self) -> Result<Vec<NodeInfo>, Error> {
        self.request(|reply| Command::Contacts { reply }).await
    }

    /// Imports contacts (for example saved by an earlier run); they start as questionable.
    pub async fn add_contacts(&self, contacts: Vec<NodeInfo>) -> Result<(), Error> {
        self.request(|reply| Command::AddContacts { contacts, reply })
            .await
    }

    /// Stops the node after sending what it has queued, and returns its final state. Commands
    /// still waiting fail with [`Error::Stopped`].
    pub async fn shutdown(&self) -> Result<Snapshot, Error> {
        self.request(|reply| Command::Shutdown { reply }).await
    }
}
