//! Helpers of the interoperability tests: a libtorrent node driven through a Python script, and
//! waiting for something to become true on a real network.
//!
//! The tests (`tests/mainline.rs`, `tests/libtorrent.rs`) run on loopback with our node as the
//! only bootstrap node, on both runtimes. What the peers need there:
//!
//! - mainline 8 defaults to a read-only client: use server mode, and set its bind address and
//!   bootstrap. It sends 4-byte transaction ids and accepts only 4-byte ones back; libtorrent
//!   sends 2-byte ones (we echo whatever arrives). Its `announce_peer` collects tokens with a
//!   BEP 44 `get` lookup unless a get_peers lookup of the same key is cached; our node answers
//!   `get` (`tests/items.rs` announces with no get_peers first), libtorrent's does too.
//! - libtorrent 2.0 on loopback needs `dht_block_ratelimit` raised and
//!   `dht_restrict_routing_ips`, `dht_restrict_search_ips`, `dht_prefer_verified_node_ids` and
//!   `dht_enforce_node_id` off; its default routers are replaced (`add_dht_node`, as routers
//!   never enter its table). Its RPC timeout is a fixed 15 s. The Python binding cannot call
//!   `dht_announce`: a magnet for the key, added unpaused and not auto-managed, makes it
//!   announce its listen port (implied_port) at once. `dht_get_peers` results arrive as
//!   `dht_get_peers_reply_alert`, which needs the `dht_operation_notification` category.
//!   BEP 44 through the binding: an immutable item arrives as `{'key', 'value'}`, a mutable
//!   item's key and salt as latin-1 `str`; `dht_put_mutable_item` wants libtorrent's 64-byte
//!   expanded secret key (SHA-512 of the seed, clamped), and puts one more than the seq it
//!   finds.
//! - For the loopback benchmark (`examples/dht_bench.rs`): [`LibtorrentSwarm`] runs many
//!   libtorrent sessions in one Python process (`scripts/libtorrent_swarm.py`) and
//!   [`libtorrent_lookup`] one read-only get_peers in a fresh session
//!   (`scripts/libtorrent_lookup.py`). libtorrent posts no alert when a `dht_get_peers`
//!   lookup ends; its traversal log (`dht_log_alert`) has the end. Debian's binding now and then
//!   crashes (SIGSEGV in `wait_for_alert`) in such a short-lived session.

mod libtorrent;
mod script_child;

pub use libtorrent::{
    LibtorrentEvent, LibtorrentLookup, LibtorrentNode, LibtorrentSwarm, hex, libtorrent_lookup,
    libtorrent_python, unhex,
};

use std::time::{Duration, Instant};

/// Calls `probe` until it returns `Some`, at most until `limit` has passed. Interop peers
/// (libtorrent above all, with its fixed 15 s RPC timeout) act on their own schedule; this
/// waits for an outcome without asserting how long it took.
pub fn eventually<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
