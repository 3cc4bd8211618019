//! Framing of messages on QUIC bidirectional streams.
//!
//! Every message is `type (u8) | target length (u16 BE) | target | payload length (u32 BE) | payload`.
//! Limits ([`MAX_TARGET_LEN`], [`MAX_PAYLOAD_LEN`]) are enforced when encoding and when decoding.
//!
//! There is one header parser, [`parse_header`]: [`Frame::decode`] uses it on a whole buffer,
//! and a stream reader uses it on the bytes it has so far, reading exactly as many more as the
//! parser asks for ([`HeaderParse::Incomplete`]). A reader never trusts a claimed payload length:
//! it grows its buffer only as bytes actually arrive.

/// Largest target (an exit's pubKeyHash is 32 bytes; the room above is for future addressing).
pub const MAX_TARGET_LEN: usize = 1024;
/// Largest payload of one message: 16 MiB.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// Fixed part of a frame: type, target length, payload length.
pub const HEADER_LEN: usize = 1 + 2 + 4;

/// The kind of a message; the values are those of the Go TokenGo protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// An RFC 9458 encapsulated request, answered by one [`MessageType::Response`].
    Request,
    /// An RFC 9458 encapsulated response.
    Response,
    /// A chunked-OHTTP encapsulated request, answered by chunks and an end.
    StreamRequest,
    /// A piece of a chunked-OHTTP encapsulated response.
    StreamChunk,
    /// The end of a streamed response (the encrypted stream carries its own authenticated end).
    StreamEnd,
    /// An exit announces its key config under its pubKeyHash.
    Register,
    /// The relay accepted a registration.
    RegisterAck,
    /// The relay asks a registering exit to prove it holds the private key: an RFC 9458
    /// encapsulated random nonce.
    RegisterChallenge,
    /// The exit's answer to a challenge: the decapsulated nonce.
    RegisterProof,
    /// A client asks the relay for the registered exits' key configs.
    QueryExitKeys,
    /// The relay's answer to [`MessageType::QueryExitKeys`] (JSON).
    ExitKeysResponse,
    /// An exit's liveness signal.
    Heartbeat,
    /// The relay's answer to a heartbeat.
    HeartbeatAck,
    /// A refusal from the relay: a [`crate::Refusal`] code and its text (never request content).
    Error,
}

impl MessageType {
    /// The byte on the wire.
    #[must_use]
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Request => 0x01,
            Self::Response => 0x02,
            Self::StreamRequest => 0x03,
            Self::StreamChunk => 0x04,
            Self::StreamEnd => 0x05,
            Self::Register => 0x10,
            Self::RegisterAck => 0x11,
            Self::RegisterChallenge => 0x14,
            Self::RegisterProof => 0x15,
            Self::QueryExitKeys => 0x12,
            Self::ExitKeysResponse => 0x13,
            Self::Heartbeat => 0x20,
            Self::HeartbeatAck => 0x21,
            Self::Error => 0xFF,
        }
    }

    /// The type for a byte on the wire, if it is one we know.
    #[must_use]
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::Request,
            0x02 => Self::Response,
            0x03 => Self::StreamRequest,
            0x04 => Self::StreamChunk,
            0x05 => Self::StreamEnd,
            0x10 => Self::Register,
            0x11 => Self::RegisterAck,
            0x14 => Self::RegisterChallenge,
            0x15 => Self::RegisterProof,
            0x12 => Self::QueryExitKeys,
            0x13 => Self::ExitKeysResponse,
            0x20 => Self::Heartbeat,
            0x21 => Self::HeartbeatAck,
            0xFF => Self::Error,
            _ => return None,
        })
    }
}

/// Why a frame could not be encoded, decoded or transferred.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The type byte is not one of ours.
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    /// The target is longer than [`MAX_TARGET_LEN`].
    #[error("target of {0} bytes exceeds the limit of {MAX_TARGET_LEN}")]
    TargetTooLong(usize),
    /// The payload is longer than the allowed limit.
    #[error("payload of {len} bytes exceeds the limit of {limit}")]
    PayloadTooLarge {
        /// Claimed or actual length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The target is not UTF-8.
    #[error("target is not UTF-8")]
    TargetNotUtf8,
    /// The bytes ended inside a frame.
    #[error("truncated frame")]
    Truncated,
    /// The stream ended cleanly before any byte of a frame.
    #[error("stream closed")]
    Closed,
    /// Reading or writing the stream failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The fixed part of a frame and its target, parsed before (and without) its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the message is.
    pub kind: MessageType,
    /// Addressing or empty.
    pub target: String,
    /// How many payload bytes follow (already checked against the limit).
    pub payload_len: usize,
}

/// What [`parse_header`] made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderParse {
    /// The header needs `need` bytes in all (more than were given); nothing is consumed.
    Incomplete {
        /// Total header length known so far.
        need: usize,
    },
    /// A whole header, and how many bytes it took.
    Complete {
        /// The header.
        header: FrameHeader,
        /// Bytes consumed from the start of the buffer.
        len: usize,
    },
}

/// Parses a frame header from the start of `buf`, with payloads limited to `max_payload` (at
/// most [`MAX_PAYLOAD_LEN`]). Every check is made as soon as the bytes it needs are there, so a
/// reader learns of a bad type or an oversized claim before it reads any further.
pub fn parse_header(buf: &[u8], max_payload: usize) -> Result<HeaderParse, WireError> {
    let limit = max_payload.min(MAX_PAYLOAD_LEN);
    let Some(&[kind, t0, t1]) = buf.get(..3) else {
        return Ok(HeaderParse::Incomplete { need: 3 });
    };
    let kind = MessageType::from_byte(kind).ok_or(WireError::UnknownType(kind))?;
    let target_len = usize::from(u16::from_be_bytes([t0, t1]));
    if target_len > MAX_TARGET_LEN {
        return Err(WireError::TargetTooLong(target_len));
    }
    let target_end = 3 + target_len;
    let len = target_end + 4;
    let Some(&[l0, l1, l2, l3]) = buf.get(target_end..len) else {
        return Ok(HeaderParse::Incomplete { need: len });
    };
    let payload_len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    if payload_len > limit {
        return Err(WireError::PayloadTooLarge {
            len: payload_len,
            limit,
        });
    }
    let target = std::str::from_utf8(&buf[3..target_end]).map_err(|_| WireError::TargetNotUtf8)?;
    Ok(HeaderParse::Complete {
        header: FrameHeader {
            kind,
            target: target.to_owned(),
            payload_len,
        },
        len,
    })
}

/// Encodes a frame header announcing `payload_len` bytes, refusing values over the limits.
pub fn encode_header(
    out: &mut Vec<u8>,
    kind: MessageType,
    target: &str,
    payload_len: usize,
) -> Result<(), WireError> {
    if target.len() > MAX_TARGET_LEN {
        return Err(WireError::TargetTooLong(target.len()));
    }
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(WireError::PayloadTooLarge {
            len: payload_len,
            limit: MAX_PAYLOAD_LEN,
        });
    }
    out.reserve(HEADER_LEN + target.len());
    out.push(kind.to_byte());
    // Both lengths were checked against limits that fit the field widths.
    out.extend_from_slice(&(target.len() as u16).to_be_bytes());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(&(payload_len as u32).to_be_bytes());
    Ok(())
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the message is.
    pub kind: MessageType,
    /// Addressing (an exit's pubKeyHash) or empty.
    pub target: String,
    /// The body.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame without target.
    #[must_use]
    pub fn new(kind: MessageType, payload: Vec<u8>) -> Self {
        Self {
            kind,
            target: String::new(),
            payload,
        }
    }

    /// A frame addressed to `target`.
    #[must_use]
    pub fn to_target(kind: MessageType, target: impl Into<String>, payload: Vec<u8>) -> Self {
        Self {
            kind,
            target: target.into(),
            payload,
        }
    }

    /// A refusal frame: the code and its text (see [`crate::Refusal`]).
    #[must_use]
    pub fn refusal(refusal: crate::Refusal) -> Self {
        Self::new(MessageType::Error, refusal.encode())
    }

    /// Appends the encoding to `out`, refusing frames over the limits.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.reserve(HEADER_LEN + self.target.len() + self.payload.len());
        encode_header(out, self.kind, &self.target, self.payload.len())?;
        out.extend_from_slice(&self.payload);
        Ok(())
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes one frame from the start of `buf`; returns it and the bytes consumed.
    /// Runs the same header parser as the stream reader, with the same limits.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), WireError> {
        let (header, start) = match parse_header(buf, MAX_PAYLOAD_LEN)? {
            HeaderParse::Complete { header, len } => (header, len),
            HeaderParse::Incomplete { .. } => return Err(WireError::Truncated),
        };
        let end = start + header.payload_len;
        let payload = buf.get(start..end).ok_or(WireError::Truncated)?;
        Ok((Self::with_payload(header, payload.to_vec()), end))
    }

    /// The frame a header and its payload make.
    #[must_use]
    pub fn with_payload(header: FrameHeader, payload: Vec<u8>) -> Self {
        Self {
            kind: header.kind,
            target: header.target,
            payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [MessageType; 14] = [
        MessageType::RegisterChallenge,
        MessageType::RegisterProof,
        MessageType::Request,
        MessageType::Response,
        MessageType::StreamRequest,
        MessageType::StreamChunk,
        MessageType::StreamEnd,
        MessageType::Register,
        MessageType::RegisterAck,
        MessageType::QueryExitKeys,
        MessageType::ExitKeysResponse,
        MessageType::Heartbeat,
        MessageType::HeartbeatAck,
        MessageType::Error,
    ];

    #[test]
    fn every_type_round_trips_through_bytes_and_frames() {
        for kind in ALL {
            assert_eq!(MessageType::from_byte(kind.to_byte()), Some(kind));
            let f = Frame::to_target(kind, "abc", vec![1, 2, 3]);
            let bytes = f.encode().expect("encode");
            assert_eq!(bytes.len(), HEADER_LEN + 3 + 3);
            let (back, used) = Frame::decode(&bytes).expect("decode");
            assert_eq!(back, f);
            assert_eq!(used, bytes.len());
        }
        assert_eq!(MessageType::from_byte(0x06), None);
    }

    #[test]
    fn encoder_refuses_oversized_target_and_payload() {
        let long = "x".repeat(MAX_TARGET_LEN + 1);
        assert!(matches!(
            Frame::to_target(MessageType::Request, long, vec![]).encode(),
            Err(WireError::TargetTooLong(_))
        ));
        let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
        assert!(matches!(
            Frame::new(MessageType::Request, big).encode(),
            Err(WireError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn decoder_rejects_claims_over_the_limits_and_truncation() {
        let mut b = vec![0x01, 0x04, 0x01];
        assert!(matches!(
            Frame::decode(&b),
            Err(WireError::TargetTooLong(1025))
        ));
        b = vec![0x01, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(
            Frame::decode(&b),
            Err(WireError::PayloadTooLarge { .. })
        ));
        b = vec![0x01, 0, 0, 0, 0, 0, 5, 1, 2];
        assert!(matches!(Frame::decode(&b), Err(WireError::Truncated)));
        assert!(matches!(Frame::decode(&[0x07]), Err(WireError::Truncated)));
        assert!(matches!(
            Frame::decode(&[0x07, 0, 0]),
            Err(WireError::UnknownType(7))
        ));
    }

    #[test]
    fn header_parser_asks_for_exactly_the_bytes_it_lacks() {
        let bytes = Frame::to_target(MessageType::Request, "hash", vec![7; 10])
            .encode()
            .expect("enc");
        let header_len = HEADER_LEN + 4;
        for cut in 0..header_len {
            let HeaderParse::Incomplete { need } =
                parse_header(&bytes[..cut], MAX_PAYLOAD_LEN).expect("no error")
            else {
                panic!("complete at {cut}");
            };
            assert!(need > cut && need <= header_len, "cut {cut} need {need}");
        }
        assert_eq!(
            parse_header(&bytes[..header_len], MAX_PAYLOAD_LEN).expect("parse"),
            HeaderParse::Complete {
                header: FrameHeader {
                    kind: MessageType::Request,
                    target: "hash".into(),
                    payload_len: 10,
                },
                len: header_len,
            }
        );
        // A per-call limit below the global one is enforced.
        assert!(matches!(
            parse_header(&bytes, 9),
            Err(WireError::PayloadTooLarge { len: 10, limit: 9 })
        ));
    }
}
