//! Frames on async streams: the reader and writer above the codec of
//! [`tokengo_gateway_proto::frame`].
//!
//! The reader runs the codec's one header parser on the bytes it has and reads exactly as many
//! more as it asks for; it never trusts a claimed length, growing its buffer in bounded steps as
//! payload bytes actually arrive, so a peer announcing 16 MiB and sending nothing costs nothing.

use tokengo_gateway_proto::frame::{
    Frame, FrameHeader, HEADER_LEN, HeaderParse, MessageType, WireError, encode_header,
    parse_header,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How much the reader allocates at a time while the payload arrives.
const READ_STEP: usize = 64 * 1024;

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

/// Reads one frame with payloads up to `max_payload` (at most
/// [`MAX_PAYLOAD_LEN`](tokengo_gateway_proto::frame::MAX_PAYLOAD_LEN)).
///
/// Returns [`WireError::Closed`] if the stream ends cleanly before the frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: usize,
) -> Result<Frame, WireError> {
    let header = read_header(r, max_payload).await?;
    let payload = read_payload(r, header.payload_len).await?;
    Ok(Frame::with_payload(header, payload))
}

/// Reads a frame's header and target only; the payload is left on the stream.
pub async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: usize,
) -> Result<FrameHeader, WireError> {
    let mut head = Vec::with_capacity(HEADER_LEN + 64);
    loop {
        match parse_header(&head, max_payload)? {
            HeaderParse::Complete { header, .. } => return Ok(header),
            HeaderParse::Incomplete { need } => {
                let start = head.len();
                head.resize(need, 0);
                if !read_exact_or_eof(r, &mut head[start..]).await? {
                    return Err(if start == 0 {
                        WireError::Closed
                    } else {
                        WireError::Truncated
                    });
                }
            }
        }
    }
}

/// Writes a frame header announcing `payload_len` bytes that the caller then writes.
pub async fn write_header<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: MessageType,
    target: &str,
    payload_len: usize,
) -> Result<(), WireError> {
    let mut head = Vec::new();
    encode_header(&mut head, kind, target, payload_len)?;
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

/// Copies `len` payload bytes from `r` to `w` through a buffer of at most `READ_STEP` (64 KiB) bytes,
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
    use tokengo_gateway_proto::frame::MAX_PAYLOAD_LEN;

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
