//! Inbound query rate limiting per source: a token bucket per IP in a fixed-size table, and per
//! address (IP and port) for loopback sources.
//!
//! Loopback sources are keyed by their whole address: every local node has its own port on the
//! one IP it shares with the others (the devnet, test networks), and a local process can bind
//! any of 127.0.0.0/8's 16 million addresses anyway, so a per-IP budget would stop legitimate
//! local networks without stopping a local flooder any better.
//!
//! Bound: [`SLOTS`] buckets, whatever the number of sources, in sets of [`WAYS`]: a source
//! hashes to one set and takes a free bucket there, or one whose bucket has refilled to the
//! full burst (forgetting it loses nothing). A source that finds its set busy with active
//! sources gets no bucket: it is let through as a heavy sender, so only the node-wide budget
//! for heavy strangers meters it. No source is ever refused for another's queries, and none
//! gets a fresh bucket by pushing out an active one (a direct-mapped table let two colliding
//! flooders reset each other's bucket on every query).

use crate::krpc::compact;
use crate::token::siphash24;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Number of buckets.
pub const SLOTS: usize = 4096;
/// Buckets a source may use: one set of this many.
pub const WAYS: usize = 4;

/// One source's token bucket: 16 bytes, so that a set of [`WAYS`] is one cache line.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The high half of the source's keyed hash, never 0 (0 marks a free way): sources are
    /// told apart by it and by their set (the low bits). Two sources alike in all 42 bits
    /// would share a bucket; the hash key keeps anyone from choosing such a pair.
    tag: u32,
    tokens: f32,
    /// When the bucket was last spent, in nanoseconds since the limiter's epoch.
    last: u64,
}

/// The ways of one set, on one cache line.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
struct Set([Slot; WAYS]);

/// What the per-source limit says of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Over the source's budget: drop it.
    Refused,
    /// Within budget, and the source has spent less than half its burst: a light sender.
    Light,
    /// Within budget, from a source near its limit, or from one that is not metered.
    Heavy,
}

/// Sets in the table.
const SETS: usize = SLOTS / WAYS;

/// Per-IP token buckets.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    key: [u64; 2],
    rate: f64,
    burst: f64,
    limit_loopback: bool,
    /// Per set, 0 while no source hashed to it, else 1 + its place in `ways`: a set's buckets
    /// take memory once a source uses them (a node of a large simulation hears from a few
    /// hundred sources, and the full table would be 64 KB per node).
    sets: Vec<u16>,
    ways: Vec<Set>,
    /// The first `now` seen: slot times count from it.
    epoch: Option<Instant>,
}

impl RateLimiter {
    /// Allows `rate` queries per second per source on average and bursts of `burst`; a zero
    /// rate turns limiting off. Without `limit_loopback`, loopback sources are never limited.
    pub fn new(key: [u64; 2], rate: u32, burst: u32, limit_loopback: bool) -> Self {
        let sets = if rate == 0 { Vec::new() } else { vec![0; SETS] };
        RateLimiter {
            key,
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            limit_loopback,
            sets,
            ways: Vec::new(),
            epoch: None,
        }
    }

    /// Whether a query from `from` at `now` is within its budget (spending one token if so),
    /// and whether its source is a light sender.
    pub fn allow(&mut self, from: SocketAddr, now: Instant) -> Allowance {
        let ip = from.ip();
        if self.sets.is_empty() || (ip.is_loopback() && !self.limit_loopback) {
            return Allowance::Heavy;
        }
        let source = if ip.is_loopback() {
            from
        } else {
            SocketAddr::new(host_of(ip), 0)
        };
        let hash = siphash24(self.key, compact(&source).as_slice());
        let set = (hash % SETS as u64) as usize;
        let tag = (hash >> 32) as u32 | 1;
        let epoch = *self.epoch.get_or_insert(now);
        // Times before the epoch (a clock handed in out of order) count as the epoch itself.
        let at = u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
        let (rate, burst) = (self.rate, self.burst);
        let idle_secs =
            |slot: &Slot| (at.saturating_sub(slot.last) as f64 / 1e9).min(MAX_IDLE_SECS);
        let place = match self.sets[set] {
            0 => {
                self.ways.push(Set::default());
                // At most SETS (1,024) places: they fit in a u16.
                self.sets[set] = self.ways.len() as u16;
                self.ways.len() - 1
            }
            place => usize::from(place) - 1,
        };
        let ways = &mut self.ways[place].0;
        let way = ways
            .iter()
            .position(|w| w.tag == tag)
            .or_else(|| ways.iter().position(|w| w.tag == 0))
            .or_else(|| {
                // Every way is another source's: take one only if its bucket has refilled to
                // the full burst, so that forgetting it changes nothing.
                ways.iter()
                    .position(|w| f64::from(w.tokens) + idle_secs(w) * rate >= burst)
            });
        let Some(way) = way else {
            // No bucket to spare: unmetered, so it shares the node-wide budget of the heavy.
            return Allowance::Heavy;
        };
        let slot = &mut ways[way];
        let tokens = if slot.tag == tag {
            (f64::from(slot.tokens) + idle_secs(slot) * rate).min(burst)
        } else {
            burst
        };
        *slot = Slot {
            tag,
            tokens: tokens as f32,
            last: at,
        };
        if tokens < 1.0 {
            return Allowance::Refused;
        }
        let left = tokens - 1.0;
        slot.tokens = left as f32;
        if left >= burst / 2.0 {
            Allowance::Light
        } else {
            Allowance::Heavy
        }
    }
}

/// Idle time beyond this refills nothing more (every bucket is full by then).
const MAX_IDLE_SECS: f64 = 3600.0;

/// What one host is, for budgets: its IPv4 address, or its IPv6 /64 (one host is given a
/// whole /64, so its single addresses cost it nothing).
fn host_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// One token bucket for a whole class of queries (those from heavy strangers), whatever
/// their sources: what the node spends on strangers stays bounded however many IPs they use.
#[derive(Debug, Clone)]
pub struct Budget {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Budget {
    /// `rate` per second on average, bursts of `burst`; a zero rate is no limit.
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Budget {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Whether one more is within the budget at `now` (spending it if so).
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        if let Some(last) = self.last {
            let elapsed = now
                .saturating_duration_since(last)
                .min(Duration::from_secs(3600));
            self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        }
        self.last = Some(self.last.map_or(now, |last| last.max(now)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn at(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::from(ip).into(), port)
    }

    fn allowed(limiter: &mut RateLimiter, from: SocketAddr, now: Instant, n: usize) -> usize {
        (0..n)
            .filter(|_| limiter.allow(from, now) != Allowance::Refused)
            .count()
    }

    #[test]
    fn bursts_then_refills() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new([1, 2], 10, 20, true);
        let ip = [192, 0, 2, 1];
        let verdicts: Vec<Allowance> = (0..30).map(|_| limiter.allow(at(ip, 1), t0)).collect();
        let count = |a: Allowance| verdicts.iter().filter(|v| **v == a).count();
        // 20 allowed: the first 10 leave at least half the burst (light), the next 10 not.
        assert_eq!((count(Allowance::Light), count(Allowance::Heavy)), (10, 10));
        assert_eq!(count(Allowance::Refused), 10);
        assert_eq!(
            (verdicts[0], verdicts[19]),
            (Allowance::Light, Allowance::Heavy)
        );
        assert_eq!(
            limiter.allow(at(ip, 2), t0),
            Allowance::Refused,
            "one budget per IP, whatever the port"
        );
        assert_eq!(
            limiter.allow(at([192, 0, 2, 2], 1), t0),
            Allowance::Light,
            "other IPs unaffected"
        );
        let later = t0 + Duration::from_millis(500);
        assert_eq!(allowed(&mut limiter, at(ip, 1), later, 30), 5);
        let mut off = RateLimiter::new([1, 2], 0, 0, true);
        assert!((0..1000).all(|_| off.allow(at(ip, 1), t0) == Allowance::Heavy));
    }

    #[test]
    fn many_sources_flooding_at_once_each_get_only_their_burst() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new([1, 2], 10, 20, true);
        let sources: Vec<SocketAddr> = (0..300u32)
            .map(|i| SocketAddr::new(Ipv4Addr::from(0x0a00_0000 + i).into(), 6881))
            .collect();
        let mut allowed = 0;
        for _ in 0..100 {
            for source in &sources {
                if limiter.allow(*source, t0) != Allowance::Refused {
                    allowed += 1;
                }
            }
        }
        assert_eq!(
            allowed,
            300 * 20,
            "no source got a fresh bucket from a collision"
        );
    }

    #[test]
    fn sources_beyond_the_table_never_count_as_light() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new([1, 2], 10, 20, true);
        // Half as many sources as buckets: some sets get more sources than ways.
        let sources: Vec<SocketAddr> = (0..2000u32)
            .map(|i| SocketAddr::new(Ipv4Addr::from(0x0a00_0000 + i).into(), 6881))
            .collect();
        let mut light = 0;
        for _ in 0..100 {
            for source in &sources {
                if limiter.allow(*source, t0) == Allowance::Light {
                    light += 1;
                }
            }
        }
        assert!(
            light <= 2000 * 10,
            "{light} light answers: a source that lost its bucket started afresh"
        );
    }

    #[test]
    fn budget_bursts_then_refills() {
        let t0 = Instant::now();
        let mut budget = Budget::new(100, 10);
        assert_eq!((0..30).filter(|_| budget.take(t0)).count(), 10);
        let later = t0 + Duration::from_millis(50);
        assert_eq!((0..30).filter(|_| budget.take(later)).count(), 5);
        // Time going backwards neither refills nor panics.
        assert!(!budget.take(t0));
        let mut off = Budget::new(0, 0);
        assert!((0..1000).all(|_| off.take(t0)));
    }

    #[test]
    fn loopback_is_limited_per_address_or_exempt() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new([1, 2], 10, 20, true);
        let local = [127, 0, 0, 1];
        assert_eq!(allowed(&mut limiter, at(local, 1), t0, 30), 20);
        assert_eq!(
            limiter.allow(at(local, 2), t0),
            Allowance::Light,
            "each local port has its own budget"
        );
        assert_eq!(limiter.allow(at([127, 0, 0, 2], 1), t0), Allowance::Light);
        let mut exempt = RateLimiter::new([1, 2], 10, 20, false);
        assert!((0..1000).all(|_| exempt.allow(at(local, 1), t0) == Allowance::Heavy));
        assert_eq!(allowed(&mut exempt, at([192, 0, 2, 1], 1), t0, 30), 20);
    }
}
