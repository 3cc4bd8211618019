//! What an exit does with one stream the relay opened: open the sealed request, call the
//! backend, seal the answer back.
//!
//! Everything after decapsulation travels sealed, errors included: a backend failure becomes an
//! encrypted JSON error response (502, or 504 on timeout). Only a request that cannot be
//! decapsulated is answered with a plaintext Error frame, whose text says nothing more.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use quinn::{RecvStream, SendStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tracing::debug;

use super::backend::{Backend, BackendError, BackendResponse};
use crate::frame_io::{read_header, read_payload, write_frame};
use tokengo_gateway_proto::envelope::{
    EnvelopeError, MAX_SINGLE_BODY, StreamReply, open_single, open_stream,
};
use tokengo_gateway_proto::frame::{Frame, MAX_PAYLOAD_LEN, MessageType, WireError};
use tokengo_gateway_proto::http_message::{InnerRequest, InnerResponse, ResponseHead};
use tokengo_gateway_proto::publication::Publication;
use tokengo_gateway_proto::refusal::Refusal;
use tokengo_gateway_proto::replay::{ReplayError, ReplayGuard, take_date};

/// Largest piece of body sealed into one StreamChunk frame.
const MAX_CHUNK_FRAME: usize = 1024 * 1024;

/// Everything an exit needs to answer requests.
#[derive(Debug)]
pub struct ExitContext {
    /// The keys the exit accepts now and the descriptor listing them (rotated elsewhere).
    pub publication: Arc<RwLock<Publication>>,
    /// The backend.
    pub backend: Backend,
    /// Deadline for the relay's request frame.
    pub read_timeout: Duration,
    /// Longest silence allowed between two pieces of a backend body.
    pub body_idle_timeout: Duration,
    /// Request bytes held at once across all streams, in KiB ([`REQUEST_BUDGET_KIB`]).
    pub request_budget: Semaphore,
    /// How long a request waits for budget before it is refused with [`Refusal::ExitBusy`].
    pub budget_wait: Duration,
    /// How long body pieces are gathered into one sealed chunk (zero: each piece at once).
    pub chunk_interval: Duration,
    /// The sealed requests seen inside the replay window.
    pub replays: std::sync::Mutex<ReplayGuard>,
    /// What the exit counts.
    pub metrics: Arc<crate::metrics::ExitMetrics>,
}

impl ExitContext {
    /// The server config of the accepted key `sealed` is addressed to.
    fn key_for(&self, sealed: &[u8]) -> Option<ohttp::KeyConfig> {
        let publication = self.publication.read().unwrap_or_else(|p| p.into_inner());
        publication.key_for(sealed).cloned()
    }
}

/// Checks an opened request's path against the exit's allowlist, then takes its date off and
/// checks it, and the sealed bytes, against the replay guard; the sealed error to answer with
/// when the request must not run.
fn admit(ctx: &ExitContext, sealed: &[u8], req: &mut InnerRequest) -> Result<(), InnerResponse> {
    if !ctx.backend.allows(&req.path_and_query) {
        debug!("refused a path this exit does not serve");
        return Err(InnerResponse::json_error(
            403,
            "this exit does not serve that path",
        ));
    }
    let date = take_date(req);
    let now = crate::unix_now();
    let checked = ctx
        .replays
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .check(now, date, sealed);
    checked.map_err(|e| {
        debug!("request refused before the backend: {e}");
        let status = if e == ReplayError::Full { 503 } else { 400 };
        InnerResponse::json_error(status, &format!("request refused by the exit: {e}"))
    })
}

/// How many KiB of relayed requests an exit holds in memory at once (256 MiB); further requests
/// wait, which back-pressures the relay through QUIC flow control.
pub const REQUEST_BUDGET_KIB: usize = 256 * 1024;

/// Answers one relay-initiated stream.
pub async fn handle_stream(ctx: &ExitContext, mut send: SendStream, mut recv: RecvStream) {
    let header = match timeout(ctx.read_timeout, read_header(&mut recv, MAX_PAYLOAD_LEN)).await {
        Ok(Ok(h)) => h,
        Ok(Err(WireError::Closed)) => return,
        Ok(Err(e)) => {
            debug!("bad frame from relay: {e}");
            return;
        }
        Err(_) => return,
    };
    let kib = u32::try_from(header.payload_len.div_ceil(1024)).unwrap_or(u32::MAX);
    let _held = match timeout(ctx.budget_wait, ctx.request_budget.acquire_many(kib)).await {
        Ok(Ok(held)) => held,
        Ok(Err(_)) => return,
        Err(_) => {
            debug!("no request budget came free in time; refusing");
            let _ = recv.stop(0u32.into());
            let _ = write_frame(&mut send, &Frame::refusal(Refusal::ExitBusy)).await;
            let _ = send.finish();
            return;
        }
    };
    let frame = match timeout(
        ctx.read_timeout,
        read_payload(&mut recv, header.payload_len),
    )
    .await
    {
        Ok(Ok(payload)) => Frame::with_payload(header, payload),
        _ => return,
    };
    match frame.kind {
        MessageType::Request => single(ctx, &frame.payload, &mut send).await,
        MessageType::StreamRequest => streamed(ctx, &frame.payload, &mut send).await,
        MessageType::Heartbeat => {
            let _ = write_frame(&mut send, &Frame::new(MessageType::HeartbeatAck, vec![])).await;
        }
        other => {
            debug!("unexpected {other:?} frame from the relay");
            let _ = write_frame(&mut send, &Frame::refusal(Refusal::InvalidMessageType)).await;
        }
    }
    let _ = send.finish();
}

fn error_response(e: &BackendError) -> InnerResponse {
    match e {
        BackendError::Timeout => InnerResponse::json_error(504, "backend timed out"),
        BackendError::Invalid(_) => {
            InnerResponse::json_error(400, "request not accepted by the exit")
        }
        BackendError::Unreachable(_) | BackendError::Client(_) => {
            InnerResponse::json_error(502, "backend unavailable")
        }
    }
}

async fn collect(resp: BackendResponse, idle: Duration) -> InnerResponse {
    let BackendResponse { head, mut body } = resp;
    let mut out = Vec::new();
    loop {
        match timeout(idle, body.next()).await {
            Err(_) => return InnerResponse::json_error(504, "backend timed out"),
            Ok(None) => break,
            Ok(Some(Err(_))) => return InnerResponse::json_error(502, "backend body failed"),
            Ok(Some(Ok(piece))) => {
                if out.len() + piece.len() > MAX_SINGLE_BODY {
                    return InnerResponse::json_error(502, "backend response too large");
                }
                out.extend_from_slice(&piece);
            }
        }
    }
    InnerResponse { head, body: out }
}

async fn single(ctx: &ExitContext, payload: &[u8], send: &mut SendStream) {
    let opened = ctx
        .key_for(payload)
        .ok_or(EnvelopeError::UnknownKey)
        .and_then(|config| Ok(ohttp::Server::new(config)?))
        .and_then(|server| open_single(&server, payload));
    let (mut req, reply) = match opened {
        Ok(x) => x,
        Err(e) => {
            debug!("cannot decapsulate request: {e}");
            let _ = write_frame(send, &Frame::refusal(Refusal::Undecryptable)).await;
            return;
        }
    };
    let path = req.path_and_query.clone();
    let started = tokio::time::Instant::now();
    let resp = match admit(ctx, payload, &mut req) {
        Err(refused) => refused,
        Ok(()) => {
            ctx.metrics.count_bytes("sent", req.body.len());
            match ctx.backend.call(req).await {
                Ok(r) => {
                    ctx.metrics
                        .first_byte
                        .observe(started.elapsed().as_secs_f64());
                    collect(r, ctx.body_idle_timeout).await
                }
                Err(e) => {
                    debug!("backend call failed: {e}");
                    error_response(&e)
                }
            }
        }
    };
    ctx.metrics.answered(&path, resp.head.status);
    ctx.metrics.count_bytes("received", resp.body.len());
    let frame = match reply.seal(&resp) {
        Ok(bytes) => Frame::new(MessageType::Response, bytes),
        Err(e) => {
            debug!("cannot seal response: {e}");
            Frame::refusal(Refusal::SealFailed)
        }
    };
    let _ = write_frame(send, &frame).await;
}

async fn chunk(send: &mut SendStream, bytes: Vec<u8>) -> bool {
    if bytes.is_empty() {
        return true;
    }
    write_frame(send, &Frame::new(MessageType::StreamChunk, bytes))
        .await
        .is_ok()
}

async fn streamed(ctx: &ExitContext, payload: &[u8], send: &mut SendStream) {
    let opened = ctx
        .key_for(payload)
        .ok_or(EnvelopeError::UnknownKey)
        .and_then(|config| open_stream(&config, payload));
    let (mut req, mut reply) = match opened {
        Ok(x) => x,
        Err(e) => {
            debug!("cannot decapsulate streamed request: {e}");
            let _ = write_frame(send, &Frame::refusal(Refusal::Undecryptable)).await;
            return;
        }
    };
    let path = req.path_and_query.clone();
    if let Err(refused) = admit(ctx, payload, &mut req) {
        ctx.metrics.answered(&path, refused.head.status);
        return finish_with(send, reply, &refused.head, &refused.body).await;
    }
    ctx.metrics.count_bytes("sent", req.body.len());
    let started = tokio::time::Instant::now();
    // The relay stops our stream when its client goes away: stop the backend call too.
    let relay_gone = send.stopped();
    tokio::pin!(relay_gone);
    let call = tokio::select! {
        r = ctx.backend.call(req) => r,
        _ = &mut relay_gone => return,
    };
    let (head, mut body) = match call {
        Ok(r) => (r.head, r.body),
        Err(e) => {
            debug!("backend call failed: {e}");
            let resp = error_response(&e);
            ctx.metrics.answered(&path, resp.head.status);
            return finish_with(send, reply, &resp.head, &resp.body).await;
        }
    };
    ctx.metrics
        .first_byte
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.answered(&path, head.status);
    let Ok(bytes) = reply.head(&head) else { return };
    if !chunk(send, bytes).await {
        return;
    }
    // Pieces that arrive within `chunk_interval` of the first one travel as one sealed chunk,
    // so the relay sees neither each token's size nor its timing. The body's first piece goes
    // at once: its time (the time to the first token) shows through any gathering anyway, to
    // within the interval, and its size is padded like every other.
    let mut batch: Vec<u8> = Vec::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut first_piece = true;
    loop {
        let flush = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            n = timeout(ctx.body_idle_timeout, body.next()) => Some(n),
            () = flush => None,
            _ = &mut relay_gone => {
                debug!("relay cancelled the stream");
                return;
            }
        };
        match next {
            None => {
                flush_at = None;
                if !send_batch(send, &mut reply, &mut batch).await {
                    return;
                }
            }
            Some(Ok(Some(Ok(piece)))) => {
                ctx.metrics.count_bytes("received", piece.len());
                batch.extend_from_slice(&piece);
                let first = std::mem::take(&mut first_piece);
                if first || ctx.chunk_interval.is_zero() || batch.len() >= MAX_CHUNK_FRAME {
                    flush_at = None;
                    if !send_batch(send, &mut reply, &mut batch).await {
                        return;
                    }
                } else if flush_at.is_none() {
                    flush_at = Some(tokio::time::Instant::now() + ctx.chunk_interval);
                }
            }
            Some(Ok(None)) => {
                if !send_batch(send, &mut reply, &mut batch).await {
                    return;
                }
                break;
            }
            Some(Ok(Some(Err(e)))) => {
                // Leave the sealed stream without its final chunk: the client sees a failure.
                debug!("backend body failed: {e}");
                let _ = write_frame(send, &Frame::refusal(Refusal::StreamAborted)).await;
                return;
            }
            Some(Err(_)) => {
                debug!("backend body idle for too long");
                let _ = write_frame(send, &Frame::refusal(Refusal::StreamAborted)).await;
                return;
            }
        }
    }
    end(send, reply).await;
}

/// Seals what `batch` holds as chunks of at most [`MAX_CHUNK_FRAME`] and sends them; empties
/// it. False when the stream failed.
async fn send_batch(send: &mut SendStream, reply: &mut StreamReply, batch: &mut Vec<u8>) -> bool {
    for part in batch.chunks(MAX_CHUNK_FRAME) {
        let Ok(bytes) = reply.body(part) else {
            return false;
        };
        if !chunk(send, bytes).await {
            return false;
        }
    }
    batch.clear();
    true
}

async fn finish_with(
    send: &mut SendStream,
    mut reply: StreamReply,
    head: &ResponseHead,
    body: &[u8],
) {
    let Ok(h) = reply.head(head) else { return };
    if !chunk(send, h).await {
        return;
    }
    let Ok(b) = reply.body(body) else { return };
    if !chunk(send, b).await {
        return;
    }
    end(send, reply).await;
}

async fn end(send: &mut SendStream, reply: StreamReply) {
    let Ok(last) = reply.finish() else { return };
    if chunk(send, last).await {
        let _ = write_frame(send, &Frame::new(MessageType::StreamEnd, vec![])).await;
    }
}
