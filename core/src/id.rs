//! 160-bit identifiers: node ids and info hashes share one keyspace and one XOR metric.

use core::fmt;

/// A 160-bit Kademlia key: a node id or an info hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Id(pub [u8; 20]);

/// A node's id.
pub type NodeId = Id;
/// A torrent's (or service's) info hash.
pub type InfoHash = Id;

/// Length of an [`Id`] in bytes.
pub const ID_LEN: usize = 20;

impl Id {
    /// The all-zero id.
    pub const ZERO: Id = Id([0; 20]);

    /// Builds an id from a slice that must be exactly 20 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Id> {
        <[u8; 20]>::try_from(bytes).ok().map(Id)
    }

    /// Parses 40 hexadecimal characters (either case).
    pub fn from_hex(text: &str) -> Option<Id> {
        let text = text.as_bytes();
        if text.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in text.chunks_exact(2).enumerate() {
            out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Id(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The XOR distance to `other` as two big-endian words, ordered as [`Id::distance`] is
    /// but compared in two integer comparisons instead of a byte-wise one.
    pub fn distance_key(&self, other: &Id) -> (u128, u32) {
        let (high, low) = self.words();
        let (other_high, other_low) = other.words();
        (high ^ other_high, low ^ other_low)
    }

    fn words(&self) -> (u128, u32) {
        let mut high = [0u8; 16];
        let mut low = [0u8; 4];
        high.copy_from_slice(&self.0[..16]);
        low.copy_from_slice(&self.0[16..]);
        (u128::from_be_bytes(high), u32::from_be_bytes(low))
    }

    /// XOR distance to `other`, itself an id-sized number (compare with `Ord`).
    pub fn distance(&self, other: &Id) -> Id {
        let mut out = [0u8; 20];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        Id(out)
    }

    /// Number of leading zero bits (160 for the zero id).
    pub fn leading_zeros(&self) -> u32 {
        let mut zeros = 0;
        for byte in self.0 {
            if byte == 0 {
                zeros += 8;
            } else {
                return zeros + byte.leading_zeros();
            }
        }
        zeros
    }

    /// Length of the common prefix of `self` and `other` in bits.
    pub fn common_prefix_len(&self, other: &Id) -> u32 {
        self.distance(other).leading_zeros()
    }

    /// The bit at `index` (0 is the most significant bit).
    pub fn bit(&self, index: u32) -> bool {
        let index = index as usize;
        index < 160 && (self.0[index / 8] >> (7 - index % 8)) & 1 == 1
    }

    /// An id that shares the first `prefix_len` bits with `self` and is random after them.
    pub fn random_with_prefix(&self, prefix_len: u32, random: [u8; 20]) -> Id {
        let mut out = random;
        for i in 0..prefix_len.min(160) {
            let (byte, shift) = ((i / 8) as usize, 7 - i % 8);
            out[byte] = (out[byte] & !(1 << shift)) | (self.0[byte] & (1 << shift));
        }
        Id(out)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl From<[u8; 20]> for Id {
    fn from(bytes: [u8; 20]) -> Self {
        Id(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_key_orders_as_the_distance() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut random_id = || {
            let mut id = [0u8; 20];
            for b in &mut id {
                *b = next() as u8;
            }
            Id(id)
        };
        let target = random_id();
        for _ in 0..2_000 {
            let (a, mut b) = (random_id(), random_id());
            // Share a prefix now and then, so that the low word decides.
            if a.0[0] & 1 == 0 {
                b.0[..16].copy_from_slice(&a.0[..16]);
            }
            assert_eq!(
                a.distance(&target).cmp(&b.distance(&target)),
                a.distance_key(&target).cmp(&b.distance_key(&target)),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let id = Id::from_hex("0123456789abcdefABCDEF0123456789abcdef01").unwrap();
        assert_eq!(id.to_string(), "0123456789abcdefabcdef0123456789abcdef01");
        assert!(Id::from_hex("0123").is_none());
        assert!(Id::from_hex("g123456789abcdefABCDEF0123456789abcdef01").is_none());
    }

    #[test]
    fn distance_and_prefix() {
        let a = Id([0xff; 20]);
        let mut b = a;
        b.0[2] = 0x7f;
        assert_eq!(a.common_prefix_len(&b), 16);
        assert_eq!(a.distance(&a).leading_zeros(), 160);
        assert!(a.bit(0) && !b.bit(16) && b.bit(17));
        let r = a.random_with_prefix(13, [0; 20]);
        assert_eq!(r.common_prefix_len(&a), 13);
    }
}
