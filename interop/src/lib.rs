//! Helpers of the interoperability tests: a libtorrent node driven through a Python script, and
//! waiting for something to become true on a real network.

mod libtorrent;

pub use libtorrent::{LibtorrentEvent, LibtorrentNode, libtorrent_python};

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
