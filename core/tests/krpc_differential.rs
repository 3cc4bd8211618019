//! Differential test against `bt_bencode` (a dev-dependency only): on generated messages, on
//! mutations of the realistic samples, and on random bytes, whenever our decoder accepts a
//! datagram, `bt_bencode` parses it as the same bencode structure and every field we read
//! agrees; well-formed canonical messages are accepted by both.
//!
//! `bt_bencode` panics on some inputs we reject (a `usize::MAX` length) and recurses without a
//! bound, so it only ever sees inputs our decoder has accepted, or canonical ones.

mod krpc_model;
mod krpc_support;

use bt_bencode::Value;
use bt_bencode::value::Number;
use krpc_model::owned_message;
use proptest::prelude::*;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4};
use tokengo_core::krpc::{Body, Message, Query, Want, decode};

fn dict_get<'v>(value: &'v Value, key: &[u8]) -> Option<&'v Value> {
    match value {
        Value::Dict(map) => map
            .iter()
            .find(|(k, _)| k.as_slice() == key)
            .map(|(_, v)| v),
        _ => None,
    }
}

fn str_of(value: Option<&Value>) -> Option<&[u8]> {
    match value {
        Some(Value::ByteStr(s)) => Some(s.as_slice()),
        _ => None,
    }
}

fn int_of(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::Int(Number::Signed(n))) => Some(*n),
        Some(Value::Int(Number::Unsigned(n))) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// Checks that `ours` says what `theirs` says, field by field.
fn agree(datagram: &[u8], ours: &Message<'_>) -> Result<(), TestCaseError> {
    let theirs: Value = bt_bencode::from_slice(datagram).map_err(|e| {
        TestCaseError::fail(format!(
            "bt_bencode rejects what we accept ({e}): {}",
            datagram.escape_ascii()
        ))
    })?;
    prop_assert_eq!(str_of(dict_get(&theirs, b"t")), Some(ours.transaction_id));
    prop_assert_eq!(str_of(dict_get(&theirs, b"v")), ours.version);
    prop_assert_eq!(str_of(dict_get(&theirs, b"net")), ours.network);
    prop_assert_eq!(int_of(dict_get(&theirs, b"ro")) == Some(1), ours.read_only);
    let ip = str_of(dict_get(&theirs, b"ip")).filter(|ip| ip.len() == 6 || ip.len() == 18);
    prop_assert_eq!(
        ip.map(<[u8]>::to_vec),
        ours.requester_ip.map(|a| compact(&a).to_vec())
    );
    match &ours.body {
        Body::Query(q) => {
            prop_assert_eq!(str_of(dict_get(&theirs, b"y")), Some(&b"q"[..]));
            prop_assert_eq!(str_of(dict_get(&theirs, b"q")), Some(q.method()));
            let a = dict_get(&theirs, b"a");
            let arg = |k: &[u8]| a.and_then(|a| str_of(dict_get(a, k)));
            let their_want = || want_of(a.and_then(|a| dict_get(a, b"want")));
            match q {
                Query::Ping { id } => prop_assert_eq!(arg(b"id"), Some(&id.0[..])),
                Query::FindNode { id, target, want } => {
                    prop_assert_eq!(arg(b"id"), Some(&id.0[..]));
                    prop_assert_eq!(arg(b"target"), Some(&target.0[..]));
                    prop_assert_eq!(their_want(), *want);
                }
                Query::GetPeers {
                    id,
                    info_hash,
                    want,
                } => {
                    prop_assert_eq!(arg(b"id"), Some(&id.0[..]));
                    prop_assert_eq!(arg(b"info_hash"), Some(&info_hash.0[..]));
                    prop_assert_eq!(their_want(), *want);
                }
                Query::AnnouncePeer {
                    id,
                    info_hash,
                    port,
                    token,
                    implied_port,
                } => {
                    prop_assert_eq!(arg(b"id"), Some(&id.0[..]));
                    prop_assert_eq!(arg(b"info_hash"), Some(&info_hash.0[..]));
                    prop_assert_eq!(arg(b"token"), Some(*token));
                    let implied = a.and_then(|a| int_of(dict_get(a, b"implied_port")));
                    prop_assert_eq!(implied.is_some_and(|n| n != 0), *implied_port);
                    if !implied_port {
                        prop_assert_eq!(
                            a.and_then(|a| int_of(dict_get(a, b"port"))),
                            Some(i64::from(*port))
                        );
                    }
                }
                Query::SampleInfohashes { id, target, want } => {
                    prop_assert_eq!(arg(b"id"), Some(&id.0[..]));
                    prop_assert_eq!(arg(b"target"), Some(&target.0[..]));
                    prop_assert_eq!(their_want(), *want);
                }
                Query::Get {
                    id,
                    target,
                    seq,
                    want,
                } => {
                    prop_assert_eq!(arg(b"id"), Some(&id.0[..]));
                    prop_assert_eq!(arg(b"target"), Some(&target.0[..]));
                    prop_assert_eq!(a.and_then(|a| int_of(dict_get(a, b"seq"))), *seq);
                    prop_assert_eq!(their_want(), *want);
                }
                Query::Put {
                    id,
                    token,
                    value,
                    mutable,
                } => {
                    prop_assert_eq!(arg(b"id"), Some(&id.0[..]));
                    prop_assert_eq!(arg(b"token"), Some(*token));
                    same_value(a.and_then(|a| dict_get(a, b"v")), Some(value))?;
                    if let Some(m) = mutable {
                        prop_assert_eq!(arg(b"k"), Some(&m.key[..]));
                        prop_assert_eq!(arg(b"sig"), Some(&m.signature[..]));
                        prop_assert_eq!(arg(b"salt"), m.salt);
                        let int = |k: &[u8]| a.and_then(|a| int_of(dict_get(a, k)));
                        prop_assert_eq!(int(b"seq"), Some(m.seq));
                        prop_assert_eq!(int(b"cas"), m.cas);
                    }
                }
                Query::Unknown { id, .. } => {
                    let their_id = arg(b"id").filter(|id| id.len() == 20);
                    prop_assert_eq!(their_id, id.as_ref().map(|id| &id.0[..]));
                }
                Query::Malformed { .. } => {}
            }
        }
        Body::Response(r) => {
            prop_assert_eq!(str_of(dict_get(&theirs, b"y")), Some(&b"r"[..]));
            let rv = dict_get(&theirs, b"r");
            let field = |k: &[u8]| rv.and_then(|rv| dict_get(rv, k));
            prop_assert_eq!(str_of(field(b"id")), Some(&r.id.0[..]));
            // A ragged `nodes` is read as its whole 26-byte entries.
            let whole = |n: &[u8]| n.len() - n.len() % 26;
            prop_assert_eq!(
                str_of(field(b"nodes")).map(|n| &n[..whole(n)]),
                r.nodes.map(|n| n.as_bytes())
            );
            let whole6 = |n: &[u8]| n.len() - n.len() % 38;
            prop_assert_eq!(
                str_of(field(b"nodes6")).map(|n| &n[..whole6(n)]),
                r.nodes6.map(|n| n.as_bytes())
            );
            prop_assert_eq!(str_of(field(b"token")), r.token);
            let their_values: Option<Vec<SocketAddr>> = match field(b"values") {
                Some(Value::List(items)) => Some(
                    items
                        .iter()
                        .filter_map(|v| str_of(Some(v)))
                        .filter_map(addr_of)
                        .collect(),
                ),
                _ => None,
            };
            prop_assert_eq!(their_values, r.values.map(|v| v.iter().collect::<Vec<_>>()));
            same_value(field(b"v"), r.item.value)?;
            let sized = |k: &[u8], len: usize| str_of(field(k)).filter(|s| s.len() == len);
            prop_assert_eq!(sized(b"k", 32), r.item.key.as_ref().map(|k| &k[..]));
            prop_assert_eq!(sized(b"sig", 64), r.item.signature.as_ref().map(|s| &s[..]));
            prop_assert_eq!(int_of(field(b"seq")), r.item.seq);
            if let Some(samples) = &r.samples {
                prop_assert_eq!(int_of(field(b"interval")), Some(samples.interval));
                prop_assert_eq!(int_of(field(b"num")), Some(samples.num));
                let theirs = str_of(field(b"samples")).unwrap_or_default();
                prop_assert_eq!(&theirs[..theirs.len() - theirs.len() % 20], samples.samples);
            }
        }
        Body::Error(e) => {
            prop_assert_eq!(str_of(dict_get(&theirs, b"y")), Some(&b"e"[..]));
            let Some(Value::List(items)) = dict_get(&theirs, b"e") else {
                return Err(TestCaseError::fail("e is not a list for bt_bencode"));
            };
            prop_assert_eq!(int_of(items.first()), Some(e.code));
            prop_assert_eq!(str_of(items.get(1)).unwrap_or_default(), e.message);
        }
    }
    Ok(())
}

/// Our raw `v` parses, for `bt_bencode`, to the value it parsed in place.
fn same_value(theirs: Option<&Value>, ours: Option<&[u8]>) -> Result<(), TestCaseError> {
    let ours: Option<Value> = match ours {
        Some(raw) => Some(
            bt_bencode::from_slice(raw)
                .map_err(|e| TestCaseError::fail(format!("our raw v does not parse: {e}")))?,
        ),
        None => None,
    };
    prop_assert_eq!(theirs, ours.as_ref());
    Ok(())
}

fn compact(a: &SocketAddr) -> Vec<u8> {
    let mut out = match a.ip() {
        std::net::IpAddr::V4(ip) => ip.octets().to_vec(),
        std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend_from_slice(&a.port().to_be_bytes());
    out
}

/// A compact peer as bt_bencode's string: 6 bytes IPv4, 18 bytes IPv6, else none.
fn addr_of(s: &[u8]) -> Option<SocketAddr> {
    match s.len() {
        6 => Some(SocketAddr::V4(SocketAddrV4::new(
            [s[0], s[1], s[2], s[3]].into(),
            u16::from_be_bytes([s[4], s[5]]),
        ))),
        18 => {
            let ip: [u8; 16] = s[..16].try_into().ok()?;
            let port = u16::from_be_bytes([s[16], s[17]]);
            Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
        }
        _ => None,
    }
}

/// `want` as bt_bencode parsed it: the strings n4 and n6 of a list.
fn want_of(value: Option<&Value>) -> Want {
    let mut want = Want::UNSAID;
    if let Some(Value::List(items)) = value {
        for item in items {
            match str_of(Some(item)) {
                Some(b"n4") => want.n4 = true,
                Some(b"n6") => want.n6 = true,
                _ => {}
            }
        }
    }
    want
}

/// One edit of a datagram.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = data.len().max(1);
        match edit {
            Edit::Set(i, b) => {
                if let Some(slot) = data.get_mut(i % len) {
                    *slot = *b;
                }
            }
            Edit::Insert(i, bytes) => {
                let at = (i % len).min(data.len());
                data.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(i, n) => {
                let at = (i % len).min(data.len());
                let end = (at + n % 8).min(data.len());
                data.drain(at..end);
            }
        }
    }
    data
}

/// Bytes that are likely to keep a datagram bencode-shaped.
fn token_byte() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(&b"0123456789ilde:-"[..]), any::<u8>(),]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), token_byte()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), prop::collection::vec(token_byte(), 1..6))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Edit::Remove(i, n)),
        // Splice in whole bencoded pieces.
        (
            any::<usize>(),
            prop::sample::select(vec![
                &b"2:zzi5e"[..],
                b"1:xle",
                b"1:xde",
                b"2:ro",
                b"i1e",
                b"i-1e",
                b"3:abc",
                b"2:id20:aaaaaaaaaaaaaaaaaaaa",
                b"l6:abcdefe",
            ])
        )
            .prop_map(|(i, b)| Edit::Insert(i, b.to_vec())),
    ]
}

fn sample() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(krpc_support::all_messages())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_samples_agree(base in sample(), edits in prop::collection::vec(edit(), 1..4)) {
        let datagram = apply(base, &edits);
        if let Ok(ours) = decode(&datagram) {
            agree(&datagram, &ours)?;
        }
    }

    #[test]
    fn random_bytes_agree(datagram in prop::collection::vec(token_byte(), 0..64)) {
        if let Ok(ours) = decode(&datagram) {
            agree(&datagram, &ours)?;
        }
    }

    #[test]
    fn canonical_messages_are_accepted_by_both(
        owned in owned_message().prop_filter(
            // bt_bencode 0.8 rejects the valid integer i64::MIN.
            "bt_bencode cannot read i64::MIN",
            |m| !matches!(m.body, krpc_model::OwnedBody::Error { code: i64::MIN, .. }),
        )
    ) {
        let message = owned.view();
        let bytes = message.to_vec().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ours = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        agree(&bytes, &ours)?;
    }
}

#[test]
fn samples_agree() {
    for sample in krpc_support::all_messages() {
        let ours = decode(&sample).expect("sample decodes");
        agree(&sample, &ours).expect("agree");
    }
}
