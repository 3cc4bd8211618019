//! Inbound query rate limiting per source IP: a token bucket per IP in a fixed-size table.
//!
//! Bound: [`SLOTS`] buckets, whatever the number of sources. IPs that hash to the same slot
//! take it over from each other, which only ever makes the limit more lenient, never stricter.

use crate::token::siphash24;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Number of buckets.
pub const SLOTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Slot {
    ip: Ipv4Addr,
    tokens: f64,
    last: Instant,
}

/// Per-IP token buckets.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    key: [u64; 2],
    rate: f64,
    burst: f64,
    slots: Vec<Option<Slot>>,
}

impl RateLimiter {
    /// Allows `rate` queries per second per IP on average and bursts of `burst`; a zero rate
    /// turns limiting off.
    pub fn new(key: [u64; 2], rate: u32, burst: u32) -> Self {
        let slots = if rate == 0 {
            Vec::new()
        } else {
            vec![None; SLOTS]
        };
        RateLimiter {
            key,
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            slots,
        }
    }

    /// Whether a query from `ip` at `now` is within its budget (and spends one token if so).
    pub fn allow(&mut self, ip: Ipv4Addr, now: Instant) -> bool {
        if self.slots.is_empty() || ip.is_loopback() {
            // Loopback is the operator's own machine: local test networks share one IP.
            return true;
        }
        let index = (siphash24(self.key, &ip.octets()) % SLOTS as u64) as usize;
        let slot = &mut self.slots[index];
        let current = match slot {
            Some(s) if s.ip == ip => s,
            _ => slot.insert(Slot {
                ip,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new([1, 2], 10, 20);
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!((0..30).filter(|_| limiter.allow(ip, t0)).count(), 20);
        assert!(
            limiter.allow(Ipv4Addr::new(192, 0, 2, 2), t0),
            "other IPs unaffected"
        );
        let later = t0 + Duration::from_millis(500);
        assert_eq!((0..30).filter(|_| limiter.allow(ip, later)).count(), 5);
        assert!(limiter.allow(Ipv4Addr::LOCALHOST, t0));
        let mut off = RateLimiter::new([1, 2], 0, 0);
        assert!((0..1000).all(|_| off.allow(ip, t0)));
    }
}
