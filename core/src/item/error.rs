//! Why an item could not be built.

use core::fmt;

/// Why a value or an item is not a valid BEP 44 item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemError {
    /// The bencoded value is longer than [`MAX_VALUE_LEN`](super::MAX_VALUE_LEN) (error 205).
    ValueTooBig,
    /// The bytes are not exactly one well-formed bencoded value.
    NotBencoded,
    /// The salt is longer than [`MAX_SALT_LEN`](super::MAX_SALT_LEN) (error 207).
    SaltTooBig,
    /// The signature does not verify under the key (error 206).
    InvalidSignature,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemError::ValueTooBig => "value longer than 1000 bytes",
            ItemError::NotBencoded => "value is not one bencoded value",
            ItemError::SaltTooBig => "salt longer than 64 bytes",
            ItemError::InvalidSignature => "invalid signature",
        })
    }
}

impl std::error::Error for ItemError {}
