//! Why a datagram could not be decoded, or a message could not be encoded.

use core::fmt;

/// Why a datagram is not a KRPC message we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The datagram ends inside a value (this includes string lengths that point past its end).
    Truncated,
    /// A byte that cannot start or continue a bencoded value here (including non-string
    /// dictionary keys and string lengths with leading zeros).
    InvalidSyntax,
    /// An integer that is empty, non-canonical (`i-0e`, `i03e`, `i+5e`) or outside `i64`.
    InvalidInteger,
    /// Lists and dictionaries nest deeper than [`MAX_DEPTH`](crate::krpc::MAX_DEPTH).
    TooDeep,
    /// Bytes follow the top-level dictionary.
    TrailingBytes,
    /// The datagram is not a bencoded dictionary.
    NotADict,
    /// A key the codec reads appears twice in one dictionary.
    DuplicateKey,
    /// A required field is missing.
    MissingField(&'static str),
    /// A field has the wrong type or size.
    InvalidField(&'static str),
    /// `y` is not `q`, `r` or `e`.
    UnknownMessageType,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated bencode"),
            DecodeError::InvalidSyntax => f.write_str("invalid bencode syntax"),
            DecodeError::InvalidInteger => f.write_str("invalid or out-of-range integer"),
            DecodeError::TooDeep => f.write_str("nesting too deep"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after the message"),
            DecodeError::NotADict => f.write_str("message is not a dictionary"),
            DecodeError::DuplicateKey => f.write_str("duplicate key"),
            DecodeError::MissingField(name) => write!(f, "missing field `{name}`"),
            DecodeError::InvalidField(name) => write!(f, "invalid field `{name}`"),
            DecodeError::UnknownMessageType => f.write_str("unknown message type `y`"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The caller's buffer is too small; nothing useful was written.
    BufferTooSmall,
    /// A [`PeerList::Raw`](crate::krpc::PeerList::Raw) body is not a sequence of well-formed
    /// bencode values.
    InvalidPeerList,
    /// A BEP 44 value (`v`) is not exactly one well-formed bencoded value.
    InvalidValue,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("buffer too small for the message"),
            EncodeError::InvalidPeerList => f.write_str("raw peer list is not a well-formed list"),
            EncodeError::InvalidValue => f.write_str("value is not one well-formed bencoded value"),
        }
    }
}

impl std::error::Error for EncodeError {}
