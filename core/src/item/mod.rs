//! BEP 44 items: immutable values stored under their SHA-1, and mutable values signed with an
//! Ed25519 key and stored under the SHA-1 of the key and an optional salt.
//!
//! A [`Value`] is one whole bencoded value of at most [`MAX_VALUE_LEN`] bytes, kept as it is
//! sent on the wire, so that the target (the SHA-1 of those bytes) and the signature stay
//! valid across implementations that order dictionary keys differently.

mod error;
mod signing;
mod value;

pub use error::ItemError;
pub use signing::{SigningKey, signing_buffer, verify};
pub use value::Value;

use crate::id::Id;
use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};

/// Longest value (its bencoded form), BEP 44's limit; a longer `put` gets error 205.
pub const MAX_VALUE_LEN: usize = 1000;
/// Longest salt, BEP 44's limit; a longer `put` gets error 207.
pub const MAX_SALT_LEN: usize = 64;

/// SHA-1 of the concatenation of `parts`.
fn sha1(parts: &[&[u8]]) -> Id {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    for part in parts {
        ctx.update(part);
    }
    let mut id = [0u8; 20];
    id.copy_from_slice(ctx.finish().as_ref());
    Id(id)
}

/// The target of an immutable item: SHA-1 of its bencoded value.
pub fn immutable_target(value: &[u8]) -> Id {
    sha1(&[value])
}

/// The target of a mutable item: SHA-1 of its public key followed by its salt.
pub fn mutable_target(key: &[u8; 32], salt: &[u8]) -> Id {
    sha1(&[key, salt])
}

/// A signed mutable item. Constructed only with a valid signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableItem {
    key: [u8; 32],
    salt: Vec<u8>,
    seq: i64,
    value: Value,
    signature: [u8; 64],
}

impl MutableItem {
    /// Signs `value` under `key` with `salt` (empty for none) and sequence number `seq`.
    pub fn sign(key: &SigningKey, salt: &[u8], seq: i64, value: Value) -> Result<Self, ItemError> {
        if salt.len() > MAX_SALT_LEN {
            return Err(ItemError::SaltTooBig);
        }
        let signature = key.sign(&signing_buffer(salt, seq, value.as_bytes()));
        Ok(MutableItem {
            key: key.public_key(),
            salt: salt.to_vec(),
            seq,
            value,
            signature,
        })
    }

    /// An item received from the network: checked for the salt's length and the signature.
    pub fn from_parts(
        key: [u8; 32],
        salt: &[u8],
        seq: i64,
        value: Value,
        signature: [u8; 64],
    ) -> Result<Self, ItemError> {
        if salt.len() > MAX_SALT_LEN {
            return Err(ItemError::SaltTooBig);
        }
        if !verify(
            &key,
            &signing_buffer(salt, seq, value.as_bytes()),
            &signature,
        ) {
            return Err(ItemError::InvalidSignature);
        }
        Ok(MutableItem {
            key,
            salt: salt.to_vec(),
            seq,
            value,
            signature,
        })
    }

    /// The Ed25519 public key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The salt (empty when none).
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The sequence number.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// Where the item is stored: SHA-1 of key and salt.
    pub fn target(&self) -> Id {
        mutable_target(&self.key, &self.salt)
    }
}

/// A BEP 44 item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Stored under the SHA-1 of its value.
    Immutable(Value),
    /// Stored under the SHA-1 of its key and salt.
    Mutable(MutableItem),
}

impl Item {
    /// Where the item is stored.
    pub fn target(&self) -> Id {
        match self {
            Item::Immutable(value) => immutable_target(value.as_bytes()),
            Item::Mutable(item) => item.target(),
        }
    }

    /// The value.
    pub fn value(&self) -> &Value {
        match self {
            Item::Immutable(value) => value,
            Item::Mutable(item) => &item.value,
        }
    }

    /// The sequence number of a mutable item.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Item::Immutable(_) => None,
            Item::Mutable(item) => Some(item.seq),
        }
    }

    /// Bytes the item takes in storage (value and salt).
    pub(crate) fn stored_len(&self) -> usize {
        match self {
            Item::Immutable(value) => value.as_bytes().len(),
            Item::Mutable(item) => item.value.as_bytes().len() + item.salt.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_target_is_the_sha1_of_the_bencoded_value() {
        // BEP 44's test vector: "12:Hello World!".
        let target = immutable_target(b"12:Hello World!");
        assert_eq!(
            target,
            Id::from_hex("e5f96f6f38320f0f33959cb4d3d656452117aadb").unwrap()
        );
    }

    #[test]
    fn a_signed_item_verifies_and_a_changed_one_does_not() {
        let key = SigningKey::from_seed([7; 32]);
        let value = Value::string(b"hello").unwrap();
        let item = MutableItem::sign(&key, b"salt", 3, value.clone()).unwrap();
        let parts = |seq, salt: &[u8], value: Value| {
            MutableItem::from_parts(*item.key(), salt, seq, value, *item.signature())
        };
        assert_eq!(parts(3, b"salt", value.clone()), Ok(item.clone()));
        assert_eq!(
            parts(4, b"salt", value.clone()),
            Err(ItemError::InvalidSignature)
        );
        assert_eq!(
            parts(3, b"", value.clone()),
            Err(ItemError::InvalidSignature)
        );
        let other = Value::string(b"hellp").unwrap();
        assert_eq!(parts(3, b"salt", other), Err(ItemError::InvalidSignature));
        assert_eq!(parts(3, &[0; 65], value), Err(ItemError::SaltTooBig));
        assert_eq!(item.target(), mutable_target(&key.public_key(), b"salt"));
    }
}
