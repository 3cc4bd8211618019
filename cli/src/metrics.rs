//! `--metrics ADDR`: the Prometheus endpoint of a relay, an exit or a client, and the DHT
//! node's statistics copied into it at each scrape.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokengo_core::Stats;
use tokengo_gateway::metrics::{self, Registry};
use tokengo_gateway::shutdown::ctrl_c_or_term;

type Refresh = Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// Serves `registry` on `GET http://ADDR/metrics` in the background, `refresh` running before
/// each scrape; returns the address bound.
pub async fn start(addr: &str, registry: Registry, refresh: Refresh) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = crate::config::parse_listen(addr)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics on {addr}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(metrics::serve(
        listener,
        Arc::new(registry),
        refresh,
        ctrl_c_or_term(),
    ));
    crate::say!("metrics on http://{local}/metrics");
    Ok(local)
}

/// A routing-table node state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeState {
    state: &'static str,
}

/// What a DHT node's statistics say, as metrics: gauges for what it holds, counters for what
/// it did (advanced by the difference since the last scrape).
#[derive(Debug, Default)]
pub struct DhtMetrics {
    nodes: Family<NodeState, Gauge>,
    stored_keys: Gauge,
    stored_peers: Gauge,
    active_lookups: Gauge,
    queries_in: Counter,
    queries_out: Counter,
    responses_in: Counter,
    dropped: Counter,
    last: Mutex<[u64; 4]>,
}

impl DhtMetrics {
    /// Registers these metrics under `tokengo_dht_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("tokengo_dht");
        r.register("nodes", "Routing-table nodes, by state", self.nodes.clone());
        r.register(
            "stored_keys",
            "Info hashes in the peer store",
            self.stored_keys.clone(),
        );
        r.register(
            "stored_peers",
            "Peers in the peer store",
            self.stored_peers.clone(),
        );
        r.register(
            "active_lookups",
            "Lookups running",
            self.active_lookups.clone(),
        );
        r.register(
            "queries_received",
            "Queries received and let through the rate limits",
            self.queries_in.clone(),
        );
        r.register("queries_sent", "Queries sent", self.queries_out.clone());
        r.register(
            "responses_received",
            "Responses received to our queries",
            self.responses_in.clone(),
        );
        r.register(
            "datagrams_dropped",
            "Datagrams dropped (malformed, other network, over a limit, unexpected)",
            self.dropped.clone(),
        );
    }

    /// Copies `stats` in.
    pub fn update(&self, stats: &Stats) {
        let set = |state, n: usize| {
            self.nodes.get_or_create(&NodeState { state }).set(n as i64);
        };
        set("good", stats.nodes_good);
        set("questionable", stats.nodes_questionable);
        set("replacement", stats.nodes_replacement);
        self.stored_keys.set(stats.stored_keys as i64);
        self.stored_peers.set(stats.stored_peers as i64);
        self.active_lookups.set(stats.active_lookups as i64);
        let q = &stats.queries_in;
        let o = &stats.queries_out;
        let d = &stats.dropped;
        let now = [
            q.ping + q.find_node + q.get_peers + q.announce_peer + q.other,
            o.ping + o.find_node + o.get_peers + o.announce_peer + o.other,
            stats.responses_in,
            d.malformed + d.wrong_network + d.over_limit + d.unexpected + d.unsupported_address,
        ];
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for (i, counter) in [
            &self.queries_in,
            &self.queries_out,
            &self.responses_in,
            &self.dropped,
        ]
        .into_iter()
        .enumerate()
        {
            counter.inc_by(now[i].saturating_sub(last[i]));
        }
        *last = now;
    }

    /// A scrape hook that copies `dht`'s statistics in.
    pub fn refresh(self: Arc<Self>, dht: tokengo_tokio::Dht) -> Refresh {
        Arc::new(move || {
            let (this, dht) = (self.clone(), dht.clone());
            Box::pin(async move {
                if let Ok(stats) = dht.stats().await {
                    this.update(&stats);
                }
            })
        })
    }
}

/// A scrape hook that does nothing.
pub fn no_refresh() -> Refresh {
    metrics::no_refresh()
}
