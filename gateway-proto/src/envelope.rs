//! OHTTP encapsulation of inner HTTP messages (RFC 9458 and chunked OHTTP).
//!
//! Two exchanges:
//! - *single*: the request and the response are each one RFC 9458 encapsulated message
//!   (`message/bhttp request` / `message/bhttp response`);
//! - *streamed*: the request and the response use chunked OHTTP (`message/bhttp chunked
//!   request/response`, the IETF draft implemented by the `ohttp` crate's `stream` feature). Each
//!   encrypted chunk of the response is forwarded as soon as it is sealed; the last chunk is sealed
//!   with a distinct AAD, so a relay that truncates, reorders or drops chunks is detected.
//!
//! Everything sealed is padded ([`crate::padding`]): requests and single responses with zero
//! bytes after the Binary HTTP message, streamed responses as padded records, so a relay sees
//! sizes from a small set.
//!
//! The `ohttp` stream types are written and read synchronously here: the sinks are in-memory
//! buffers that never block, and the sources are fed by the caller.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use futures_util::{FutureExt as _, Stream, StreamExt as _, TryStreamExt as _};

use crate::http_message::{InnerRequest, InnerResponse, MAX_HEAD_LEN, MessageError, ResponseHead};
use crate::keys::{KeyError, PublicKeyConfig};
use crate::padding;

/// Largest body a single (non-streamed) response may carry, leaving room for the envelope.
pub const MAX_SINGLE_BODY: usize = crate::frame::MAX_PAYLOAD_LEN - 64 * 1024;

/// Why encapsulation or decapsulation failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The cryptographic layer failed (wrong key, tampering, truncation).
    #[error("ohttp: {0}")]
    Ohttp(#[from] ohttp::Error),
    /// The key config is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The inner message is malformed.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A stream failed or ended early.
    #[error("stream: {0}")]
    Io(#[from] io::Error),
    /// The request is sealed to a key id the exit does not (or no longer) accept.
    #[error("sealed to a key this exit does not accept")]
    UnknownKey,
}

/// An in-memory sink shared with the `ohttp` stream writer; never blocks.
#[derive(Debug, Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

impl AsyncWrite for SharedBuf {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.lock() {
            Ok(mut g) => g.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Drives a future over in-memory I/O, which is always ready.
fn ready<T>(f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    f.now_or_never()
        .unwrap_or_else(|| Err(io::Error::other("in-memory i/o unexpectedly pending")))
}

/// The client's half of a single exchange: decrypts the one response.
pub struct SinglePending(ohttp::ClientResponse);

impl std::fmt::Debug for SinglePending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinglePending")
    }
}

/// Encapsulates `req` for the exit whose key config is `key` (RFC 9458).
pub fn seal_single(
    key: &PublicKeyConfig,
    req: &InnerRequest,
) -> Result<(Vec<u8>, SinglePending), EnvelopeError> {
    let mut config = key.to_ohttp()?;
    let client = ohttp::ClientRequest::from_config(&mut config)?;
    let (bytes, pending) = client.encapsulate(&padded(req.encode()?))?;
    Ok((bytes, SinglePending(pending)))
}

impl SinglePending {
    /// Decrypts and decodes the response.
    pub fn open(self, bytes: &[u8]) -> Result<InnerResponse, EnvelopeError> {
        Ok(InnerResponse::decode(&self.0.decapsulate(bytes)?)?)
    }
}

/// The exit's half of a single exchange: encrypts the one response.
pub struct SingleReply(ohttp::ServerResponse);

impl std::fmt::Debug for SingleReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleReply")
    }
}

/// Decapsulates a single request at the exit.
pub fn open_single(
    server: &ohttp::Server,
    bytes: &[u8],
) -> Result<(InnerRequest, SingleReply), EnvelopeError> {
    let (plain, reply) = server.decapsulate(bytes)?;
    Ok((InnerRequest::decode(&plain)?, SingleReply(reply)))
}

impl SingleReply {
    /// Encodes and encrypts the response.
    pub fn seal(self, resp: &InnerResponse) -> Result<Vec<u8>, EnvelopeError> {
        Ok(self.0.encapsulate(&padded(resp.encode()?))?)
    }
}

/// A known-length message padded as [`padding::pad_message`] says.
fn padded(mut message: Vec<u8>) -> Vec<u8> {
    padding::pad_message(&mut message, MAX_SINGLE_BODY);
    message
}

/// The encrypted response bytes as they arrive at the client.
pub type EncryptedSource = Pin<Box<dyn AsyncRead + Send>>;
type ResponseOpener = Box<
    dyn FnOnce(EncryptedSource) -> Result<Pin<Box<dyn AsyncRead + Send>>, EnvelopeError> + Send,
>;

/// The client's half of a streamed exchange, kept until the response arrives.
pub struct StreamPending(ResponseOpener);

impl std::fmt::Debug for StreamPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamPending")
    }
}

/// Encapsulates `req` as a chunked-OHTTP request for the exit whose key config is `key`.
pub fn seal_stream(
    key: &PublicKeyConfig,
    req: &InnerRequest,
) -> Result<(Vec<u8>, StreamPending), EnvelopeError> {
    let mut config = key.to_ohttp()?;
    let client = ohttp::ClientRequest::from_config(&mut config)?;
    let sink = SharedBuf::default();
    let mut writer = client.encapsulate_stream(sink.clone())?;
    let plain = padded(req.encode()?);
    ready(writer.write_all(&plain))?;
    ready(writer.close())?;
    let bytes = sink.take();
    let opener: ResponseOpener = Box::new(move |src| {
        let reader: Pin<Box<dyn AsyncRead + Send>> = Box::pin(writer.response(src)?);
        Ok(reader)
    });
    Ok((bytes, StreamPending(opener)))
}

/// A decrypted streamed response: its head, then the body as it arrives.
pub struct StreamedResponse {
    /// Status and headers.
    pub head: ResponseHead,
    /// Body pieces in order; an error means the stream failed or was cut (never a silent end).
    pub body: Pin<Box<dyn Stream<Item = io::Result<Vec<u8>>> + Send>>,
}

impl std::fmt::Debug for StreamedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedResponse")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

const BODY_READ_STEP: usize = 32 * 1024;

impl StreamPending {
    /// Starts decrypting the response whose encrypted bytes `chunks` yields; waits for the head.
    pub async fn open<S>(self, chunks: S) -> Result<StreamedResponse, EnvelopeError>
    where
        S: Stream<Item = io::Result<Vec<u8>>> + Send + 'static,
    {
        let src: EncryptedSource = Box::pin(Box::pin(chunks).into_async_read());
        let mut reader = (self.0)(src)?;
        let (len, pad) = read_record_header(&mut reader)
            .await?
            .ok_or_else(|| EnvelopeError::from(io::Error::from(io::ErrorKind::UnexpectedEof)))?;
        if len > MAX_HEAD_LEN + 4 {
            return Err(MessageError::Invalid("response head too large").into());
        }
        let mut head = vec![0u8; len];
        reader.read_exact(&mut head).await?;
        skip(&mut reader, pad).await?;
        // The head record holds the prefixed head ([`ResponseHead::encode_prefixed`]).
        let head = match head.split_first_chunk::<4>() {
            Some((prefix, rest)) if u32::from_be_bytes(*prefix) as usize == rest.len() => {
                ResponseHead::decode(rest)?
            }
            _ => return Err(MessageError::Invalid("response head record").into()),
        };
        // (reader, data bytes left in the record, padding bytes after them)
        let body =
            futures_util::stream::unfold(Some((reader, 0usize, 0usize)), |state| async move {
                let (mut reader, mut left, mut pad) = state?;
                while left == 0 {
                    if let Err(e) = skip(&mut reader, pad).await {
                        return Some((Err(e), None));
                    }
                    match read_record_header(&mut reader).await {
                        Ok(Some((len, next_pad))) => (left, pad) = (len, next_pad),
                        Ok(None) => return None,
                        Err(e) => return Some((Err(e), None)),
                    }
                }
                let mut buf = vec![0u8; left.min(BODY_READ_STEP)];
                match reader.read_exact(&mut buf).await {
                    Ok(()) => {
                        left -= buf.len();
                        Some((Ok(buf), Some((reader, left, pad))))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            });
        Ok(StreamedResponse {
            head,
            body: body.boxed(),
        })
    }
}

/// The exit's half of a streamed exchange: seals the response piece by piece.
pub struct StreamReply {
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    sink: SharedBuf,
}

impl std::fmt::Debug for StreamReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamReply")
    }
}

/// Decapsulates a chunked-OHTTP request at the exit.
pub fn open_stream(
    config: &ohttp::KeyConfig,
    bytes: &[u8],
) -> Result<(InnerRequest, StreamReply), EnvelopeError> {
    let server = ohttp::Server::new(config.clone())?;
    let mut reader = Box::pin(server.decapsulate_stream(bytes));
    let mut plain = Vec::new();
    ready(reader.read_to_end(&mut plain))?;
    let sink = SharedBuf::default();
    let writer: Pin<Box<dyn AsyncWrite + Send>> = Box::pin(reader.response(sink.clone())?);
    Ok((InnerRequest::decode(&plain)?, StreamReply { writer, sink }))
}

impl StreamReply {
    /// Seals the head; returns the encrypted bytes to send.
    pub fn head(&mut self, head: &ResponseHead) -> Result<Vec<u8>, EnvelopeError> {
        self.body(&head.encode_prefixed()?)
    }

    /// Seals a piece of body as one padded record; returns the encrypted bytes to send.
    pub fn body(&mut self, data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        ready(self.writer.write_all(&padding::record(data)))?;
        Ok(self.sink.take())
    }

    /// Seals the authenticated end; returns the last encrypted bytes to send.
    pub fn finish(mut self) -> Result<Vec<u8>, EnvelopeError> {
        ready(self.writer.close())?;
        Ok(self.sink.take())
    }
}

/// The next record's data and padding lengths, or `None` at the authenticated end.
async fn read_record_header(
    reader: &mut Pin<Box<dyn AsyncRead + Send>>,
) -> io::Result<Option<(usize, usize)>> {
    let mut header = [0u8; padding::RECORD_HEADER];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(Some(padding::record_header(header)))
}

/// Reads and drops `n` bytes of padding, a bounded step at a time.
async fn skip(reader: &mut Pin<Box<dyn AsyncRead + Send>>, mut n: usize) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    while n > 0 {
        let step = n.min(sink.len());
        reader.read_exact(&mut sink[..step]).await?;
        n -= step;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OhttpKeyPair;

    fn request(body: &[u8]) -> InnerRequest {
        InnerRequest {
            method: "POST".into(),
            path_and_query: "/v1/chat/completions?x=1".into(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body: body.to_vec(),
        }
    }

    #[test]
    fn single_exchange_round_trips() {
        let pair = OhttpKeyPair::generate().expect("key");
        let server = ohttp::Server::new(pair.server_config().expect("cfg")).expect("server");
        let req = request(b"{\"stream\":false}");
        let (bytes, pending) = seal_single(pair.public(), &req).expect("seal");
        let (got, reply) = open_single(&server, &bytes).expect("open");
        assert_eq!(got, req);
        let resp = InnerResponse::json_error(401, "bad key");
        let sealed = reply.seal(&resp).expect("seal resp");
        assert_eq!(pending.open(&sealed).expect("open resp"), resp);
    }

    #[test]
    fn single_exchange_rejects_other_key_and_tampering() {
        let pair = OhttpKeyPair::generate().expect("key");
        let other = OhttpKeyPair::generate().expect("key");
        let server = ohttp::Server::new(other.server_config().expect("cfg")).expect("server");
        let (mut bytes, _p) = seal_single(pair.public(), &request(b"x")).expect("seal");
        assert!(open_single(&server, &bytes).is_err());
        let own = ohttp::Server::new(pair.server_config().expect("cfg")).expect("server");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(open_single(&own, &bytes).is_err());
    }

    fn chunks(v: Vec<Vec<u8>>) -> impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static {
        futures_util::stream::iter(v.into_iter().map(Ok))
    }

    #[tokio::test]
    async fn streamed_exchange_round_trips_piecewise() {
        let pair = OhttpKeyPair::generate().expect("key");
        let req = request(&vec![7u8; 100_000]);
        let (bytes, pending) = seal_stream(pair.public(), &req).expect("seal");
        let (got, mut reply) =
            open_stream(&pair.server_config().expect("cfg"), &bytes).expect("open");
        assert_eq!(got, req);
        let head = ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), b"text/event-stream".to_vec())],
        };
        let mut wire = vec![reply.head(&head).expect("head")];
        for e in ["data: a\n\n", "data: b\n\n", "data: c"] {
            wire.push(reply.body(e.as_bytes()).expect("body"));
        }
        wire.push(reply.finish().expect("finish"));
        let mut resp = pending.open(chunks(wire)).await.expect("open resp");
        assert_eq!(resp.head, head);
        let mut body = Vec::new();
        while let Some(piece) = resp.body.next().await {
            body.extend(piece.expect("piece"));
        }
        assert_eq!(body, b"data: a\n\ndata: b\n\ndata: c");
    }

    #[test]
    fn a_relay_sees_one_size_for_requests_and_answers_of_nearby_lengths() {
        let pair = OhttpKeyPair::generate().expect("key");
        let server = ohttp::Server::new(pair.server_config().expect("cfg")).expect("server");
        let mut requests = std::collections::BTreeSet::new();
        let mut answers = std::collections::BTreeSet::new();
        for n in 0..=600 {
            let (bytes, _) = seal_single(pair.public(), &request(&vec![b'a'; n])).expect("seal");
            requests.insert(bytes.len());
            let (_, reply) = open_single(&server, &bytes).expect("open");
            let resp = InnerResponse::json_error(200, &"b".repeat(n));
            answers.insert(reply.seal(&resp).expect("seal").len());
        }
        assert_eq!(requests.len(), 1, "request sizes seen: {requests:?}");
        assert_eq!(answers.len(), 1, "answer sizes seen: {answers:?}");
    }

    #[test]
    fn a_relay_sees_one_size_for_streamed_pieces_of_any_token_length() {
        let pair = OhttpKeyPair::generate().expect("key");
        let (bytes, _) = seal_stream(pair.public(), &request(b"x")).expect("seal");
        let (_, mut reply) =
            open_stream(&pair.server_config().expect("cfg"), &bytes).expect("open");
        let head = ResponseHead {
            status: 200,
            headers: vec![],
        };
        let _ = reply.head(&head).expect("head");
        let mut sizes = std::collections::BTreeSet::new();
        for n in 1..=400 {
            let event = format!("data: {{\"delta\":\"{}\"}}\n\n", "t".repeat(n));
            sizes.insert(reply.body(event.as_bytes()).expect("body").len());
        }
        assert_eq!(sizes.len(), 1, "piece sizes seen: {sizes:?}");
    }

    #[tokio::test]
    async fn streamed_response_cut_before_its_end_is_an_error() {
        let pair = OhttpKeyPair::generate().expect("key");
        let (bytes, pending) = seal_stream(pair.public(), &request(b"x")).expect("seal");
        let (_, mut reply) =
            open_stream(&pair.server_config().expect("cfg"), &bytes).expect("open");
        let head = ResponseHead {
            status: 200,
            headers: vec![],
        };
        let wire = vec![
            reply.head(&head).expect("head"),
            reply.body(b"data: a\n\n").expect("body"),
        ];
        // No final chunk: a relay ending the stream early.
        let mut resp = pending.open(chunks(wire)).await.expect("open resp");
        let mut saw_error = false;
        while let Some(piece) = resp.body.next().await {
            if piece.is_err() {
                saw_error = true;
            }
        }
        assert!(saw_error);
    }
}
