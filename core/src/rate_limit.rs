//! Inbound query rate limiting per source: a token bucket per IP in a fixed-size table, and per
//! address (IP and port) for loopback sources.
//!
//! Loopback sources are keyed by their whole address: every local node has its own port on the
//! one IP it shares with the others (the devnet, test networks), and a local process can bind
//! any of 127.0.0.0/8's 16 million addresses anyway, so a per-IP budget would stop legitimate
//! local networks without stopping a local flooder any better.
//!
//! Bound: [`SLOTS`] buckets, whatever the number of sources. Sources that hash to the same slot
//! take it over from each other, which only ever makes the limit more lenient, never stricter.

use crate::token::siphash24;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// Number of buckets.
pub const SLOTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The source: an IP with port 0, or a whole loopback address.
    source: SocketAddrV4,
    tokens: f64,
    last: Instant,
}

/// Per-IP token buckets.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    key: [u64; 2],
    rate: f64,
    burst: f64,
    limit_loopback: bool,
    slots: Vec<Option<Slot>>,
}

impl RateLimiter {
    /// Allows `rate` queries per second per source on average and bursts of `burst`; a zero
    /// rate turns limiting off. Without `limit_loopback`, loopback sources are never limited.
    pub fn new(key: [u64; 2], rate: u32, burst: u32, limit_loopback: bool) -> Self {
        let slots = if rate == 0 {
            Vec::new()
        } else {
            vec![None; SLOTS]
        };
        RateLimiter {
            key,
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            limit_loopback,
            slots,
        }
    }

    /// Whether a query from `from` at `now` is within its budget (and spends one token if so).
    pub fn allow(&mut self, from: SocketAddrV4, now: Instant) -> bool {
        let ip = *from.ip();
        if self.slots.is_empty() || (ip.is_loopback() && !self.limit_loopback) {
            return true;
        }
        let source = if ip.is_loopback() {
            from
        } else {
            SocketAddrV4::new(ip, 0)
        };
        let mut bytes = [0u8; 6];
        bytes[..4].copy_from_slice(&source.ip().octets());
        bytes[4..].copy_from_slice(&source.port().to_be_bytes());
        let index = (siphash24(self.key, &bytes) % SLOTS as u64) as usize;
        let slot = &mut self.slots[index];
        let current = match slot {
            Some(s) if s.source == source => s,
            _ => slot.insert(Slot {
                source,
                tokens: self.burst,
                last: now,
            }),
        };
        let elapsed = now
            .saturating_duration_since(current.last)
            .min(Duration::from_secs(3600));
        current.tokens = (current.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        current.last = now;
        if current.tokens >= 1.0 {
            current.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One token bucket for a whole class of queries (those from unknown senders), whatever
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

    fn at(ip: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(ip), port)
    }

    #[test]
    fn bursts_then_refills() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new([1, 2], 10, 20, true);
        let ip = [192, 0, 2, 1];
        assert_eq!((0..30).filter(|_| limiter.allow(at(ip, 1), t0)).count(), 20);
        assert!(
            !limiter.allow(at(ip, 2), t0),
            "one budget per IP, whatever the port"
        );
        assert!(
            limiter.allow(at([192, 0, 2, 2], 1), t0),
            "other IPs unaffected"
        );
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            (0..30).filter(|_| limiter.allow(at(ip, 1), later)).count(),
            5
        );
        let mut off = RateLimiter::new([1, 2], 0, 0, true);
        assert!((0..1000).all(|_| off.allow(at(ip, 1), t0)));
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
        assert_eq!(
            (0..30).filter(|_| limiter.allow(at(local, 1), t0)).count(),
            20
        );
        assert!(
            limiter.allow(at(local, 2), t0),
            "each local port has its own budget"
        );
        assert!(limiter.allow(at([127, 0, 0, 2], 1), t0));
        let mut exempt = RateLimiter::new([1, 2], 10, 20, false);
        assert!((0..1000).all(|_| exempt.allow(at(local, 1), t0)));
        assert_eq!(
            (0..30)
                .filter(|_| exempt.allow(at([192, 0, 2, 1], 1), t0))
                .count(),
            20
        );
    }
}
