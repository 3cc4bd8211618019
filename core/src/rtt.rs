//! Round-trip time estimates in the manner of RFC 6298: a smoothed RTT and its mean deviation,
//! from which a lookup's short timeout is derived.
//!
//! Unlike TCP's, these samples come from many hosts and a heavy tail of them is very late (a
//! few percent of datagrams on a real network arrive seconds after the rest). Folded in as
//! they are, each late sample would push the timeout to its upper bound for the next several
//! requests. So [`RttEstimate::fold_bounded`] leaves out samples beyond that bound (they could
//! only drive the timeout to it) and counts a sample beyond twice the current timeout as twice
//! the timeout: one outlier moves the estimate a little, while a network that really slows down
//! still doubles the timeout's reach with every few samples.
//!
//! A node never measured gets the timeout of everyone's answers, and there SRTT + 4 RTTVAR is
//! the wrong statistic: the samples mix hosts 20 ms and 200 ms away, so the deviation measures
//! the spread between hosts, and the sum lands well past the slowest of them. [`RttQuantile`]
//! follows a high quantile of the samples instead: the time by which nearly every answer has
//! come.

use std::time::Duration;

/// A smoothed round-trip time and its variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimate {
    /// Smoothed round-trip time (SRTT).
    pub srtt: Duration,
    /// Mean deviation of the samples (RTTVAR).
    pub rttvar: Duration,
}

impl RttEstimate {
    /// The estimate after a first sample.
    pub fn new(sample: Duration) -> Self {
        RttEstimate {
            srtt: sample,
            rttvar: sample / 2,
        }
    }

    /// Folds in one more sample (gains 1/8 and 1/4, as RFC 6298).
    pub fn update(&mut self, sample: Duration) {
        let deviation = self.srtt.abs_diff(sample);
        self.rttvar = (self.rttvar * 3 + deviation) / 4;
        self.srtt = (self.srtt * 7 + sample) / 8;
    }

    /// Folds a sample into `estimate`, starting it if there is none.
    pub fn fold(estimate: &mut Option<Self>, sample: Duration) {
        match estimate {
            Some(e) => e.update(sample),
            None => *estimate = Some(Self::new(sample)),
        }
    }

    /// Folds a sample into `estimate` as the short timeout within `min..=max` should see it
    /// (see the module docs): left out beyond `max`, capped at twice the current timeout.
    pub fn fold_bounded(
        estimate: &mut Option<Self>,
        sample: Duration,
        min: Duration,
        max: Duration,
    ) {
        if sample > max {
            return;
        }
        let sample = estimate.map_or(sample, |e| sample.min(e.timeout(min, max) * 2));
        Self::fold(estimate, sample);
    }

    /// When a reply is late enough to stop waiting for it: SRTT + 4 RTTVAR, within `min..=max`.
    pub fn timeout(&self, min: Duration, max: Duration) -> Duration {
        (self.srtt + self.rttvar * 4).clamp(min, max.max(min))
    }
}

/// A running estimate of the [`RttQuantile::QUANTILE`] quantile of round-trip times, by
/// stochastic approximation: each sample above the estimate raises it by a fixed fraction,
/// each one below lowers it by a fraction so much smaller that the two balance where that
/// share of the samples lies below. An outlier of any size moves it by the same small step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttQuantile {
    /// The estimate.
    pub value: Duration,
}

impl RttQuantile {
    /// The quantile followed: 98 % of answers come by then.
    pub const QUANTILE: f64 = 0.98;
    /// Step of a sample above the estimate: value * UP / SCALE (gain 1/16 times the quantile).
    const UP: u128 = 49;
    /// Step of a sample below it: value * DOWN / SCALE (gain 1/16 times one minus the quantile).
    const DOWN: u128 = 1;
    const SCALE: u128 = 800;

    /// Folds in a sample; samples beyond `max` are left out (as in
    /// [`RttEstimate::fold_bounded`]). The first sample starts the estimate at twice its value.
    pub fn fold(estimate: &mut Option<Self>, sample: Duration, max: Duration) {
        if sample > max {
            return;
        }
        let Some(e) = estimate else {
            *estimate = Some(RttQuantile { value: sample * 2 });
            return;
        };
        let nanos = e.value.as_nanos();
        let nanos = if sample > e.value {
            nanos + (nanos * Self::UP / Self::SCALE).max(1)
        } else {
            nanos - nanos * Self::DOWN / Self::SCALE
        };
        e.value = Duration::from_nanos(nanos.min(u64::MAX as u128) as u64);
    }

    /// The estimate within `min..=max`.
    pub fn timeout(&self, min: Duration, max: Duration) -> Duration {
        self.value.clamp(min, max.max(min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steady_samples_converge_and_the_timeout_follows() {
        let mut e = RttEstimate::new(ms(100));
        assert_eq!(e.timeout(ms(0), ms(10_000)), ms(300));
        for _ in 0..64 {
            e.update(ms(40));
        }
        assert!(e.srtt.abs_diff(ms(40)) < ms(1), "{e:?}");
        assert!(e.rttvar < ms(1), "{e:?}");
        assert_eq!(e.timeout(ms(50), ms(1000)), ms(50));
    }

    #[test]
    fn a_tail_of_late_samples_does_not_hold_the_timeout_at_its_bound() {
        let (min, max) = (ms(50), ms(1000));
        let mut bounded = None;
        let mut plain = None;
        let mut worst_bounded = Duration::ZERO;
        let mut worst_plain = Duration::ZERO;
        for i in 0..200u64 {
            // 80-140 ms, and one answer in 25 two seconds late.
            let sample = if i % 25 == 24 {
                ms(2000)
            } else {
                ms(80 + (i * 37) % 61)
            };
            RttEstimate::fold_bounded(&mut bounded, sample, min, max);
            RttEstimate::fold(&mut plain, sample);
            if i >= 50 {
                worst_bounded = worst_bounded.max(bounded.unwrap().timeout(min, max));
                worst_plain = worst_plain.max(plain.unwrap().timeout(min, max));
            }
        }
        assert!(worst_bounded < ms(300), "{worst_bounded:?}");
        assert_eq!(
            worst_plain, max,
            "folded as they are, late samples reach the bound"
        );
    }

    #[test]
    fn a_network_that_slows_down_is_followed() {
        let (min, max) = (ms(50), ms(1000));
        let mut e = None;
        for _ in 0..32 {
            RttEstimate::fold_bounded(&mut e, ms(20), min, max);
        }
        assert_eq!(e.unwrap().timeout(min, max), min);
        let mut samples = 0;
        while e.unwrap().timeout(min, max) < ms(800) {
            RttEstimate::fold_bounded(&mut e, ms(800), min, max);
            samples += 1;
            assert!(samples < 40, "still {:?}", e.unwrap().timeout(min, max));
        }
    }

    #[test]
    fn the_quantile_settles_where_its_share_of_samples_lies_below() {
        let max = ms(1000);
        let mut q = None;
        // Uniform over 20..=200 ms (a spread of hosts), with one sample in 25 late past `max`.
        let mut x = 1u64;
        let mut draw = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for i in 0..20_000u64 {
            let sample = if i % 25 == 24 {
                ms(2000)
            } else {
                ms(20 + draw() % 181)
            };
            RttQuantile::fold(&mut q, sample, max);
        }
        let value = q.unwrap().value;
        // The 98th percentile of 20..=200 ms is 196 ms; SRTT + 4 RTTVAR of the same samples is
        // about 290 ms.
        assert!(value > ms(180) && value < ms(210), "{value:?}");
        let mut plain = None;
        for i in 0..20_000u64 {
            let sample = ms(20 + (i * 7919) % 181);
            RttEstimate::fold(&mut plain, sample);
        }
        assert!(plain.unwrap().timeout(ms(0), max) > ms(250), "{plain:?}");
    }

    #[test]
    fn the_quantile_follows_a_network_that_slows_down() {
        let max = ms(1000);
        let mut q = None;
        for _ in 0..200 {
            RttQuantile::fold(&mut q, ms(50), max);
        }
        assert!(q.unwrap().value <= ms(100), "{q:?}");
        let mut samples = 0;
        while q.unwrap().value < ms(400) {
            RttQuantile::fold(&mut q, ms(400), max);
            samples += 1;
            assert!(samples < 100, "{q:?}");
        }
    }

    #[test]
    fn variation_widens_the_timeout_and_the_bounds_hold() {
        let mut e = RttEstimate::new(ms(50));
        for i in 0..32 {
            e.update(if i % 2 == 0 { ms(20) } else { ms(200) });
        }
        let t = e.timeout(ms(10), ms(10_000));
        assert!(t > ms(200), "{t:?} from {e:?}");
        assert_eq!(e.timeout(ms(10), ms(150)), ms(150));
        assert_eq!(RttEstimate::new(ms(1)).timeout(ms(25), ms(10)), ms(25));
    }
}
