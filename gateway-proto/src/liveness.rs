//! Whether the peer of a QUIC connection is still there, from how long it has been silent.
//!
//! A peer that vanishes without closing (killed, its host or its network gone) sends nothing
//! more, and QUIC itself only notices at the idle timeout, a fixed number of seconds chosen for
//! the slowest network. Here the limit follows the connection: a live peer is heard at least
//! once per keep-alive interval (its own pings, or the acknowledgements of ours), one round trip
//! late at most, and a lost ping is probed again after QUIC's probe timeout (about two round
//! trips plus the ACK delay). Silence past the interval plus [`PROBES`] probe timeouts, and at
//! least [`MIN_MARGIN`] past the interval, means the peer is gone.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tokengo_gateway_proto::liveness::SilenceWatch;
//!
//! let start = Instant::now();
//! let rtt = Duration::from_millis(40);
//! let mut watch = SilenceWatch::new(start, Duration::from_secs(1));
//! // The shell reads the connection's count of received datagrams now and then.
//! watch.observe(start + Duration::from_millis(900), 12);
//! assert!(!watch.is_silent(start + Duration::from_secs(2), rtt));
//! // Nothing more arrives: gone one interval plus the margin after it was last heard.
//! assert!(watch.is_silent(start + Duration::from_millis(900) + watch.limit(rtt), rtt));
//! ```

use std::time::{Duration, Instant};

/// Probe timeouts of silence past the keep-alive interval before the peer is gone: a ping and
/// two probes after it all lost, or their answers.
pub const PROBES: u32 = 3;
/// The least silence past the keep-alive interval that counts: a peer process that stalls for
/// a moment (a loaded machine) is not dropped for it.
pub const MIN_MARGIN: Duration = Duration::from_secs(1);
/// The largest delay QUIC allows a peer before it acknowledges (RFC 9000's default
/// `max_ack_delay`), part of every probe timeout.
pub const ACK_DELAY: Duration = Duration::from_millis(25);

/// When the peer of one connection was last heard, and how long it may stay silent.
#[derive(Debug, Clone)]
pub struct SilenceWatch {
    keep_alive: Duration,
    received: u64,
    heard_at: Instant,
}

impl SilenceWatch {
    /// A watch over a connection established at `now`, whose peer is heard at least every
    /// `keep_alive` while alive.
    pub fn new(now: Instant, keep_alive: Duration) -> Self {
        SilenceWatch {
            keep_alive,
            received: 0,
            heard_at: now,
        }
    }

    /// Takes the connection's count of datagrams received so far: a count that grew since the
    /// last look means the peer was heard (the watch takes `now` for it, never earlier).
    pub fn observe(&mut self, now: Instant, received: u64) {
        if received != self.received {
            self.received = received;
            self.heard_at = self.heard_at.max(now);
        }
    }

    /// The longest silence of a live peer on a path of round-trip time `rtt`.
    pub fn limit(&self, rtt: Duration) -> Duration {
        let probe_timeout = rtt.saturating_mul(2).saturating_add(ACK_DELAY);
        self.keep_alive
            .saturating_add(probe_timeout.saturating_mul(PROBES).max(MIN_MARGIN))
    }

    /// When the peer counts as gone if nothing more is heard.
    pub fn deadline(&self, rtt: Duration) -> Instant {
        self.heard_at + self.limit(rtt)
    }

    /// Whether the peer has been silent too long at `now`.
    pub fn is_silent(&self, now: Instant, rtt: Duration) -> bool {
        now >= self.deadline(rtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_limit_follows_the_round_trip_time_above_a_floor() {
        let watch = SilenceWatch::new(Instant::now(), SECOND);
        // Loopback: the floor.
        assert_eq!(watch.limit(Duration::from_micros(50)), 2 * SECOND);
        // 200 ms: three probe timeouts of 425 ms.
        assert_eq!(
            watch.limit(Duration::from_millis(200)),
            SECOND + Duration::from_millis(1275)
        );
        // Nothing measured yet (QUIC's initial 333 ms): still well under an 8 s idle timeout.
        assert!(watch.limit(Duration::from_millis(333)) < 4 * SECOND);
        assert_eq!(watch.limit(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn a_peer_heard_in_time_stays_and_a_silent_one_goes() {
        let start = Instant::now();
        let rtt = Duration::from_millis(10);
        let mut watch = SilenceWatch::new(start, SECOND);
        let mut count = 0;
        // Heard once a second for a minute: never silent.
        for s in 1..=60 {
            let now = start + SECOND * s;
            count += 3;
            watch.observe(now, count);
            assert!(!watch.is_silent(now + SECOND, rtt), "at {s} s");
        }
        let last = start + SECOND * 60;
        // The same count again is not hearing the peer.
        watch.observe(last + SECOND, count);
        assert!(!watch.is_silent(last + watch.limit(rtt) - Duration::from_millis(1), rtt));
        assert!(watch.is_silent(last + watch.limit(rtt), rtt));
        assert_eq!(watch.deadline(rtt), last + watch.limit(rtt));
    }

    #[test]
    fn a_look_back_in_time_does_not_move_the_last_hearing_earlier() {
        let start = Instant::now();
        let mut watch = SilenceWatch::new(start + SECOND * 5, SECOND);
        watch.observe(start, 1);
        assert_eq!(
            watch.deadline(Duration::ZERO),
            start + SECOND * 5 + 2 * SECOND
        );
    }
}
