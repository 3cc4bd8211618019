//! BEP 44 client commands: getting and putting immutable and mutable items. A get is an
//! iterative `get` lookup; a put is the same lookup followed by `put` to the closest nodes
//! that gave a write token (the announce phase of an announce, with another query).

use super::Node;
use crate::event::{LookupKind, QueryId};
use crate::id::Id;
use crate::item::{Item, ItemError, MAX_SALT_LEN, MutableItem, Value, mutable_target};
use crate::krpc::{MutablePut, Query, Response};
use crate::lookup::AnnouncePhase;
use std::time::Instant;

/// Bound: BEP 44 error codes kept per put (one per node asked, at most k of them).
const MAX_REFUSALS: usize = 32;

/// What a get looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// A value whose SHA-1 is the target.
    Immutable,
    /// An item signed by `key` under `salt`.
    Mutable { key: [u8; 32], salt: Vec<u8> },
}

/// One get or put in progress.
#[derive(Debug, Clone)]
pub(crate) struct ItemOp {
    pub wanted: Wanted,
    /// The best item found so far.
    pub found: Option<Item>,
    /// The item to put once the lookup is done, with its `cas`.
    pub put: Option<(Item, Option<i64>)>,
    /// Error codes of nodes that refused the put.
    pub refused: Vec<i64>,
}

impl Node {
    /// Looks up the immutable item stored under `target` (the SHA-1 of its value); ends with
    /// [`Event::GetDone`](crate::Event::GetDone), as soon as a node returns the value.
    pub fn get_immutable(&mut self, now: Instant, target: Id) -> QueryId {
        self.start_item_op(now, LookupKind::Get, target, Wanted::Immutable, None)
    }

    /// Looks up the mutable item of `key` under `salt` (empty for none); ends with
    /// [`Event::GetDone`](crate::Event::GetDone) carrying the valid item with the highest
    /// sequence number any node returned.
    pub fn get_mutable(
        &mut self,
        now: Instant,
        key: [u8; 32],
        salt: &[u8],
    ) -> Result<QueryId, ItemError> {
        if salt.len() > MAX_SALT_LEN {
            return Err(ItemError::SaltTooBig);
        }
        let wanted = Wanted::Mutable {
            key,
            salt: salt.to_vec(),
        };
        let target = mutable_target(&key, salt);
        Ok(self.start_item_op(now, LookupKind::Get, target, wanted, None))
    }

    /// Stores `value` as an immutable item: a get lookup of its target, then `put` to the
    /// closest nodes that gave a token; ends with [`Event::PutDone`](crate::Event::PutDone).
    pub fn put_immutable(&mut self, now: Instant, value: Value) -> QueryId {
        let item = Item::Immutable(value);
        let target = item.target();
        self.start_item_op(
            now,
            LookupKind::Put,
            target,
            Wanted::Immutable,
            Some((item, None)),
        )
    }

    /// Stores a signed mutable item (with `cas`, only where the stored item has that sequence
    /// number); ends with [`Event::PutDone`](crate::Event::PutDone).
    pub fn put_mutable(&mut self, now: Instant, item: MutableItem, cas: Option<i64>) -> QueryId {
        let wanted = Wanted::Mutable {
            key: *item.key(),
            salt: item.salt().to_vec(),
        };
        let item = Item::Mutable(item);
        let target = item.target();
        self.start_item_op(now, LookupKind::Put, target, wanted, Some((item, cas)))
    }

    fn start_item_op(
        &mut self,
        now: Instant,
        kind: LookupKind,
        target: Id,
        wanted: Wanted,
        put: Option<(Item, Option<i64>)>,
    ) -> QueryId {
        let query = self.next_query_id();
        self.item_ops.insert(
            query,
            ItemOp {
                wanted,
                found: None,
                put,
                refused: Vec::new(),
            },
        );
        self.start_lookup(now, query, kind, target, &[]);
        if kind == LookupKind::Put
            && let Some(lookup) = self.lookups.get_mut(&query)
        {
            lookup.announce = Some(AnnouncePhase {
                port: None,
                outstanding: 0,
                accepted: 0,
                started: false,
            });
            self.advance(now, query);
        }
        query
    }

    /// Takes the item a `get` answer carries, if it is the one wanted and valid. An immutable
    /// get ends at the first valid value.
    pub(super) fn on_item_response(&mut self, now: Instant, query: QueryId, r: &Response<'_>) {
        let Some(lookup) = self.lookups.get(&query) else {
            return;
        };
        let (kind, target) = (lookup.kind, lookup.target);
        let Some(op) = self.item_ops.get_mut(&query) else {
            return;
        };
        let Some(value) = r.item.value.and_then(|v| Value::new(v).ok()) else {
            return;
        };
        let item = match &op.wanted {
            Wanted::Immutable => {
                let item = Item::Immutable(value);
                if item.target() != target {
                    return;
                }
                item
            }
            Wanted::Mutable { key, salt } => {
                let (Some(k), Some(sig), Some(seq)) = (r.item.key, r.item.signature, r.item.seq)
                else {
                    return;
                };
                if k != *key {
                    return;
                }
                let Ok(item) = MutableItem::from_parts(k, salt, seq, value, sig) else {
                    return;
                };
                if op
                    .found
                    .as_ref()
                    .and_then(Item::seq)
                    .is_some_and(|best| best >= seq)
                {
                    return;
                }
                Item::Mutable(item)
            }
        };
        let immutable = matches!(item, Item::Immutable(_));
        op.found = Some(item);
        if immutable
            && kind == LookupKind::Get
            && let Some(lookup) = self.lookups.remove(&query)
        {
            self.finish(now, lookup);
        }
    }

    /// The `put` query for one node of a put, with the token it gave.
    pub(super) fn put_query<'a>(&self, put: &'a (Item, Option<i64>), token: &'a [u8]) -> Query<'a> {
        let (item, cas) = put;
        let mutable = match item {
            Item::Immutable(_) => None,
            Item::Mutable(m) => Some(MutablePut {
                key: *m.key(),
                signature: *m.signature(),
                seq: m.seq(),
                salt: (!m.salt().is_empty()).then_some(m.salt()),
                cas: *cas,
            }),
        };
        Query::Put {
            id: self.id,
            token,
            value: item.value().as_bytes(),
            mutable,
        }
    }

    /// Records a node's refusal of a put.
    pub(super) fn put_refused(&mut self, query: QueryId, code: i64) {
        if let Some(op) = self.item_ops.get_mut(&query)
            && op.refused.len() < MAX_REFUSALS
        {
            op.refused.push(code);
        }
    }
}
