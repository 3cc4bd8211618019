//! Write tokens: a keyed hash (SipHash-2-4) of the requester's IP under a secret that rotates
//! every `token_rotation`; tokens under the previous secret stay valid for one more period.

use crate::rng::KeyedStream;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Length of the tokens we hand out.
pub const TOKEN_LEN: usize = 8;

/// The two live secrets and when to rotate them.
#[derive(Debug, Clone)]
pub struct Tokens {
    current: [u64; 2],
    previous: [u64; 2],
    rotation: Duration,
    next_rotation: Instant,
}

impl Tokens {
    /// Fresh secrets drawn from `rng`.
    pub fn new(rng: &mut KeyedStream, rotation: Duration, now: Instant) -> Self {
        let current = [rng.next_u64(), rng.next_u64()];
        let previous = [rng.next_u64(), rng.next_u64()];
        Tokens {
            current,
            previous,
            rotation,
            next_rotation: now + rotation,
        }
    }

    /// When the secret rotates next.
    pub fn next_rotation(&self) -> Instant {
        self.next_rotation
    }

    /// Rotates the secret if it is due.
    pub fn handle_timeout(&mut self, rng: &mut KeyedStream, now: Instant) {
        while now >= self.next_rotation {
            self.previous = self.current;
            self.current = [rng.next_u64(), rng.next_u64()];
            self.next_rotation += self.rotation;
        }
    }

    /// The token for `ip` under the current secret.
    pub fn issue(&self, ip: IpAddr) -> [u8; TOKEN_LEN] {
        keyed(self.current, ip).to_le_bytes()
    }

    /// Whether `token` was issued to `ip` under the current or the previous secret.
    pub fn verify(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == keyed(self.current, ip).to_le_bytes()
            || token == keyed(self.previous, ip).to_le_bytes()
    }
}

/// The hash a token is: of the IP's 4 or 16 bytes under `secret`.
fn keyed(secret: [u64; 2], ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => siphash24(secret, &v4.octets()),
        IpAddr::V6(v6) => siphash24(secret, &v6.octets()),
    }
}

/// SipHash-2-4 of `data` under `key`.
pub(crate) fn siphash24(key: [u64; 2], data: &[u8]) -> u64 {
    let mut v = [
        key[0] ^ 0x736f_6d65_7073_6575,
        key[1] ^ 0x646f_7261_6e64_6f6d,
        key[0] ^ 0x6c79_6765_6e65_7261,
        key[1] ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let m = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_reference_vector() {
        // The SipHash paper's test vector: key 00..0f, message 00..0e.
        let key = [
            u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]),
            u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]),
        ];
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn tokens_rotate_and_previous_stays_valid() {
        let mut rng = KeyedStream::derive(&[1; 32], b"token");
        let t0 = Instant::now();
        let period = Duration::from_secs(300);
        let mut tokens = Tokens::new(&mut rng, period, t0);
        let ip = std::net::Ipv4Addr::new(10, 0, 0, 1).into();
        let token = tokens.issue(ip);
        assert!(tokens.verify(ip, &token));
        assert!(!tokens.verify(std::net::Ipv4Addr::new(10, 0, 0, 2).into(), &token));
        tokens.handle_timeout(&mut rng, t0 + period);
        assert!(tokens.verify(ip, &token), "previous secret still accepted");
        tokens.handle_timeout(&mut rng, t0 + period * 2);
        assert!(!tokens.verify(ip, &token), "two rotations later it expires");
        assert!(!tokens.verify(ip, b"short"));
    }
}
