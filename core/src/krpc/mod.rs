//! The KRPC codec: zero-copy, allocation-free decoding of BEP 5 messages and encoding into a
//! caller's buffer with sorted keys.
//!
//! ```
//! use tokengo_core::krpc::{Body, Message, Query};
//!
//! let datagram = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
//! let message = Message::decode(datagram).unwrap();
//! assert_eq!(message.transaction_id, b"aa");
//! assert!(matches!(message.body, Body::Query(Query::Ping { .. })));
//!
//! let mut buf = [0u8; 1500];
//! let len = message.encode(&mut buf).unwrap();
//! assert_eq!(&buf[..len], datagram);
//! ```

mod decode;
mod encode;
mod error;
mod message;
mod reader;

pub use decode::decode;
pub(crate) use encode::{compact, is_one_value};
pub use error::{DecodeError, EncodeError};
pub use message::*;
pub use reader::MAX_DEPTH;
