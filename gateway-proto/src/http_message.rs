//! The inner HTTP messages carried through OHTTP, encoded as Binary HTTP (RFC 9292).
//!
//! A request travels as one known-length bhttp message. A response travels either as one
//! known-length bhttp message (RFC 9458 exchange) or, when streamed, as a *response head* followed
//! by the raw body bytes: `head length (u32 BE) ‖ bhttp(status, headers; no content) ‖ body…`
//! inside the chunked-OHTTP byte stream, whose authenticated final chunk marks the body's end.

use std::io::Cursor;

use bhttp::{Message, Mode, StatusCode};

/// Most bytes a streamed response head may take.
pub const MAX_HEAD_LEN: usize = 256 * 1024;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus framing headers that
/// each hop recomputes.
pub const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Whether a header must not be forwarded by a proxy.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// A header list in order, names lowercase, multiple values kept.
pub type Headers = Vec<(String, Vec<u8>)>;

/// Why an inner message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The bhttp encoding is malformed.
    #[error("binary http: {0}")]
    Bhttp(#[from] bhttp::Error),
    /// A required part is missing or invalid.
    #[error("invalid message: {0}")]
    Invalid(&'static str),
}

/// An HTTP request as the exit will replay it against its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// Path and query, e.g. `/v1/models?limit=2`.
    pub path_and_query: String,
    /// The headers to forward.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// Status and headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Headers,
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerResponse {
    /// Status and headers.
    pub head: ResponseHead,
    /// The body.
    pub body: Vec<u8>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl InnerRequest {
    /// Encodes as known-length bhttp.
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut m = Message::request(
            self.method.as_bytes().to_vec(),
            b"http".to_vec(),
            Vec::new(),
            self.path_and_query.as_bytes().to_vec(),
        );
        for (n, v) in &self.headers {
            m.put_header(n.as_bytes(), v.clone());
        }
        m.write_content(&self.body);
        let mut out = Vec::with_capacity(self.body.len() + 256);
        m.write_bhttp(Mode::KnownLength, &mut out)?;
        Ok(out)
    }

    /// Decodes a bhttp request.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let m = read_padded(bytes)?;
        let control = m.control();
        let method = control
            .method()
            .ok_or(MessageError::Invalid("not a request"))?;
        let path = control.path().ok_or(MessageError::Invalid("no path"))?;
        if !path.starts_with(b"/") {
            return Err(MessageError::Invalid("path must start with /"));
        }
        Ok(Self {
            method: lossy(method),
            path_and_query: lossy(path),
            headers: m
                .header()
                .iter()
                .map(|f| (lossy(f.name()).to_ascii_lowercase(), f.value().to_vec()))
                .collect(),
            body: m.content().to_vec(),
        })
    }
}

/// A known-length bhttp message followed by nothing but zero padding (RFC 9292 §3.8).
fn read_padded(bytes: &[u8]) -> Result<Message, MessageError> {
    let mut cursor = Cursor::new(bytes);
    let m = Message::read_bhttp(&mut cursor)?;
    let end = usize::try_from(cursor.position()).unwrap_or(bytes.len());
    if !crate::padding::is_padding(bytes.get(end..).unwrap_or_default()) {
        return Err(MessageError::Invalid(
            "bytes after the message that are not padding",
        ));
    }
    Ok(m)
}

fn response_message(head: &ResponseHead) -> Result<Message, MessageError> {
    let status =
        StatusCode::try_from(head.status).map_err(|_| MessageError::Invalid("bad status"))?;
    let mut m = Message::response(status);
    for (n, v) in &head.headers {
        m.put_header(n.as_bytes(), v.clone());
    }
    Ok(m)
}

fn head_of(m: &Message) -> Result<ResponseHead, MessageError> {
    let status = m
        .control()
        .status()
        .ok_or(MessageError::Invalid("not a response"))?;
    Ok(ResponseHead {
        status: status.code(),
        headers: m
            .header()
            .iter()
            .map(|f| (lossy(f.name()).to_ascii_lowercase(), f.value().to_vec()))
            .collect(),
    })
}

impl InnerResponse {
    /// Encodes as known-length bhttp.
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut m = response_message(&self.head)?;
        m.write_content(&self.body);
        let mut out = Vec::with_capacity(self.body.len() + 256);
        m.write_bhttp(Mode::KnownLength, &mut out)?;
        Ok(out)
    }

    /// Decodes a bhttp response.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let m = read_padded(bytes)?;
        Ok(Self {
            head: head_of(&m)?,
            body: m.content().to_vec(),
        })
    }

    /// A JSON error response in the OpenAI error shape.
    pub fn json_error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({
            "error": { "message": message, "type": "tokengo_error", "code": status }
        });
        Self {
            head: ResponseHead {
                status,
                headers: vec![("content-type".into(), b"application/json".to_vec())],
            },
            body: body.to_string().into_bytes(),
        }
    }
}

impl ResponseHead {
    /// `u32 length ‖ bhttp head`, the prefix of a streamed response's plaintext.
    pub fn encode_prefixed(&self) -> Result<Vec<u8>, MessageError> {
        let m = response_message(self)?;
        let mut head = Vec::new();
        m.write_bhttp(Mode::KnownLength, &mut head)?;
        if head.len() > MAX_HEAD_LEN {
            return Err(MessageError::Invalid("response head too large"));
        }
        let mut out = Vec::with_capacity(4 + head.len());
        out.extend_from_slice(&(head.len() as u32).to_be_bytes());
        out.extend_from_slice(&head);
        Ok(out)
    }

    /// Decodes the bhttp head (without the length prefix).
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let m = Message::read_bhttp(&mut Cursor::new(bytes))?;
        if !m.content().is_empty() {
            return Err(MessageError::Invalid("response head carries content"));
        }
        head_of(&m)
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_with_repeated_headers_and_query() {
        let r = InnerRequest {
            method: "POST".into(),
            path_and_query: "/v1/chat/completions?a=1&b=2".into(),
            headers: vec![
                ("x-a".into(), b"1".to_vec()),
                ("x-a".into(), b"2".to_vec()),
                ("content-type".into(), b"application/json".to_vec()),
            ],
            body: b"{\"x\":1}".to_vec(),
        };
        assert_eq!(
            InnerRequest::decode(&r.encode().expect("enc")).expect("dec"),
            r
        );
    }

    #[test]
    fn response_and_head_round_trip() {
        let r = InnerResponse::json_error(401, "nope");
        assert_eq!(
            InnerResponse::decode(&r.encode().expect("enc")).expect("dec"),
            r
        );
        let prefixed = r.head.encode_prefixed().expect("head");
        let len = u32::from_be_bytes([prefixed[0], prefixed[1], prefixed[2], prefixed[3]]);
        assert_eq!(len as usize, prefixed.len() - 4);
        assert_eq!(ResponseHead::decode(&prefixed[4..]).expect("dec"), r.head);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"\x00", b"\x01\x02\x03", b"\xff\xff\xff\xff"] {
            assert!(InnerRequest::decode(junk).is_err());
            assert!(InnerResponse::decode(junk).is_err());
        }
    }
}
