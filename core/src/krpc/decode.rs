//! Decoding a datagram into a [`Message`] that borrows from it: one pass, no allocation, no
//! recursion.
//!
//! Lenient where real peers are sloppy: keys may come in any order, unknown keys are skipped at
//! every level, transaction ids may have any length (empty included), `v`, `ip` and `ro` of an
//! unexpected type or size are ignored. Strict where safety needs it: canonical integers and
//! string lengths, bounded nesting, no duplicate keys the codec reads, no trailing bytes.
//!
//! A query for a known method whose arguments are missing or malformed decodes to
//! [`Query::Malformed`] rather than failing, so the node can answer error 203 with the right `t`.

use super::error::DecodeError;
use super::message::{
    Body, CompactNodes, ErrorBody, Message, PeerList, Query, Response, peer_from_compact,
};
use super::reader::Reader;
use crate::id::Id;

/// Decodes one KRPC datagram. See [`Message::decode`].
pub fn decode(datagram: &[u8]) -> Result<Message<'_>, DecodeError> {
    let mut r = Reader::new(datagram);
    if r.peek() != Some(b'd') {
        return Err(DecodeError::NotADict);
    }
    r.bump();
    let mut top = TopLevel::default();
    let mut seen = Seen(0);
    while !r.close()? {
        let key = r.bytes()?;
        match key {
            b"t" => {
                seen.mark(0)?;
                top.t = slot_bytes(&mut r)?;
            }
            b"y" => {
                seen.mark(1)?;
                top.y = slot_bytes(&mut r)?;
            }
            b"q" => {
                seen.mark(2)?;
                top.q = slot_bytes(&mut r)?;
            }
            b"a" => {
                seen.mark(3)?;
                top.a = slot_fields(&mut r)?;
            }
            b"r" => {
                seen.mark(4)?;
                top.r = slot_fields(&mut r)?;
            }
            b"e" => {
                seen.mark(5)?;
                top.e = slot_error(&mut r)?;
            }
            b"v" => {
                seen.mark(6)?;
                top.v = slot_bytes(&mut r)?;
            }
            b"ip" => {
                seen.mark(7)?;
                top.ip = slot_bytes(&mut r)?;
            }
            b"ro" => {
                seen.mark(8)?;
                top.ro = slot_int(&mut r, 1)?;
            }
            b"net" => {
                seen.mark(9)?;
                top.net = slot_bytes(&mut r)?;
            }
            _ => r.skip_value(1)?,
        }
    }
    if !r.at_end() {
        return Err(DecodeError::TrailingBytes);
    }
    top.build()
}

impl<'a> Message<'a> {
    /// Decodes one KRPC datagram: zero-copy (the message borrows `datagram`), allocation-free,
    /// without recursion, and without panicking on any input.
    pub fn decode(datagram: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        decode(datagram)
    }
}

/// A field as found: absent, present with the expected bencode type, or present with another.
#[derive(Debug, Clone, Copy, Default)]
enum Slot<T> {
    #[default]
    Absent,
    Present(T),
    WrongType,
}

impl<T> Slot<T> {
    fn present(self) -> Option<T> {
        match self {
            Slot::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// Which known keys of one dictionary have been read, to reject duplicates.
struct Seen(u16);

impl Seen {
    #[inline]
    fn mark(&mut self, index: u16) -> Result<(), DecodeError> {
        let bit = 1 << index;
        if self.0 & bit != 0 {
            return Err(DecodeError::DuplicateKey);
        }
        self.0 |= bit;
        Ok(())
    }
}

/// The top-level keys, gathered before `y` says which ones matter.
#[derive(Default)]
struct TopLevel<'a> {
    t: Slot<&'a [u8]>,
    y: Slot<&'a [u8]>,
    q: Slot<&'a [u8]>,
    a: Slot<Fields<'a>>,
    r: Slot<Fields<'a>>,
    e: Slot<ErrorBody<'a>>,
    v: Slot<&'a [u8]>,
    ip: Slot<&'a [u8]>,
    ro: Slot<i64>,
    net: Slot<&'a [u8]>,
}

/// The keys of a query's `a` or a response's `r` dictionary (one set serves both).
#[derive(Debug, Clone, Copy, Default)]
struct Fields<'a> {
    id: Slot<&'a [u8]>,
    target: Slot<&'a [u8]>,
    info_hash: Slot<&'a [u8]>,
    token: Slot<&'a [u8]>,
    port: Slot<i64>,
    implied_port: Slot<i64>,
    nodes: Slot<&'a [u8]>,
    /// The body of a list whose items are all strings.
    values: Slot<&'a [u8]>,
}

/// Depth of the `a` and `r` dictionaries.
const FIELDS_DEPTH: usize = 2;

fn slot_bytes<'a>(r: &mut Reader<'a>) -> Result<Slot<&'a [u8]>, DecodeError> {
    slot_bytes_at(r, 1)
}

fn slot_bytes_at<'a>(r: &mut Reader<'a>, depth: usize) -> Result<Slot<&'a [u8]>, DecodeError> {
    if let Some(b'0'..=b'9') = r.peek() {
        Ok(Slot::Present(r.bytes()?))
    } else {
        r.skip_value(depth)?;
        Ok(Slot::WrongType)
    }
}

fn slot_int(r: &mut Reader<'_>, depth: usize) -> Result<Slot<i64>, DecodeError> {
    if r.peek() == Some(b'i') {
        Ok(Slot::Present(r.int()?))
    } else {
        r.skip_value(depth)?;
        Ok(Slot::WrongType)
    }
}

/// Reads the `a` or `r` dictionary.
fn slot_fields<'a>(r: &mut Reader<'a>) -> Result<Slot<Fields<'a>>, DecodeError> {
    if r.peek() != Some(b'd') {
        r.skip_value(1)?;
        return Ok(Slot::WrongType);
    }
    r.bump();
    let mut f = Fields::default();
    let mut seen = Seen(0);
    let d = FIELDS_DEPTH;
    while !r.close()? {
        let key = r.bytes()?;
        match key {
            b"id" => {
                seen.mark(0)?;
                f.id = slot_bytes_at(r, d)?;
            }
            b"target" => {
                seen.mark(1)?;
                f.target = slot_bytes_at(r, d)?;
            }
            b"info_hash" => {
                seen.mark(2)?;
                f.info_hash = slot_bytes_at(r, d)?;
            }
            b"token" => {
                seen.mark(3)?;
                f.token = slot_bytes_at(r, d)?;
            }
            b"port" => {
                seen.mark(4)?;
                f.port = slot_int(r, d)?;
            }
            b"implied_port" => {
                seen.mark(5)?;
                f.implied_port = slot_int(r, d)?;
            }
            b"nodes" => {
                seen.mark(6)?;
                f.nodes = slot_bytes_at(r, d)?;
            }
            b"values" => {
                seen.mark(7)?;
                f.values = slot_string_list(r)?;
            }
            _ => r.skip_value(d)?,
        }
    }
    Ok(Slot::Present(f))
}

/// Reads a list that must hold only strings, returning its body (between `l` and `e`).
fn slot_string_list<'a>(r: &mut Reader<'a>) -> Result<Slot<&'a [u8]>, DecodeError> {
    if r.peek() != Some(b'l') {
        r.skip_value(FIELDS_DEPTH)?;
        return Ok(Slot::WrongType);
    }
    r.bump();
    let start = r.position();
    let mut all_strings = true;
    loop {
        match r.peek() {
            Some(b'e') => break,
            Some(b'0'..=b'9') => {
                r.bytes()?;
            }
            Some(_) => {
                all_strings = false;
                r.skip_value(FIELDS_DEPTH + 1)?;
            }
            None => return Err(DecodeError::Truncated),
        }
    }
    let body = r.since(start);
    r.bump();
    Ok(if all_strings {
        Slot::Present(body)
    } else {
        Slot::WrongType
    })
}

/// Reads `e`: a list `[code, message]`; a missing message reads as empty, extra items are
/// skipped.
fn slot_error<'a>(r: &mut Reader<'a>) -> Result<Slot<ErrorBody<'a>>, DecodeError> {
    if r.peek() != Some(b'l') {
        r.skip_value(1)?;
        return Ok(Slot::WrongType);
    }
    r.bump();
    if r.close()? {
        return Ok(Slot::WrongType);
    }
    let code = slot_int(r, 2)?;
    let message = if r.close()? {
        return Ok(match code {
            Slot::Present(code) => Slot::Present(ErrorBody { code, message: b"" }),
            _ => Slot::WrongType,
        });
    } else {
        slot_bytes_at(r, 2)?
    };
    while !r.close()? {
        r.skip_value(2)?;
    }
    Ok(match (code, message) {
        (Slot::Present(code), Slot::Present(message)) => Slot::Present(ErrorBody { code, message }),
        _ => Slot::WrongType,
    })
}

fn id20(slot: Slot<&[u8]>) -> Option<Id> {
    slot.present().and_then(Id::from_slice)
}

impl<'a> TopLevel<'a> {
    fn build(self) -> Result<Message<'a>, DecodeError> {
        let transaction_id = match self.t {
            Slot::Present(t) => t,
            Slot::Absent => return Err(DecodeError::MissingField("t")),
            Slot::WrongType => return Err(DecodeError::InvalidField("t")),
        };
        let network = match self.net {
            Slot::Present(net) => Some(net),
            Slot::Absent => None,
            // A tag we cannot read must not pass for "no tag".
            Slot::WrongType => return Err(DecodeError::InvalidField("net")),
        };
        let requester_ip = match self.ip {
            Slot::Present(ip) if ip.len() == 6 => Some(peer_from_compact(ip)),
            _ => None,
        };
        let body = match self.y {
            Slot::Present(b"q") => Body::Query(self.query()?),
            Slot::Present(b"r") => Body::Response(self.response()?),
            Slot::Present(b"e") => Body::Error(match self.e {
                Slot::Present(e) => e,
                Slot::Absent => return Err(DecodeError::MissingField("e")),
                Slot::WrongType => return Err(DecodeError::InvalidField("e")),
            }),
            Slot::Present(_) => return Err(DecodeError::UnknownMessageType),
            Slot::Absent => return Err(DecodeError::MissingField("y")),
            Slot::WrongType => return Err(DecodeError::InvalidField("y")),
        };
        Ok(Message {
            transaction_id,
            version: self.v.present(),
            requester_ip,
            read_only: matches!(self.ro, Slot::Present(1)),
            network,
            body,
        })
    }

    fn query(&self) -> Result<Query<'a>, DecodeError> {
        let method = match self.q {
            Slot::Present(q) => q,
            Slot::Absent => return Err(DecodeError::MissingField("q")),
            Slot::WrongType => return Err(DecodeError::InvalidField("q")),
        };
        let args = self.a.present().unwrap_or_default();
        let id = id20(args.id);
        let malformed = Query::Malformed { method };
        Ok(match method {
            b"ping" => match id {
                Some(id) => Query::Ping { id },
                None => malformed,
            },
            b"find_node" => match (id, id20(args.target)) {
                (Some(id), Some(target)) => Query::FindNode { id, target },
                _ => malformed,
            },
            b"get_peers" => match (id, id20(args.info_hash)) {
                (Some(id), Some(info_hash)) => Query::GetPeers { id, info_hash },
                _ => malformed,
            },
            b"announce_peer" => {
                let implied_port = matches!(args.implied_port, Slot::Present(n) if n != 0);
                let port = args.port.present().and_then(|p| u16::try_from(p).ok());
                // With implied_port the receiver uses the source port, so `port` may be absent.
                let port = if implied_port {
                    Some(port.unwrap_or(0))
                } else {
                    port
                };
                match (id, id20(args.info_hash), args.token.present(), port) {
                    (Some(id), Some(info_hash), Some(token), Some(port)) => Query::AnnouncePeer {
                        id,
                        info_hash,
                        port,
                        token,
                        implied_port,
                    },
                    _ => malformed,
                }
            }
            _ => Query::Unknown { method, id },
        })
    }

    fn response(&self) -> Result<Response<'a>, DecodeError> {
        let fields = match self.r {
            Slot::Present(f) => f,
            Slot::Absent => return Err(DecodeError::MissingField("r")),
            Slot::WrongType => return Err(DecodeError::InvalidField("r")),
        };
        let id = match fields.id {
            Slot::Present(id) => Id::from_slice(id).ok_or(DecodeError::InvalidField("r.id"))?,
            Slot::Absent => return Err(DecodeError::MissingField("r.id")),
            Slot::WrongType => return Err(DecodeError::InvalidField("r.id")),
        };
        let nodes = match fields.nodes {
            Slot::Present(n) => {
                Some(CompactNodes::new(n).ok_or(DecodeError::InvalidField("nodes"))?)
            }
            Slot::Absent => None,
            Slot::WrongType => return Err(DecodeError::InvalidField("nodes")),
        };
        let values = match fields.values {
            Slot::Present(body) => Some(PeerList::Raw(body)),
            Slot::Absent => None,
            Slot::WrongType => return Err(DecodeError::InvalidField("values")),
        };
        let token = match fields.token {
            Slot::Present(t) => Some(t),
            Slot::Absent => None,
            Slot::WrongType => return Err(DecodeError::InvalidField("token")),
        };
        Ok(Response {
            id,
            nodes,
            values,
            token,
        })
    }
}
