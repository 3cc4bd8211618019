//! The KRPC codec: zero-copy, allocation-free decoding of BEP 5 messages and encoding into a
//! caller's buffer with sorted keys.

mod message;

pub use message::*;
