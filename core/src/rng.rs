//! Seeded generators, so the core draws no OS randomness and stays deterministic: a fast
//! PRNG (xoshiro256**) for what needs no secrecy, and keyed streams (SipHash-2-4 in counter
//! mode) derived per purpose from a 32-byte seed for what must not be guessed.

use crate::token::siphash24;

/// Deterministic pseudo-random generator seeded from the node's config.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the generator; equal seeds give equal streams.
    pub fn new(seed: u64) -> Self {
        // SplitMix64 expands the seed so that nearby seeds give unrelated states.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A value in `0..bound` (`bound` must be non-zero), without modulo bias worth caring about.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// 20 random bytes.
    pub fn bytes20(&mut self) -> [u8; 20] {
        let mut out = [0u8; 20];
        self.fill(&mut out);
        out
    }
}

/// Expands a 64-bit seed into a 32-byte one (SplitMix64), for nodes configured with `seed` only.
pub fn expand_seed(seed: u64) -> [u8; 32] {
    let mut rng = Rng::new(seed);
    let mut out = [0u8; 32];
    rng.fill(&mut out);
    out
}

/// A generator keyed with 128 secret bits: SipHash-2-4 of a counter. Unlike [`Rng`], its
/// outputs reveal nothing of its key or of its other outputs, so it serves what must not be
/// guessed (node ids, token secrets, transaction ids).
#[derive(Debug, Clone)]
pub struct KeyedStream {
    key: [u64; 2],
    counter: u64,
}

impl KeyedStream {
    /// The stream for `purpose` out of a 32-byte secret `seed`: the first half keys a SipHash
    /// of the purpose and the second half, so every purpose gets an unrelated key.
    pub fn derive(seed: &[u8; 32], purpose: &[u8]) -> Self {
        let half = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let master = [half(&seed[..8]), half(&seed[8..16])];
        let mut input = Vec::with_capacity(17 + purpose.len());
        input.extend_from_slice(&seed[16..]);
        input.extend_from_slice(purpose);
        input.push(0);
        let k0 = siphash24(master, &input);
        if let Some(last) = input.last_mut() {
            *last = 1;
        }
        let k1 = siphash24(master, &input);
        KeyedStream {
            key: [k0, k1],
            counter: 0,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let out = siphash24(self.key, &self.counter.to_le_bytes());
        self.counter = self.counter.wrapping_add(1);
        out
    }

    /// 20 random bytes.
    pub fn bytes20(&mut self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        out
    }

    /// A fast [`Rng`] seeded from this stream, for what needs no secrecy (jitter, offsets).
    pub fn rng(&mut self) -> Rng {
        Rng {
            s: [
                self.next_u64(),
                self.next_u64(),
                self.next_u64(),
                self.next_u64() | 1,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!((0..1000).all(|_| a.below(10) < 10));
    }

    #[test]
    fn keyed_streams_differ_by_purpose_and_seed() {
        let seed = expand_seed(7);
        let mut ids = KeyedStream::derive(&seed, b"id");
        let mut again = KeyedStream::derive(&seed, b"id");
        let mut tids = KeyedStream::derive(&seed, b"tid");
        let mut other = KeyedStream::derive(&expand_seed(8), b"id");
        let first = ids.next_u64();
        assert_eq!(first, again.next_u64());
        assert_ne!(first, tids.next_u64());
        assert_ne!(first, other.next_u64());
        assert_ne!(first, ids.next_u64());
    }
}
