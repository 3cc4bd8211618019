//! Framing of messages on QUIC bidirectional streams.
//!
//! Every message is `type (u8) | target length (u16 BE) | target | payload length (u32 BE) | payload`.
//! Limits ([`MAX_TARGET_LEN`], [`MAX_PAYLOAD_LEN`]) are enforced when encoding and when decoding.
//! The async reader never trusts a claimed length: it grows its buffer in bounded steps as bytes
//! actually arrive, so a peer announcing 16 MiB and sending nothing costs us nothing.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest target (an exit's pubKeyHash is 32 bytes; the room above is for future addressing).
pub const MAX_TARGET_LEN: usize = 1024;
/// Largest payload of one message: 16 MiB.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// Fixed part of a frame: type, target length, payload length.
pub const HEADER_LEN: usize = 1 + 2 + 4;
/// How much the reader allocates at a time while the payload arrives.
const READ_STEP: usize = 64 * 1024;

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
    /// A client asks the relay for the registered exits' key configs.
    QueryExitKeys,
    /// The relay's answer to [`MessageType::QueryExitKeys`] (JSON).
    ExitKeysResponse,
    /// An exit's liveness signal.
    Heartbeat,
    /// The relay's answer to a heartbeat.
    HeartbeatAck,
    /// A routing error from the relay (UTF-8 text; never carries request content).
    Error,
}

impl MessageType {
    /// The byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Request => 0x01,
            Self::Response => 0x02,
            Self::StreamRequest => 0x03,
            Self::StreamChunk => 0x04,
            Self::StreamEnd => 0x05,
            Self::Register => 0x10,
            Self::RegisterAck => 0x11,
            Self::QueryExitKeys => 0x12,
            Self::ExitKeysResponse => 0x13,
            Self::Heartbeat => 0x20,
            Self::HeartbeatAck => 0x21,
            Self::Error => 0xFF,
        }
    }

    /// The type for a byte on the wire, if it is one we know.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::Request,
            0x02 => Self::Response,
            0x03 => Self::StreamRequest,
            0x04 => Self::StreamChunk,
            0x05 => Self::StreamEnd,
            0x10 => Self::Register,
            0x11 => Self::RegisterAck,
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
    pub fn new(kind: MessageType, payload: Vec<u8>) -> Self {
        Self {
            kind,
            target: String::new(),
            payload,
        }
    }

    /// A frame addressed to `target`.
    pub fn to_target(kind: MessageType, target: impl Into<String>, payload: Vec<u8>) -> Self {
        Self {
            kind,
            target: target.into(),
            payload,
        }
    }

    /// A relay error frame.
    pub fn error(text: &str) -> Self {
        Self::new(MessageType::Error, text.as_bytes().to_vec())
    }

    /// Appends the encoding to `out`, refusing frames over the limits.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let target = self.target.as_bytes();
        if target.len() > MAX_TARGET_LEN {
            return Err(WireError::TargetTooLong(target.len()));
        }
        if self.payload.len() > MAX_PAYLOAD_LEN {
            return Err(WireError::PayloadTooLarge {
                len: self.payload.len(),
                limit: MAX_PAYLOAD_LEN,
            });
        }
        out.reserve(HEADER_LEN + target.len() + self.payload.len());
        out.push(self.kind.to_byte());
        // Both lengths were checked against limits that fit the field widths.
        out.extend_from_slice(&(target.len() as u16).to_be_bytes());
        out.extend_from_slice(target);
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
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
    /// Enforces the same limits as the async reader.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), WireError> {
        let header = buf.get(..3).ok_or(WireError::Truncated)?;
        let kind = MessageType::from_byte(header[0]).ok_or(WireError::UnknownType(header[0]))?;
        let target_len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        if target_len > MAX_TARGET_LEN {
            return Err(WireError::TargetTooLong(target_len));
        }
        let target_end = 3 + target_len;
        let target = buf.get(3..target_end).ok_or(WireError::Truncated)?;
        let len_bytes = buf
            .get(target_end..target_end + 4)
            .ok_or(WireError::Truncated)?;
        let payload_len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(WireError::PayloadTooLarge {
                len: payload_len,
                limit: MAX_PAYLOAD_LEN,
            });
        }
        let start = target_end + 4;
        let payload = buf
            .get(start..start + payload_len)
            .ok_or(WireError::Truncated)?;
        let target = std::str::from_utf8(target).map_err(|_| WireError::TargetNotUtf8)?;
        Ok((
            Self::to_target(kind, target, payload.to_vec()),
            start + payload_len,
        ))
    }
}

/// Reads exactly `buf.len()` bytes; distinguishes a clean end before the first byte.
async fn read_exact_or_eof<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> Result<bool, WireError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(false)
            } else {
                Err(WireError::Truncated)
            };
        }
        filled += n;
    }
    Ok(true)
}

/// Reads one frame with payloads up to `max_payload` (at most [`MAX_PAYLOAD_LEN`]).
///
/// Returns [`WireError::Closed`] if the stream ends cleanly before the frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: usize,
) -> Result<Frame, WireError> {
    let header = read_header(r, max_payload).await?;
    let payload = read_payload(r, header.payload_len).await?;
    Ok(Frame {
        kind: header.kind,
        target: header.target,
        payload,
    })
}

/// The fixed part of a frame and its target, read before (and without) its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the message is.
    pub kind: MessageType,
    /// Addressing or empty.
    pub target: String,
    /// How many payload bytes follow (already checked against the limit).
    pub payload_len: usize,
}

/// Reads a frame's header and target only; the payload is left on the stream.
pub async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: usize,
) -> Result<FrameHeader, WireError> {
    let limit = max_payload.min(MAX_PAYLOAD_LEN);
    let mut head = [0u8; 3];
    if !read_exact_or_eof(r, &mut head).await? {
        return Err(WireError::Closed);
    }
    let kind = MessageType::from_byte(head[0]).ok_or(WireError::UnknownType(head[0]))?;
    let target_len = usize::from(u16::from_be_bytes([head[1], head[2]]));
    if target_len > MAX_TARGET_LEN {
        return Err(WireError::TargetTooLong(target_len));
    }
    let mut target = vec![0u8; target_len];
    if !read_exact_or_eof(r, &mut target).await? && target_len > 0 {
        return Err(WireError::Truncated);
    }
    let mut len = [0u8; 4];
    if !read_exact_or_eof(r, &mut len).await? {
        return Err(WireError::Truncated);
    }
    let payload_len = u32::from_be_bytes(len) as usize;
    if payload_len > limit {
        return Err(WireError::PayloadTooLarge {
            len: payload_len,
            limit,
        });
    }
    let target = String::from_utf8(target).map_err(|_| WireError::TargetNotUtf8)?;
    Ok(FrameHeader {
        kind,
        target,
        payload_len,
    })
}

/// Writes a frame header announcing `payload_len` bytes that the caller then writes.
pub async fn write_header<W: AsyncWrite + Unpin>(
    w: &mut W,
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
    let mut head = Vec::with_capacity(HEADER_LEN + target.len());
    head.push(kind.to_byte());
    head.extend_from_slice(&(target.len() as u16).to_be_bytes());
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(&(payload_len as u32).to_be_bytes());
    w.write_all(&head).await?;
    Ok(())
}

/// Reads `len` payload bytes (after [`read_header`]), growing the buffer only as bytes arrive.
pub async fn read_payload<R: AsyncRead + Unpin>(
    r: &mut R,
    len: usize,
) -> Result<Vec<u8>, WireError> {
    let mut payload = Vec::with_capacity(len.min(READ_STEP));
    while payload.len() < len {
        let step = (len - payload.len()).min(READ_STEP);
        let start = payload.len();
        payload.resize(start + step, 0);
        if !read_exact_or_eof(r, &mut payload[start..]).await? {
            return Err(WireError::Truncated);
        }
    }
    Ok(payload)
}

/// Which side of a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading from the source failed or it ended early.
    #[error("source: {0}")]
    Source(WireError),
    /// Writing to the destination failed.
    #[error("destination: {0}")]
    Destination(std::io::Error),
}

/// Copies `len` payload bytes from `r` to `w` through a buffer of at most [`READ_STEP`] bytes,
/// so a relay never holds a whole payload.
pub async fn copy_payload<R, W>(r: &mut R, w: &mut W, len: usize) -> Result<(), CopyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; len.min(READ_STEP)];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len());
        let n = r
            .read(&mut buf[..want])
            .await
            .map_err(|e| CopyError::Source(e.into()))?;
        if n == 0 {
            return Err(CopyError::Source(WireError::Truncated));
        }
        w.write_all(&buf[..n])
            .await
            .map_err(CopyError::Destination)?;
        left -= n;
    }
    Ok(())
}

/// Encodes and writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> Result<(), WireError> {
    let bytes = frame.encode()?;
    w.write_all(&bytes).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [MessageType; 12] = [
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

    #[tokio::test]
    async fn async_reader_reads_consecutive_frames_and_reports_clean_close() {
        let a = Frame::to_target(MessageType::StreamRequest, "hash", vec![9; 200_000]);
        let b = Frame::new(MessageType::StreamEnd, vec![]);
        let mut bytes = a.encode().expect("a");
        b.encode_into(&mut bytes).expect("b");
        let mut r = &bytes[..];
        assert_eq!(read_frame(&mut r, MAX_PAYLOAD_LEN).await.expect("a"), a);
        assert_eq!(read_frame(&mut r, MAX_PAYLOAD_LEN).await.expect("b"), b);
        assert!(matches!(
            read_frame(&mut r, MAX_PAYLOAD_LEN).await,
            Err(WireError::Closed)
        ));
    }

    #[tokio::test]
    async fn header_then_copied_payload_equals_the_frame() {
        let f = Frame::to_target(MessageType::Request, "h", vec![5; 150_000]);
        let bytes = f.encode().expect("enc");
        let mut r = &bytes[..];
        let h = read_header(&mut r, MAX_PAYLOAD_LEN).await.expect("header");
        assert_eq!(
            (h.kind, h.target.as_str(), h.payload_len),
            (MessageType::Request, "h", 150_000)
        );
        let mut out = Vec::new();
        write_header(&mut out, h.kind, "", h.payload_len)
            .await
            .expect("write");
        copy_payload(&mut r, &mut out, h.payload_len)
            .await
            .expect("copy");
        assert_eq!(
            out,
            Frame::new(MessageType::Request, vec![5; 150_000])
                .encode()
                .expect("enc")
        );
        let mut short = &bytes[..100];
        let h = read_header(&mut short, MAX_PAYLOAD_LEN)
            .await
            .expect("header");
        assert!(matches!(
            copy_payload(&mut short, &mut Vec::new(), h.payload_len).await,
            Err(CopyError::Source(WireError::Truncated))
        ));
    }

    #[tokio::test]
    async fn async_reader_does_not_trust_claimed_length() {
        // Claims 16 MiB, delivers 10 bytes: must fail as truncated, having allocated one step.
        let mut bytes = vec![0x04, 0, 0];
        bytes.extend_from_slice(&(MAX_PAYLOAD_LEN as u32).to_be_bytes());
        bytes.extend_from_slice(&[0; 10]);
        let mut r = &bytes[..];
        assert!(matches!(
            read_frame(&mut r, MAX_PAYLOAD_LEN).await,
            Err(WireError::Truncated)
        ));
        // A per-call limit below the global one is enforced.
        let f = Frame::new(MessageType::Heartbeat, vec![0; 100])
            .encode()
            .expect("enc");
        let mut r = &f[..];
        assert!(matches!(
            read_frame(&mut r, 10).await,
            Err(WireError::PayloadTooLarge {
                len: 100,
                limit: 10
            })
        ));
    }
}
