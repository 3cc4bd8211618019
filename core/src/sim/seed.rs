//! Where a simulation's seed comes from, and how a failing seed is reported for replay.

/// The environment variable that overrides a simulation's seed.
pub const SEED_VAR: &str = "SEED";

/// The seed to run with: `SEED` from the environment when it is set and parses as a `u64`
/// (decimal, or hexadecimal with a `0x` prefix), otherwise `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|text| parse_seed(&text))
        .unwrap_or(default)
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Prints `SEED=<n>` to stderr if it is dropped while the thread panics, so that a failed test
/// names the seed that replays it. Hold one for the length of a test.
#[derive(Debug)]
pub struct SeedGuard {
    seed: u64,
    label: &'static str,
}

impl SeedGuard {
    /// Guards `seed`; `label` names the scenario in the message.
    pub fn new(seed: u64, label: &'static str) -> Self {
        SeedGuard { seed, label }
    }

    /// The guarded seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{}: failed with SEED={} (replay with SEED={} cargo test ...)",
                self.label, self.seed, self.seed
            );
        }
    }
}

/// Mixes `value` into `seed` (SplitMix64's finaliser): unrelated outputs for nearby inputs.
pub(crate) fn mix(seed: u64, value: u64) -> u64 {
    let mut z = seed ^ value.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2a "), Some(42));
        assert_eq!(parse_seed("x"), None);
        assert_eq!(parse_seed("-1"), None);
    }

    #[test]
    fn mix_separates_neighbours() {
        assert_ne!(mix(1, 2), mix(1, 3));
        assert_ne!(mix(1, 2), mix(2, 2));
        assert_eq!(mix(5, 6), mix(5, 6));
    }
}
