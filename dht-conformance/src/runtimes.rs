//! [`Runtime`](crate::Runtime) for the tokio and the mio adapters.

use crate::{Final, Runtime, StartedLookup};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokengo_core::item::Item;
use tokengo_core::{Config, Id, LookupStats, NodeInfo, Stats};
use tokengo_tokio::ItemRequest;

/// The tokio adapter, driven from test threads through one shared multi-thread runtime.
#[derive(Debug)]
pub struct TokioRuntime(tokengo_tokio::Dht);

fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the tests")
    })
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio_runtime().block_on(future)
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

impl Runtime for TokioRuntime {
    fn start(config: Config) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        TokioRuntime(block_on(tokengo_tokio::Dht::bind(listen, config)).expect("bind loopback"))
    }
    fn start_on(listen: &[SocketAddr], config: Config) -> Self {
        let dht = block_on(tokengo_tokio::Dht::bind_all(listen, config)).expect("bind");
        TokioRuntime(dht)
    }
    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
    fn addrs(&self) -> Vec<SocketAddr> {
        self.0.local_addrs().to_vec()
    }
    fn id(&self) -> Id {
        self.0.id()
    }
    fn bootstrap(&self, addrs: Vec<SocketAddr>) -> Result<usize, String> {
        block_on(self.0.bootstrap_addrs(addrs)).map_err(text)
    }
    fn bootstrap_hosts(&self, hosts: &[String]) -> Result<usize, String> {
        block_on(self.0.bootstrap(hosts)).map_err(text)
    }
    fn find_node(&self, target: Id) -> Result<Vec<NodeInfo>, String> {
        block_on(self.0.find_node(target))
            .map(|r| r.closest)
            .map_err(text)
    }
    fn announce(&self, info_hash: Id, port: Option<u16>) -> Result<usize, String> {
        block_on(self.0.announce(info_hash, port, false))
            .map(|r| r.accepted)
            .map_err(text)
    }
    fn get_peers(&self, info_hash: Id) -> Result<(Vec<SocketAddr>, LookupStats), String> {
        block_on(async {
            let mut lookup = self.0.get_peers(info_hash).await?;
            let mut streamed = Vec::new();
            while let Some(peer) = lookup.next_peer().await {
                streamed.push(peer);
            }
            let report = lookup.finish().await?;
            assert_eq!(
                streamed, report.peers,
                "the report repeats the streamed peers"
            );
            Ok::<_, tokengo_tokio::Error>((report.peers, report.stats))
        })
        .map_err(text)
    }
    fn get_item(&self, request: ItemRequest) -> Result<Option<Item>, String> {
        block_on(self.0.get(request)).map(|r| r.item).map_err(text)
    }
    fn put_item(&self, item: Item, cas: Option<i64>) -> Result<(usize, Vec<i64>), String> {
        let report = match item {
            Item::Immutable(value) => block_on(self.0.put_immutable(value)),
            Item::Mutable(item) => block_on(self.0.put_mutable(item, cas)),
        };
        report.map(|r| (r.accepted, r.refused)).map_err(text)
    }
    fn ping(&self, addr: SocketAddr) -> Result<Option<Id>, String> {
        block_on(self.0.ping(addr)).map_err(text)
    }
    fn stats(&self) -> Result<Stats, String> {
        block_on(self.0.stats()).map_err(text)
    }
    fn contacts(&self) -> Result<Vec<NodeInfo>, String> {
        block_on(self.0.contacts()).map_err(text)
    }
    fn add_contacts(&self, contacts: Vec<NodeInfo>) -> Result<(), String> {
        block_on(self.0.add_contacts(contacts)).map_err(text)
    }
    fn shutdown(&self) -> Result<Final, String> {
        block_on(self.0.shutdown())
            .map(|s| Final {
                id: s.id,
                contacts: s.contacts,
            })
            .map_err(text)
    }
    fn handle(&self) -> Self {
        TokioRuntime(self.0.clone())
    }
    fn start_get_peers(&self, info_hash: Id) -> Result<Box<dyn StartedLookup>, String> {
        let lookup = block_on(self.0.get_peers(info_hash)).map_err(text)?;
        Ok(Box::new(lookup))
    }
    fn max_pending() -> usize {
        tokengo_tokio::MAX_PENDING
    }
}

impl StartedLookup for tokengo_tokio::PeerLookup {
    fn finish(self: Box<Self>) -> Result<Vec<SocketAddr>, String> {
        block_on((*self).finish()).map(|r| r.peers).map_err(text)
    }
}

/// The mio adapter; its API is blocking already.
#[derive(Debug)]
pub struct MioRuntime(tokengo_mio::Dht);

impl Runtime for MioRuntime {
    fn start(config: Config) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        MioRuntime(tokengo_mio::Dht::bind(listen, config).expect("bind loopback"))
    }
    fn start_on(listen: &[SocketAddr], config: Config) -> Self {
        MioRuntime(tokengo_mio::Dht::bind_all(listen, config).expect("bind"))
    }
    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
    fn addrs(&self) -> Vec<SocketAddr> {
        self.0.local_addrs().to_vec()
    }
    fn id(&self) -> Id {
        self.0.id()
    }
    fn bootstrap(&self, addrs: Vec<SocketAddr>) -> Result<usize, String> {
        self.0.bootstrap_addrs(addrs).map_err(text)
    }
    fn bootstrap_hosts(&self, hosts: &[String]) -> Result<usize, String> {
        self.0.bootstrap(hosts).map_err(text)
    }
    fn find_node(&self, target: Id) -> Result<Vec<NodeInfo>, String> {
        self.0.find_node(target).map(|r| r.closest).map_err(text)
    }
    fn announce(&self, info_hash: Id, port: Option<u16>) -> Result<usize, String> {
        self.0
            .announce(info_hash, port, false)
            .map(|r| r.accepted)
            .map_err(text)
    }
    fn get_peers(&self, info_hash: Id) -> Result<(Vec<SocketAddr>, LookupStats), String> {
        let mut lookup = self.0.get_peers(info_hash).map_err(text)?;
        let streamed: Vec<SocketAddr> = lookup.by_ref().collect();
        let report = lookup.finish().map_err(text)?;
        assert_eq!(
            streamed, report.peers,
            "the report repeats the streamed peers"
        );
        Ok((report.peers, report.stats))
    }
    fn get_item(&self, request: ItemRequest) -> Result<Option<Item>, String> {
        self.0.get(request).map(|r| r.item).map_err(text)
    }
    fn put_item(&self, item: Item, cas: Option<i64>) -> Result<(usize, Vec<i64>), String> {
        let report = match item {
            Item::Immutable(value) => self.0.put_immutable(value),
            Item::Mutable(item) => self.0.put_mutable(item, cas),
        };
        report.map(|r| (r.accepted, r.refused)).map_err(text)
    }
    fn ping(&self, addr: SocketAddr) -> Result<Option<Id>, String> {
        self.0.ping(addr).map_err(text)
    }
    fn stats(&self) -> Result<Stats, String> {
        self.0.stats().map_err(text)
    }
    fn contacts(&self) -> Result<Vec<NodeInfo>, String> {
        self.0.contacts().map_err(text)
    }
    fn add_contacts(&self, contacts: Vec<NodeInfo>) -> Result<(), String> {
        self.0.add_contacts(contacts).map_err(text)
    }
    fn shutdown(&self) -> Result<Final, String> {
        self.0
            .shutdown()
            .map(|s| Final {
                id: s.id,
                contacts: s.contacts,
            })
            .map_err(text)
    }
    fn handle(&self) -> Self {
        MioRuntime(self.0.clone())
    }
    fn start_get_peers(&self, info_hash: Id) -> Result<Box<dyn StartedLookup>, String> {
        Ok(Box::new(self.0.get_peers(info_hash).map_err(text)?))
    }
    fn max_pending() -> usize {
        tokengo_mio::MAX_PENDING
    }
}

impl StartedLookup for tokengo_mio::PeerLookup {
    fn finish(self: Box<Self>) -> Result<Vec<SocketAddr>, String> {
        (*self).finish().map(|r| r.peers).map_err(text)
    }
}
