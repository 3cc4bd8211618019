//! Closes a connection whose peer fell silent ([`SilenceWatch`]), so that a relay or an exit
//! that vanished without closing is noticed within a few seconds that follow the path's
//! round-trip time, not at QUIC's fixed idle timeout.

use std::time::Duration;
use tokengo_gateway_proto::liveness::SilenceWatch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::info;

/// The QUIC application close code of a connection closed for its peer's silence.
pub const SILENT_PEER: u32 = 3;

/// Watches one connection while held; dropping it stops the watch (it holds a handle to the
/// connection, which would otherwise stay open for as long as the watch runs).
#[derive(Debug)]
pub struct SilenceGuard(JoinHandle<()>);

impl Drop for SilenceGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching `conn`, whose peer is heard at least every `keep_alive` while alive (its
/// keep-alive pings, or the acknowledgements of ours): once it has been silent past
/// [`SilenceWatch::limit`], the connection is closed with [`SILENT_PEER`].
pub fn watch(conn: &quinn::Connection, keep_alive: Duration) -> SilenceGuard {
    let conn = conn.clone();
    let look_every = keep_alive / 2;
    SilenceGuard(tokio::spawn(async move {
        let mut watch = SilenceWatch::new(Instant::now().into_std(), keep_alive);
        loop {
            let now = Instant::now();
            watch.observe(now.into_std(), conn.stats().udp_rx.datagrams);
            let rtt = conn.rtt();
            if watch.is_silent(now.into_std(), rtt) {
                info!(peer = %conn.remote_address(), silent_for = ?watch.limit(rtt), "peer silent; closing the connection");
                conn.close(SILENT_PEER.into(), b"peer silent");
                return;
            }
            let wake = Instant::from_std(watch.deadline(rtt)).min(now + look_every);
            tokio::select! {
                _ = conn.closed() => return,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }))
}
