//! The OHTTP envelope, which both ends parse before anything is authenticated: the exit opens
//! sealed requests (single and chunked), the client opens sealed responses. Arbitrary bytes must
//! fail cleanly on every opener; a sealed message with bytes flipped either fails or opens to
//! exactly what was sealed (the AEAD's integrity, end to end through our framing).
#![no_main]

use std::sync::LazyLock;

use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use libfuzzer_sys::fuzz_target;
use tokengo_gateway_proto::envelope::{open_single, open_stream, seal_single, seal_stream};
use tokengo_gateway_proto::http_message::{InnerRequest, InnerResponse, ResponseHead};
use tokengo_gateway_proto::keys::OhttpKeyPair;

static KEY: LazyLock<OhttpKeyPair> =
    LazyLock::new(|| OhttpKeyPair::generate().expect("a key pair"));

fn request() -> InnerRequest {
    InnerRequest {
        method: "POST".into(),
        path_and_query: "/v1/chat/completions".into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"model":"m","messages":[]}"#.to_vec(),
    }
}

/// Flips bytes of `sealed` as `data` says: pairs of (position, mask).
fn mutate(sealed: &mut [u8], data: &[u8]) {
    if sealed.is_empty() {
        return;
    }
    for pair in data.chunks_exact(2) {
        let at = usize::from(pair[0]) * 7 % sealed.len();
        sealed[at] ^= pair[1];
    }
}

fuzz_target!(|data: &[u8]| {
    let config = KEY.server_config().expect("server config");
    let server = ohttp::Server::new(config.clone()).expect("server");

    // The exit on arbitrary bytes.
    let _ = open_single(&server, data);
    let _ = open_stream(&config, data);

    // Sealed, then flipped: fails, or opens to the original.
    let (mut single, pending) = seal_single(KEY.public(), &request()).expect("seal");
    mutate(&mut single, data);
    match open_single(&server, &single) {
        Ok((opened, reply)) => {
            assert_eq!(opened, request(), "a flipped request opened to something else");
            // The client on the exit's real answer, flipped the same way.
            let answer = InnerResponse::json_error(200, "ok");
            let mut sealed = reply.seal(&answer).expect("seal the answer");
            mutate(&mut sealed, data);
            if let Ok(got) = pending.open(&sealed) {
                assert_eq!(got, answer, "a flipped response opened to something else");
            }
        }
        Err(_) => {
            // The client on arbitrary response bytes.
            let _ = pending.open(data);
        }
    }

    let (mut streamed, pending) = seal_stream(KEY.public(), &request()).expect("seal");
    mutate(&mut streamed, data);
    if let Ok((opened, mut reply)) = open_stream(&config, &streamed) {
        assert_eq!(opened, request(), "a flipped streamed request opened to something else");
        let head = ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), b"text/event-stream".to_vec())],
        };
        let mut chunks = vec![reply.head(&head).expect("head")];
        chunks.push(reply.body(b"data: hello\n\n").expect("body"));
        chunks.push(reply.finish().expect("finish"));
        for chunk in &mut chunks {
            mutate(chunk, data);
        }
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok));
        if let Some(Ok(mut response)) = pending.open(stream).now_or_never() {
            assert_eq!(response.head, head, "a flipped head opened to something else");
            let mut body = Vec::new();
            while let Some(Some(piece)) = response.body.next().now_or_never() {
                match piece {
                    Ok(piece) => body.extend_from_slice(&piece),
                    Err(_) => return,
                }
            }
            assert_eq!(body, b"data: hello\n\n", "a flipped body opened to something else");
        }
    } else {
        // The client on arbitrary chunks: split `data` where a zero byte says.
        let chunks: Vec<std::io::Result<Vec<u8>>> =
            data.split(|b| *b == 0).map(|c| Ok(c.to_vec())).collect();
        if let Some(Ok(mut response)) = pending.open(futures_util::stream::iter(chunks)).now_or_never() {
            while let Some(Some(Ok(_))) = response.body.next().now_or_never() {}
        }
    }
});
