//! Encoding a [`Message`] as canonical bencode (keys sorted, optional fields only when present)
//! into a caller's buffer.

use super::decode::{FIELDS_DEPTH, VALUES_ITEM_DEPTH};
use super::error::EncodeError;
use super::message::{Body, ErrorBody, Message, MutablePut, PeerList, Query, Response, Want};
use super::reader::Reader;
use std::net::SocketAddr;

impl Message<'_> {
    /// Writes the message into `buf` and returns how many bytes it took. Never panics: a
    /// buffer that is too small gives [`EncodeError::BufferTooSmall`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer {
            buf,
            pos: 0,
            measure: false,
        };
        self.write(&mut w)?;
        Ok(w.pos)
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let mut w = Writer {
            buf: &mut [],
            pos: 0,
            measure: true,
        };
        self.write(&mut w)?;
        Ok(w.pos)
    }

    /// Encodes into a new vector of exactly the right size.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![0; self.encoded_len()?];
        let len = self.encode(&mut out)?;
        out.truncate(len);
        Ok(out)
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        // Top-level keys in sorted order: a e ip net q r ro t v y.
        w.put(b"d")?;
        match &self.body {
            Body::Query(query) => write_args(w, query)?,
            Body::Error(ErrorBody { code, message }) => {
                w.put(b"1:el")?;
                w.int(*code)?;
                w.string(message)?;
                w.put(b"e")?;
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = self.requester_ip {
            w.put(b"2:ip")?;
            w.string(compact(&ip).as_slice())?;
        }
        if let Some(net) = self.network {
            w.put(b"3:net")?;
            w.string(net)?;
        }
        match &self.body {
            Body::Query(query) => {
                w.put(b"1:q")?;
                w.string(query.method())?;
            }
            Body::Response(response) => write_response(w, response)?,
            Body::Error(_) => {}
        }
        if self.read_only {
            w.put(b"2:roi1e")?;
        }
        w.put(b"1:t")?;
        w.string(self.transaction_id)?;
        if let Some(version) = self.version {
            w.put(b"1:v")?;
            w.string(version)?;
        }
        w.put(match self.body {
            Body::Query(_) => b"1:y1:q",
            Body::Response(_) => b"1:y1:r",
            Body::Error(_) => b"1:y1:e",
        })?;
        w.put(b"e")
    }
}

impl Query<'_> {
    /// The method name (`q`).
    pub fn method(&self) -> &[u8] {
        match self {
            Query::Ping { .. } => b"ping",
            Query::FindNode { .. } => b"find_node",
            Query::GetPeers { .. } => b"get_peers",
            Query::AnnouncePeer { .. } => b"announce_peer",
            Query::Get { .. } => b"get",
            Query::Put { .. } => b"put",
            Query::SampleInfohashes { .. } => b"sample_infohashes",
            Query::Unknown { method, .. } | Query::Malformed { method } => method,
        }
    }
}

/// Writes `a` (keys sorted: cas id implied_port info_hash k port salt seq sig target token v
/// want).
/// A malformed query and an unknown one without an id carry no arguments.
fn write_args(w: &mut Writer<'_>, query: &Query<'_>) -> Result<(), EncodeError> {
    match query {
        Query::Ping { id } | Query::Unknown { id: Some(id), .. } => {
            w.put(b"1:ad2:id20:")?;
            w.put(&id.0)?;
        }
        Query::FindNode { id, target, want } | Query::SampleInfohashes { id, target, want } => {
            w.put(b"1:ad2:id20:")?;
            w.put(&id.0)?;
            w.put(b"6:target20:")?;
            w.put(&target.0)?;
            write_want(w, want)?;
        }
        Query::GetPeers {
            id,
            info_hash,
            want,
        } => {
            w.put(b"1:ad2:id20:")?;
            w.put(&id.0)?;
            w.put(b"9:info_hash20:")?;
            w.put(&info_hash.0)?;
            write_want(w, want)?;
        }
        Query::AnnouncePeer {
            id,
            info_hash,
            port,
            token,
            implied_port,
        } => {
            w.put(b"1:ad2:id20:")?;
            w.put(&id.0)?;
            if *implied_port {
                w.put(b"12:implied_porti1e")?;
            }
            w.put(b"9:info_hash20:")?;
            w.put(&info_hash.0)?;
            w.put(b"4:port")?;
            w.int(i64::from(*port))?;
            w.put(b"5:token")?;
            w.string(token)?;
        }
        Query::Get {
            id,
            target,
            seq,
            want,
        } => {
            w.put(b"1:ad2:id20:")?;
            w.put(&id.0)?;
            if let Some(seq) = seq {
                w.put(b"3:seq")?;
                w.int(*seq)?;
            }
            w.put(b"6:target20:")?;
            w.put(&target.0)?;
            write_want(w, want)?;
        }
        Query::Put {
            id,
            token,
            value,
            mutable,
        } => {
            w.put(b"1:ad")?;
            if let Some(MutablePut { cas: Some(cas), .. }) = mutable {
                w.put(b"3:cas")?;
                w.int(*cas)?;
            }
            w.put(b"2:id20:")?;
            w.put(&id.0)?;
            if let Some(m) = mutable {
                w.put(b"1:k32:")?;
                w.put(&m.key)?;
                if let Some(salt) = m.salt {
                    w.put(b"4:salt")?;
                    w.string(salt)?;
                }
                w.put(b"3:seq")?;
                w.int(m.seq)?;
                w.put(b"3:sig64:")?;
                w.put(&m.signature)?;
            }
            w.put(b"5:token")?;
            w.string(token)?;
            w.put(b"1:v")?;
            w.value(value)?;
        }
        Query::Unknown { id: None, .. } | Query::Malformed { .. } => return Ok(()),
    }
    w.put(b"e")
}

/// Writes `want` when it says something (BEP 32).
fn write_want(w: &mut Writer<'_>, want: &Want) -> Result<(), EncodeError> {
    if !want.is_said() {
        return Ok(());
    }
    w.put(b"4:wantl")?;
    if want.n4 {
        w.put(b"2:n4")?;
    }
    if want.n6 {
        w.put(b"2:n6")?;
    }
    w.put(b"e")
}

/// Writes `r` (keys sorted: id interval k nodes nodes6 num samples seq sig token v values).
fn write_response(w: &mut Writer<'_>, response: &Response<'_>) -> Result<(), EncodeError> {
    let item = &response.item;
    w.put(b"1:rd2:id20:")?;
    w.put(&response.id.0)?;
    if let Some(samples) = &response.samples {
        w.put(b"8:interval")?;
        w.int(samples.interval)?;
    }
    if let Some(key) = item.key {
        w.put(b"1:k32:")?;
        w.put(&key)?;
    }
    if let Some(nodes) = response.nodes {
        w.put(b"5:nodes")?;
        w.string(nodes.as_bytes())?;
    }
    if let Some(nodes6) = response.nodes6 {
        w.put(b"6:nodes6")?;
        w.string(nodes6.as_bytes())?;
    }
    if let Some(samples) = &response.samples {
        w.put(b"3:num")?;
        w.int(samples.num)?;
        w.put(b"7:samples")?;
        w.string(samples.samples)?;
    }
    if let Some(seq) = item.seq {
        w.put(b"3:seq")?;
        w.int(seq)?;
    }
    if let Some(signature) = item.signature {
        w.put(b"3:sig64:")?;
        w.put(&signature)?;
    }
    if let Some(token) = response.token {
        w.put(b"5:token")?;
        w.string(token)?;
    }
    if let Some(value) = item.value {
        w.put(b"1:v")?;
        w.value(value)?;
    }
    match response.values {
        Some(PeerList::Raw(body)) => {
            w.put(b"6:valuesl")?;
            if is_string_list_body(body) {
                w.put(body)?;
            } else {
                // A decoded list with items that are not strings: only its strings go out.
                let mut r = Reader::new(body);
                while !r.at_end() {
                    if matches!(r.peek(), Some(b'0'..=b'9')) {
                        let item = r.bytes().map_err(|_| EncodeError::InvalidPeerList)?;
                        w.string(item)?;
                    } else {
                        r.skip_value(VALUES_ITEM_DEPTH)
                            .map_err(|_| EncodeError::InvalidPeerList)?;
                    }
                }
            }
            w.put(b"e")?;
        }
        Some(PeerList::Addrs(addrs)) => {
            w.put(b"6:valuesl")?;
            for addr in addrs {
                w.string(compact(addr).as_slice())?;
            }
            w.put(b"e")?;
        }
        None => {}
    }
    w.put(b"e")
}

/// `true` when `body` is a sequence of canonical byte strings and nothing else.
fn is_string_list_body(body: &[u8]) -> bool {
    let mut r = Reader::new(body);
    while !r.at_end() {
        if !matches!(r.peek(), Some(b'0'..=b'9')) || r.bytes().is_err() {
            return false;
        }
    }
    true
}

/// `true` when `bytes` is exactly one well-formed bencoded value, nested no deeper than a
/// decoded `v` may be.
pub(crate) fn is_one_value(bytes: &[u8]) -> bool {
    let mut r = Reader::new(bytes);
    r.skip_value(FIELDS_DEPTH).is_ok() && r.at_end()
}

/// The compact form of an address and port: 6 bytes for IPv4, 18 for IPv6.
pub(crate) fn compact(addr: &SocketAddr) -> Compact {
    let mut out = Compact {
        bytes: [0; 18],
        len: 0,
    };
    let port = addr.port().to_be_bytes();
    match addr {
        SocketAddr::V4(a) => {
            out.bytes[..4].copy_from_slice(&a.ip().octets());
            out.bytes[4..6].copy_from_slice(&port);
            out.len = 6;
        }
        SocketAddr::V6(a) => {
            out.bytes[..16].copy_from_slice(&a.ip().octets());
            out.bytes[16..18].copy_from_slice(&port);
            out.len = 18;
        }
    }
    out
}

/// A compact address on the stack (see [`compact`]).
pub(crate) struct Compact {
    bytes: [u8; 18],
    len: usize,
}

impl Compact {
    /// The compact bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Appends to the caller's buffer, or only counts bytes when measuring.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    measure: bool,
}

impl Writer<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        if !self.measure {
            self.buf
                .get_mut(self.pos..end)
                .ok_or(EncodeError::BufferTooSmall)?
                .copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }

    /// Writes `<len>:<bytes>`.
    #[inline]
    fn string(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let mut digits = [0u8; 20];
        self.put(decimal(bytes.len() as u64, &mut digits))?;
        self.put(b":")?;
        self.put(bytes)
    }

    /// Writes one whole bencoded value as it is, after checking that it is one.
    fn value(&mut self, value: &[u8]) -> Result<(), EncodeError> {
        if !is_one_value(value) {
            return Err(EncodeError::InvalidValue);
        }
        self.put(value)
    }

    /// Writes `i<value>e`.
    fn int(&mut self, value: i64) -> Result<(), EncodeError> {
        let mut digits = [0u8; 20];
        self.put(b"i")?;
        if value < 0 {
            self.put(b"-")?;
        }
        self.put(decimal(value.unsigned_abs(), &mut digits))?;
        self.put(b"e")
    }
}

/// Formats `n` in decimal at the end of `out` and returns the digits.
fn decimal(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut start = out.len();
    loop {
        start -= 1;
        out[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &out[start..];
        }
    }
}
