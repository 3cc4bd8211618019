//! The BEP 44 signing buffer and Ed25519 with ring.

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// What a mutable item's signature covers: `4:salt<len>:<salt>` (only with a salt), then
/// `3:seqi<seq>e1:v` and the bencoded value.
pub fn signing_buffer(salt: &[u8], seq: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(salt.len() + value.len() + 40);
    if !salt.is_empty() {
        out.extend_from_slice(format!("4:salt{}:", salt.len()).as_bytes());
        out.extend_from_slice(salt);
    }
    out.extend_from_slice(format!("3:seqi{seq}e1:v").as_bytes());
    out.extend_from_slice(value);
    out
}

/// Whether `signature` is `key`'s Ed25519 signature over `message`.
pub fn verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    UnparsedPublicKey::new(&ED25519, key)
        .verify(message, signature)
        .is_ok()
}

/// An Ed25519 signing key, from its 32-byte seed (the private key of BEP 44's examples).
pub struct SigningKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// The key whose seed is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        // Every 32-byte string is a valid Ed25519 seed; ring refuses only other lengths.
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .unwrap_or_else(|_| unreachable!("a 32-byte seed is always accepted"));
        SigningKey { seed, pair }
    }

    /// The seed, for saving the key.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        key
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut sig = [0u8; 64];
        sig.copy_from_slice(self.pair.sign(message).as_ref());
        sig
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        SigningKey::from_seed(self.seed)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the seed.
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_buffer_follows_bep44() {
        assert_eq!(
            signing_buffer(b"", 1, b"12:Hello World!"),
            b"3:seqi1e1:v12:Hello World!"
        );
        assert_eq!(
            signing_buffer(b"foobar", 1, b"12:Hello World!"),
            b"4:salt6:foobar3:seqi1e1:v12:Hello World!"
        );
    }

    #[test]
    fn bep44_test_vector_verifies() {
        // BEP 44, "test vector 1" (mutable, no salt).
        let key = hex32("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
        let sig = hex64(
            "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff\
             1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01",
        );
        let buffer = signing_buffer(b"", 1, b"12:Hello World!");
        assert!(verify(&key, &buffer, &sig));
        assert!(!verify(
            &key,
            &signing_buffer(b"", 2, b"12:Hello World!"),
            &sig
        ));
    }

    fn hex32(s: &str) -> [u8; 32] {
        hex(s).try_into().unwrap()
    }

    fn hex64(s: &str) -> [u8; 64] {
        hex(s).try_into().unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
