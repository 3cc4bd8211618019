//! Decoding a datagram into a [`Message`] that borrows from it: one pass, no allocation, no
//! recursion.
//!
//! Lenient where real peers are sloppy: keys may come in any order, unknown keys are skipped at
//! every level, transaction ids may have any length (empty included), `v`, `ip` and `ro` of an
//! unexpected type or size are ignored. Strict where safety needs it: canonical integers and
//! string lengths, bounded nesting, no duplicate keys the codec reads, no trailing bytes.
//!
//! A message carries one body dictionary: `a` and `r` together count as a duplicate key. A query
//! for a known method whose arguments are missing or malformed decodes to
//! [`Query::Malformed`] rather than failing, so the node can answer error 203 with the right `t`.

use super::error::DecodeError;
use super::message::{
    Body, CompactNodes, ErrorBody, Family, ItemFields, Message, MutablePut, PeerList, Query,
    Response, Samples, Want, peer_from_compact,
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
    while !r.close()? {
        let key = r.bytes()?;
        top.read_value(&mut r, key)?;
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

/// Bits naming the keys of one dictionary, to reject duplicates and remember wrong types.
type KeySet = u16;

/// Adds `key` to `seen`, failing if it was there.
#[inline(always)]
fn mark(seen: &mut KeySet, key: KeySet) -> Result<(), DecodeError> {
    if *seen & key != 0 {
        return Err(DecodeError::DuplicateKey);
    }
    *seen |= key;
    Ok(())
}

mod top_key {
    use super::KeySet;
    pub const T: KeySet = 1;
    pub const Y: KeySet = 1 << 1;
    pub const Q: KeySet = 1 << 2;
    /// `a` or `r`: a message carries one body dictionary.
    pub const BODY: KeySet = 1 << 3;
    pub const E: KeySet = 1 << 4;
    pub const V: KeySet = 1 << 5;
    pub const IP: KeySet = 1 << 6;
    pub const RO: KeySet = 1 << 7;
    pub const NET: KeySet = 1 << 8;
}

mod field_key {
    use super::KeySet;
    pub const ID: KeySet = 1;
    pub const TARGET: KeySet = 1 << 1;
    pub const INFO_HASH: KeySet = 1 << 2;
    pub const TOKEN: KeySet = 1 << 3;
    pub const PORT: KeySet = 1 << 4;
    pub const IMPLIED_PORT: KeySet = 1 << 5;
    pub const NODES: KeySet = 1 << 6;
    pub const VALUES: KeySet = 1 << 7;
    pub const V: KeySet = 1 << 8;
    pub const K: KeySet = 1 << 9;
    pub const SIG: KeySet = 1 << 10;
    pub const SALT: KeySet = 1 << 11;
    pub const SEQ: KeySet = 1 << 12;
    pub const CAS: KeySet = 1 << 13;
    pub const INTERVAL: KeySet = 1 << 14;
    pub const NUM: KeySet = 1 << 15;
}

/// Keys of the `a`/`r` dictionary past the 16 bits of [`KeySet`].
mod field_key_hi {
    use super::KeySet;
    pub const SAMPLES: KeySet = 1;
    pub const NODES6: KeySet = 1 << 1;
    pub const WANT: KeySet = 1 << 2;
}

/// Which body dictionary a message carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum BodyKey {
    #[default]
    None,
    /// `a`, a query's arguments.
    Args,
    /// `r`, a response's return values.
    Return,
}

/// The top-level keys, gathered before `y` says which ones matter. A key in `wrong` was
/// present with an unexpected bencode type (its value is then `None`).
#[derive(Default)]
struct TopLevel<'a> {
    seen: KeySet,
    wrong: KeySet,
    t: Option<&'a [u8]>,
    y: Option<&'a [u8]>,
    q: Option<&'a [u8]>,
    v: Option<&'a [u8]>,
    ip: Option<&'a [u8]>,
    net: Option<&'a [u8]>,
    ro: Option<i64>,
    e: Option<ErrorBody<'a>>,
    body_key: BodyKey,
    fields: Fields<'a>,
}

/// The keys of a query's `a` or a response's `r` dictionary (one set serves both). A key in
/// `wrong` was present with an unexpected type or shape.
#[derive(Default)]
struct Fields<'a> {
    seen: KeySet,
    wrong: KeySet,
    id: Option<&'a [u8]>,
    target: Option<&'a [u8]>,
    info_hash: Option<&'a [u8]>,
    token: Option<&'a [u8]>,
    nodes: Option<&'a [u8]>,
    /// The body of a list (its items checked well-formed; strings or not).
    values: Option<&'a [u8]>,
    port: Option<i64>,
    implied_port: Option<i64>,
    /// BEP 44 `v`: one whole bencoded value of any type, as sent.
    v: Option<&'a [u8]>,
    k: Option<&'a [u8]>,
    sig: Option<&'a [u8]>,
    salt: Option<&'a [u8]>,
    seq: Option<i64>,
    cas: Option<i64>,
    /// Keys of [`field_key_hi`] seen.
    seen_hi: KeySet,
    interval: Option<i64>,
    num: Option<i64>,
    samples: Option<&'a [u8]>,
    /// BEP 32 `nodes6`.
    nodes6: Option<&'a [u8]>,
    /// Keys of [`field_key_hi`] present with a wrong type.
    wrong_hi: KeySet,
    /// BEP 32 `want`: the body of a list (any items).
    want: Option<&'a [u8]>,
}

/// Depth of the top-level dictionary's values' holder.
const TOP_DEPTH: usize = 1;
/// Depth of the `a` and `r` dictionaries.
pub(crate) const FIELDS_DEPTH: usize = 2;
/// Depth of the items of a response's `values` list.
pub(crate) const VALUES_ITEM_DEPTH: usize = FIELDS_DEPTH + 1;

/// Reads a string, or skips a value of another type and flags `key` in `wrong`.
#[inline(always)]
fn read_bytes<'a>(
    r: &mut Reader<'a>,
    depth: usize,
    wrong: &mut KeySet,
    key: KeySet,
) -> Result<Option<&'a [u8]>, DecodeError> {
    if let Some(b'0'..=b'9') = r.peek() {
        Ok(Some(r.bytes()?))
    } else {
        r.skip_value(depth)?;
        *wrong |= key;
        Ok(None)
    }
}

/// Reads an integer, or skips a value of another type and flags `key` in `wrong`.
#[inline(always)]
fn read_int(
    r: &mut Reader<'_>,
    depth: usize,
    wrong: &mut KeySet,
    key: KeySet,
) -> Result<Option<i64>, DecodeError> {
    if r.peek() == Some(b'i') {
        Ok(Some(r.int()?))
    } else {
        r.skip_value(depth)?;
        *wrong |= key;
        Ok(None)
    }
}

impl<'a> TopLevel<'a> {
    #[inline(always)]
    fn read_value(&mut self, r: &mut Reader<'a>, key: &[u8]) -> Result<(), DecodeError> {
        use top_key::*;
        let d = TOP_DEPTH;
        let w = &mut self.wrong;
        match *key {
            [b't'] => {
                mark(&mut self.seen, T)?;
                self.t = read_bytes(r, d, w, T)?;
            }
            [b'y'] => {
                mark(&mut self.seen, Y)?;
                self.y = read_bytes(r, d, w, Y)?;
            }
            [b'q'] => {
                mark(&mut self.seen, Q)?;
                self.q = read_bytes(r, d, w, Q)?;
            }
            [b'a'] | [b'r'] => {
                mark(&mut self.seen, BODY)?;
                self.body_key = if key == b"a" {
                    BodyKey::Args
                } else {
                    BodyKey::Return
                };
                if r.peek() == Some(b'd') {
                    r.bump();
                    self.fields.read(r)?;
                } else {
                    r.skip_value(d)?;
                    *w |= BODY;
                }
            }
            [b'e'] => {
                mark(&mut self.seen, E)?;
                self.e = read_error(r)?;
                if self.e.is_none() {
                    *w |= E;
                }
            }
            [b'v'] => {
                mark(&mut self.seen, V)?;
                self.v = read_bytes(r, d, w, V)?;
            }
            [b'i', b'p'] => {
                mark(&mut self.seen, IP)?;
                self.ip = read_bytes(r, d, w, IP)?;
            }
            [b'r', b'o'] => {
                mark(&mut self.seen, RO)?;
                self.ro = read_int(r, d, w, RO)?;
            }
            [b'n', b'e', b't'] => {
                mark(&mut self.seen, NET)?;
                self.net = read_bytes(r, d, w, NET)?;
            }
            _ => r.skip_value(d)?,
        }
        Ok(())
    }

    #[inline(always)]
    fn build(&self) -> Result<Message<'a>, DecodeError> {
        use top_key::*;
        let transaction_id = self.required(self.t, T, "t")?;
        if self.wrong & NET != 0 {
            // A tag we cannot read must not pass for "no tag".
            return Err(DecodeError::InvalidField("net"));
        }
        let requester_ip = self.ip.and_then(peer_from_compact);
        let body = match self.required(self.y, Y, "y")? {
            b"q" => Body::Query(self.query()?),
            b"r" => Body::Response(self.response()?),
            b"e" => Body::Error(self.required(self.e.clone(), E, "e")?),
            _ => return Err(DecodeError::UnknownMessageType),
        };
        Ok(Message {
            transaction_id,
            version: self.v,
            requester_ip,
            read_only: self.ro == Some(1),
            network: self.net,
            body,
        })
    }

    /// A required top-level field: missing and mistyped are told apart.
    #[inline(always)]
    fn required<T>(
        &self,
        value: Option<T>,
        key: KeySet,
        name: &'static str,
    ) -> Result<T, DecodeError> {
        match value {
            Some(v) => Ok(v),
            None if self.wrong & key != 0 => Err(DecodeError::InvalidField(name)),
            None => Err(DecodeError::MissingField(name)),
        }
    }

    #[inline(always)]
    fn query(&self) -> Result<Query<'a>, DecodeError> {
        let method = self.required(self.q, top_key::Q, "q")?;
        let empty = Fields::default();
        let args = if self.body_key == BodyKey::Args {
            &self.fields
        } else {
            &empty
        };
        let id = args.id.and_then(Id::from_slice);
        // A `want` we cannot read reads as unsaid: the querier then gets its own family.
        let want = args.want.map_or(Want::UNSAID, Want::from_list_body);
        let malformed = Query::Malformed { method };
        Ok(match method {
            b"ping" => match id {
                Some(id) => Query::Ping { id },
                None => malformed,
            },
            b"find_node" => match (id, args.target.and_then(Id::from_slice)) {
                (Some(id), Some(target)) => Query::FindNode { id, target, want },
                _ => malformed,
            },
            b"get_peers" => match (id, args.info_hash.and_then(Id::from_slice)) {
                (Some(id), Some(info_hash)) => Query::GetPeers {
                    id,
                    info_hash,
                    want,
                },
                _ => malformed,
            },
            b"announce_peer" => {
                let implied_port = args.implied_port.is_some_and(|n| n != 0);
                let port = args.port.and_then(|p| u16::try_from(p).ok());
                // With implied_port the receiver uses the source port, so `port` may be absent.
                let port = if implied_port {
                    Some(port.unwrap_or(0))
                } else {
                    port
                };
                match (
                    id,
                    args.info_hash.and_then(Id::from_slice),
                    args.token,
                    port,
                ) {
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
            b"get" => match (id, args.target.and_then(Id::from_slice)) {
                (Some(id), Some(target)) if args.wrong & field_key::SEQ == 0 => Query::Get {
                    id,
                    target,
                    seq: args.seq,
                    want,
                },
                _ => malformed,
            },
            b"sample_infohashes" => match (id, args.target.and_then(Id::from_slice)) {
                (Some(id), Some(target)) => Query::SampleInfohashes { id, target, want },
                _ => malformed,
            },
            b"put" => match (id, args.token, args.v) {
                (Some(id), Some(token), Some(value)) => match args.mutable_put() {
                    Ok(mutable) => Query::Put {
                        id,
                        token,
                        value,
                        mutable,
                    },
                    Err(()) => malformed,
                },
                _ => malformed,
            },
            _ => Query::Unknown { method, id },
        })
    }

    #[inline(always)]
    fn response(&self) -> Result<Response<'a>, DecodeError> {
        use field_key::*;
        if self.body_key != BodyKey::Return {
            return Err(match self.body_key {
                BodyKey::None if self.wrong & top_key::BODY == 0 => DecodeError::MissingField("r"),
                _ => DecodeError::InvalidField("r"),
            });
        }
        let f = &self.fields;
        let id = match f.id {
            Some(id) => Id::from_slice(id).ok_or(DecodeError::InvalidField("r.id"))?,
            None if f.wrong & ID != 0 => return Err(DecodeError::InvalidField("r.id")),
            None => return Err(DecodeError::MissingField("r.id")),
        };
        if f.wrong_hi & field_key_hi::NODES6 != 0 {
            return Err(DecodeError::InvalidField("nodes6"));
        }
        if f.wrong & (NODES | VALUES | TOKEN) != 0 {
            return Err(DecodeError::InvalidField(if f.wrong & NODES != 0 {
                "nodes"
            } else if f.wrong & VALUES != 0 {
                "values"
            } else {
                "token"
            }));
        }
        // A ragged `nodes` (a truncated last entry) keeps its whole entries, as libtorrent reads it.
        let nodes = f.nodes.map(|n| CompactNodes::whole_entries(n, Family::V4));
        let nodes6 = f.nodes6.map(|n| CompactNodes::whole_entries(n, Family::V6));
        // Item fields of the wrong type or size read as absent: such an item is unusable, and
        // the rest of the answer (nodes, token) still serves the lookup.
        let item = ItemFields {
            value: f.v,
            key: f.k.and_then(|k| k.try_into().ok()),
            signature: f.sig.and_then(|s| s.try_into().ok()),
            seq: f.seq,
        };
        // A sample counts only whole: interval, num and samples, each of its type.
        let samples = match (f.interval, f.num, f.samples) {
            (Some(interval), Some(num), Some(samples)) => Some(Samples {
                interval,
                num,
                samples: samples
                    .get(..samples.len() - samples.len() % 20)
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Response {
            id,
            nodes,
            nodes6,
            values: f.values.map(PeerList::Raw),
            token: f.token,
            item,
            samples,
        })
    }
}

impl<'a> Fields<'a> {
    /// Reads the dictionary's items; the cursor is past its `d`.
    #[inline(always)]
    fn read(&mut self, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        use field_key::*;
        let d = FIELDS_DEPTH;
        while !r.close()? {
            let key = r.bytes()?;
            let w = &mut self.wrong;
            // Dispatch on the length first: each comparison is then a fixed-size load.
            match (key.len(), key) {
                (2, b"id") => {
                    mark(&mut self.seen, ID)?;
                    self.id = read_bytes(r, d, w, ID)?;
                }
                (5, b"token") => {
                    mark(&mut self.seen, TOKEN)?;
                    self.token = read_bytes(r, d, w, TOKEN)?;
                }
                (5, b"nodes") => {
                    mark(&mut self.seen, NODES)?;
                    self.nodes = read_bytes(r, d, w, NODES)?;
                }
                (6, b"values") => {
                    mark(&mut self.seen, VALUES)?;
                    self.values = read_list_body(r)?;
                    if self.values.is_none() {
                        *w |= VALUES;
                    }
                }
                (6, b"target") => {
                    mark(&mut self.seen, TARGET)?;
                    self.target = read_bytes(r, d, w, TARGET)?;
                }
                (9, b"info_hash") => {
                    mark(&mut self.seen, INFO_HASH)?;
                    self.info_hash = read_bytes(r, d, w, INFO_HASH)?;
                }
                (4, b"port") => {
                    mark(&mut self.seen, PORT)?;
                    self.port = read_int(r, d, w, PORT)?;
                }
                (12, b"implied_port") => {
                    mark(&mut self.seen, IMPLIED_PORT)?;
                    self.implied_port = read_int(r, d, w, IMPLIED_PORT)?;
                }
                (1, b"v") => {
                    mark(&mut self.seen, V)?;
                    let start = r.position();
                    r.skip_value(d)?;
                    self.v = Some(r.since(start));
                }
                (1, b"k") => {
                    mark(&mut self.seen, K)?;
                    self.k = read_bytes(r, d, w, K)?;
                }
                (3, b"sig") => {
                    mark(&mut self.seen, SIG)?;
                    self.sig = read_bytes(r, d, w, SIG)?;
                }
                (4, b"salt") => {
                    mark(&mut self.seen, SALT)?;
                    self.salt = read_bytes(r, d, w, SALT)?;
                }
                (3, b"seq") => {
                    mark(&mut self.seen, SEQ)?;
                    self.seq = read_int(r, d, w, SEQ)?;
                }
                (3, b"cas") => {
                    mark(&mut self.seen, CAS)?;
                    self.cas = read_int(r, d, w, CAS)?;
                }
                (8, b"interval") => {
                    mark(&mut self.seen, INTERVAL)?;
                    self.interval = read_int(r, d, w, INTERVAL)?;
                }
                (3, b"num") => {
                    mark(&mut self.seen, NUM)?;
                    self.num = read_int(r, d, w, NUM)?;
                }
                (7, b"samples") => {
                    mark(&mut self.seen_hi, field_key_hi::SAMPLES)?;
                    let mut ignored = 0;
                    self.samples = read_bytes(r, d, &mut ignored, 1)?;
                }
                (6, b"nodes6") => {
                    mark(&mut self.seen_hi, field_key_hi::NODES6)?;
                    let wh = &mut self.wrong_hi;
                    self.nodes6 = read_bytes(r, d, wh, field_key_hi::NODES6)?;
                }
                (4, b"want") => {
                    mark(&mut self.seen_hi, field_key_hi::WANT)?;
                    self.want = read_list_body(r)?;
                }
                _ => r.skip_value(d)?,
            }
        }
        Ok(())
    }
}

impl<'a> Fields<'a> {
    /// The mutable fields of a `put`: `Ok(None)` without `k` (an immutable put, whose other
    /// item fields are ignored), `Err` when `k` is there but the rest is missing or malformed.
    fn mutable_put(&self) -> Result<Option<MutablePut<'a>>, ()> {
        use field_key::*;
        if self.k.is_none() && self.wrong & K == 0 {
            return Ok(None);
        }
        if self.wrong & (SALT | CAS) != 0 {
            return Err(());
        }
        let key = self.k.and_then(|k| k.try_into().ok()).ok_or(())?;
        let signature = self.sig.and_then(|s| s.try_into().ok()).ok_or(())?;
        let seq = self.seq.ok_or(())?;
        Ok(Some(MutablePut {
            key,
            signature,
            seq,
            salt: self.salt,
            cas: self.cas,
        }))
    }
}

/// Reads a list and returns its body (between `l` and `e`); `None` when the value is not a
/// list. Items that are not strings are kept in the body; the peer iterator skips them, as it
/// skips strings of the wrong length, so that one bad entry does not cost the good ones.
#[inline(always)]
fn read_list_body<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    if r.peek() != Some(b'l') {
        r.skip_value(FIELDS_DEPTH)?;
        return Ok(None);
    }
    r.bump();
    let start = r.position();
    loop {
        match r.peek() {
            Some(b'e') => break,
            Some(b'0'..=b'9') => {
                r.bytes()?;
            }
            Some(_) => r.skip_value(VALUES_ITEM_DEPTH)?,
            None => return Err(DecodeError::Truncated),
        }
    }
    let body = r.since(start);
    r.bump();
    Ok(Some(body))
}

/// Reads `e`: a list `[code, message]`; a missing message reads as empty, extra items are
/// skipped. `None` when the value has another shape.
fn read_error<'a>(r: &mut Reader<'a>) -> Result<Option<ErrorBody<'a>>, DecodeError> {
    if r.peek() != Some(b'l') {
        r.skip_value(TOP_DEPTH)?;
        return Ok(None);
    }
    r.bump();
    if r.close()? {
        return Ok(None);
    }
    let mut wrong = 0;
    let code = read_int(r, 2, &mut wrong, 1)?;
    let message = if r.close()? {
        return Ok(code.map(|code| ErrorBody { code, message: b"" }));
    } else {
        read_bytes(r, 2, &mut wrong, 1)?
    };
    while !r.close()? {
        r.skip_value(2)?;
    }
    Ok(code
        .zip(message)
        .map(|(code, message)| ErrorBody { code, message }))
}
