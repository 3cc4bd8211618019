//! The KRPC messages as borrowed serde structs, for the bencode crates we compare against.
//!
//! The structs read the same fields our decoder reads, borrowing every string. They do less
//! checking than ours (no id lengths, no `nodes` multiple of 26, no method-specific arguments)
//! and collect `values` into a `Vec` because serde has no lazy list.

#![allow(dead_code)]

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::fmt;

/// A KRPC message as a borrowed serde struct.
#[derive(Debug, Deserialize)]
pub struct Krpc<'a> {
    #[serde(borrow)]
    pub t: &'a [u8],
    #[serde(borrow)]
    y: &'a [u8],
    #[serde(borrow, default)]
    q: Option<&'a [u8]>,
    #[serde(borrow, default)]
    v: Option<&'a [u8]>,
    #[serde(borrow, default)]
    ip: Option<&'a [u8]>,
    #[serde(default)]
    ro: Option<i64>,
    #[serde(borrow, default)]
    a: Option<Args<'a>>,
    #[serde(borrow, default)]
    r: Option<Ret<'a>>,
    #[serde(borrow, default)]
    e: Option<ErrorPair<'a>>,
}

#[derive(Debug, Deserialize)]
struct Args<'a> {
    #[serde(borrow)]
    id: &'a [u8],
    #[serde(borrow, default)]
    target: Option<&'a [u8]>,
    #[serde(borrow, default)]
    info_hash: Option<&'a [u8]>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    implied_port: Option<i64>,
    #[serde(borrow, default)]
    token: Option<&'a [u8]>,
}

#[derive(Debug, Deserialize)]
struct Ret<'a> {
    #[serde(borrow)]
    id: &'a [u8],
    #[serde(borrow, default)]
    nodes: Option<&'a [u8]>,
    #[serde(borrow, default)]
    values: Option<Vec<&'a [u8]>>,
    #[serde(borrow, default)]
    token: Option<&'a [u8]>,
}

/// `e` = `[code, message]`, read as a sequence to its end (a 2-tuple visitor that stops early
/// trips librqbit-bencode 9.1, which then misreads the rest of the message).
#[derive(Debug)]
struct ErrorPair<'a>(i64, &'a [u8]);

impl<'de: 'a, 'a> Deserialize<'de> for ErrorPair<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairVisitor;
        impl<'de> Visitor<'de> for PairVisitor {
            type Value = ErrorPair<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[code, message]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let code = seq.next_element::<i64>()?.unwrap_or_default();
                let message = seq.next_element::<&'de [u8]>()?.unwrap_or_default();
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ErrorPair(code, message))
            }
        }
        deserializer.deserialize_seq(PairVisitor)
    }
}
