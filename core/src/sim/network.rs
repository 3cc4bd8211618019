//! The simulated network's conditions: per-link latency, jitter, loss, duplication, reordering,
//! a heavy tail of late datagrams and slow nodes, all drawn from the simulation's seed.

use super::seed::mix;
use crate::rng::Rng;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Conditions of the simulated network. Every link gets a fixed one-way latency drawn once (from
/// the seed and the two addresses) out of `one_way_latency`; every datagram then adds `jitter`,
/// may be lost, duplicated, or held back by up to `reorder_delay` so that later datagrams on the
/// same link overtake it; a few (`late`) arrive very late, and everything a slow node sends
/// waits `slow_delay` more.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Range of the per-link one-way latency (the RTT is twice this).
    pub one_way_latency: RangeInclusive<Duration>,
    /// Extra per-datagram latency, uniform in `0..=jitter`.
    pub jitter: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice (each copy with its own jitter).
    pub duplicate: f64,
    /// Probability that a datagram is held back by up to `reorder_delay`.
    pub reorder: f64,
    /// Largest extra delay of a held-back datagram.
    pub reorder_delay: Duration,
    /// Probability that a datagram is late: a heavy tail beyond every timeout's comfort.
    pub late: f64,
    /// Extra delay of a late datagram, uniform in this range.
    pub late_delay: RangeInclusive<Duration>,
    /// Share of the addresses that are slow nodes (chosen once per address from the seed).
    pub slow: f64,
    /// Extra delay of every datagram a slow node sends (it answers slowly).
    pub slow_delay: Duration,
}

impl Default for NetConfig {
    /// A clean LAN-like network: 1-5 ms one way, nothing lost, duplicated or reordered.
    fn default() -> Self {
        NetConfig {
            one_way_latency: Duration::from_millis(1)..=Duration::from_millis(5),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            late: 0.0,
            late_delay: Duration::ZERO..=Duration::ZERO,
            slow: 0.0,
            slow_delay: Duration::ZERO,
        }
    }
}

impl NetConfig {
    /// Links with a round-trip time between `min` and `max` (halved into one-way latencies).
    pub fn with_rtt(mut self, min: Duration, max: Duration) -> Self {
        self.one_way_latency = min / 2..=max / 2;
        self
    }

    /// Loses each datagram with probability `loss`.
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// Duplicates each datagram with probability `duplicate`.
    pub fn with_duplication(mut self, duplicate: f64) -> Self {
        self.duplicate = duplicate;
        self
    }

    /// Holds back each datagram with probability `reorder`, by up to `delay`.
    pub fn with_reordering(mut self, reorder: f64, delay: Duration) -> Self {
        self.reorder = reorder;
        self.reorder_delay = delay;
        self
    }

    /// Delays each datagram with probability `late` by an extra amount drawn from `delay`.
    pub fn with_late_tail(mut self, late: f64, delay: RangeInclusive<Duration>) -> Self {
        self.late = late;
        self.late_delay = delay;
        self
    }

    /// Makes a `share` of the nodes slow: what they send waits `delay` more.
    pub fn with_slow_nodes(mut self, share: f64, delay: Duration) -> Self {
        self.slow = share;
        self.slow_delay = delay;
        self
    }

    /// Adds up to `jitter` to each datagram.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
}

/// What happens to one datagram: the delays after which its copies arrive (none: lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Lost,
    Delivered { delay: Duration, reordered: bool },
    Duplicated { first: Duration, second: Duration },
}

/// Draws the fate of datagrams from the seed and the network conditions.
#[derive(Debug, Clone)]
pub(crate) struct NetModel {
    config: NetConfig,
    link_seed: u64,
    rng: Rng,
}

impl NetModel {
    pub(crate) fn new(config: NetConfig, seed: u64) -> Self {
        NetModel {
            config,
            link_seed: mix(seed, 0x6c69_6e6b),
            rng: Rng::new(mix(seed, 0x006e_6574)),
        }
    }

    pub(crate) fn config(&self) -> &NetConfig {
        &self.config
    }

    pub(crate) fn set_config(&mut self, config: NetConfig) {
        self.config = config;
    }

    /// The fixed one-way latency of the link between `a` and `b` (the same in both directions).
    pub(crate) fn link_latency(&self, a: SocketAddr, b: SocketAddr) -> Duration {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let hash = mix(mix(self.link_seed, addr_key(lo)), addr_key(hi));
        let (min, max) = (
            *self.config.one_way_latency.start(),
            *self.config.one_way_latency.end(),
        );
        let span = max.saturating_sub(min).as_nanos().min(u64::MAX as u128) as u64;
        min + Duration::from_nanos(if span == 0 { 0 } else { hash % (span + 1) })
    }

    /// Decides what happens to one datagram from `from` to `to`.
    pub(crate) fn fate(&mut self, from: SocketAddr, to: SocketAddr) -> Fate {
        if self.rng.chance(self.config.loss) {
            return Fate::Lost;
        }
        let base = self.link_latency(from, to) + self.sender_delay(from);
        let (first, reordered) = self.one_delay(base);
        if self.rng.chance(self.config.duplicate) {
            let (second, _) = self.one_delay(base);
            return Fate::Duplicated { first, second };
        }
        Fate::Delivered {
            delay: first,
            reordered,
        }
    }

    /// Whether `addr` is a slow node.
    pub(crate) fn is_slow(&self, addr: SocketAddr) -> bool {
        let hash = mix(mix(self.link_seed, 0x736c_6f77), addr_key(addr));
        (hash >> 11) as f64 / (1u64 << 53) as f64 <= self.config.slow && self.config.slow > 0.0
    }

    fn sender_delay(&self, from: SocketAddr) -> Duration {
        if self.config.slow > 0.0 && self.is_slow(from) {
            self.config.slow_delay
        } else {
            Duration::ZERO
        }
    }

    fn one_delay(&mut self, base: Duration) -> (Duration, bool) {
        let mut delay = base + self.uniform(self.config.jitter);
        if self.config.late > 0.0 && self.rng.chance(self.config.late) {
            let (lo, hi) = (
                *self.config.late_delay.start(),
                *self.config.late_delay.end(),
            );
            delay += lo + self.uniform(hi.saturating_sub(lo));
        }
        let reordered = self.rng.chance(self.config.reorder);
        if reordered {
            delay += self.uniform(self.config.reorder_delay);
        }
        (delay, reordered)
    }

    fn uniform(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u64::MAX as u128 - 1) as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.below(nanos + 1))
        }
    }
}

fn addr_key(addr: SocketAddr) -> u64 {
    match addr {
        SocketAddr::V4(v4) => (u64::from(v4.ip().to_bits()) << 16) | u64::from(v4.port()),
        SocketAddr::V6(v6) => {
            let bits = v6.ip().to_bits();
            mix((bits >> 64) as u64, bits as u64) ^ u64::from(v6.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 6881))
    }

    #[test]
    fn link_latency_is_symmetric_fixed_and_in_range() {
        let config =
            NetConfig::default().with_rtt(Duration::from_millis(20), Duration::from_millis(200));
        let model = NetModel::new(config, 9);
        let mut seen = std::collections::HashSet::new();
        for i in 1..50 {
            let lat = model.link_latency(addr(0), addr(i));
            assert_eq!(lat, model.link_latency(addr(i), addr(0)));
            assert!(
                lat >= Duration::from_millis(10) && lat <= Duration::from_millis(100),
                "{lat:?}"
            );
            seen.insert(lat);
        }
        assert!(seen.len() > 40, "latencies should vary per link");
    }

    #[test]
    fn loss_and_duplication_rates_follow_the_config() {
        let config = NetConfig::default().with_loss(0.2).with_duplication(0.1);
        let mut model = NetModel::new(config, 3);
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..100_000 {
            match model.fate(addr(1), addr(2)) {
                Fate::Lost => lost += 1,
                Fate::Duplicated { .. } => dup += 1,
                Fate::Delivered { .. } => {}
            }
        }
        assert!((19_000..21_000).contains(&lost), "lost {lost}");
        assert!((7_500..8_500).contains(&dup), "duplicated {dup}");
    }

    #[test]
    fn a_late_tail_and_slow_nodes_follow_the_config() {
        let (lo, hi) = (Duration::from_secs(1), Duration::from_secs(3));
        let config = NetConfig::default()
            .with_late_tail(0.02, lo..=hi)
            .with_slow_nodes(0.1, Duration::from_millis(300));
        let mut model = NetModel::new(config, 5);
        let slow: Vec<u8> = (1..=250).filter(|&i| model.is_slow(addr(i))).collect();
        assert!((10..45).contains(&slow.len()), "{} slow", slow.len());
        let fast = (1..=250)
            .find(|&i| !model.is_slow(addr(i)))
            .expect("a fast node");
        let base = model.link_latency(addr(fast), addr(0));
        let mut late = 0;
        for _ in 0..10_000 {
            if let Fate::Delivered { delay, .. } = model.fate(addr(fast), addr(0))
                && delay > base
            {
                assert!(delay >= base + lo && delay <= base + hi, "{delay:?}");
                late += 1;
            }
        }
        assert!((150..250).contains(&late), "{late} late");
        let from_slow = model.fate(addr(slow[0]), addr(0));
        let base = model.link_latency(addr(slow[0]), addr(0));
        assert!(
            matches!(from_slow, Fate::Delivered { delay, .. } if delay >= base + Duration::from_millis(300)),
            "{from_slow:?}"
        );
    }

    #[test]
    fn reordering_delays_within_bound() {
        let config = NetConfig::default().with_reordering(0.5, Duration::from_millis(50));
        let mut model = NetModel::new(config, 4);
        let base = model.link_latency(addr(1), addr(2));
        let mut held = 0;
        for _ in 0..1000 {
            if let Fate::Delivered { delay, reordered } = model.fate(addr(1), addr(2)) {
                assert!(delay >= base && delay <= base + Duration::from_millis(50));
                held += usize::from(reordered);
            }
        }
        assert!((400..600).contains(&held), "held back {held}");
    }
}
