//! Round-trip time estimates in the manner of RFC 6298: a smoothed RTT and its mean deviation,
//! from which a lookup's short timeout is derived.

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

    /// When a reply is late enough to stop waiting for it: SRTT + 4 RTTVAR, within `min..=max`.
    pub fn timeout(&self, min: Duration, max: Duration) -> Duration {
        (self.srtt + self.rttvar * 4).clamp(min, max.max(min))
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
