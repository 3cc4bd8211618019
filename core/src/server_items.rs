//! The server side of BEP 44: answering `get` and `put`.
//!
//! A `get` is answered with a write token and the closest nodes whether or not an item is
//! stored, so that other clients' storage lookups (mainline's before every put, announce_peer
//! included) find us. A `put` is checked in this order: value size (205), salt size (207),
//! token (203), signature (206), then the store's `cas` (301) and sequence number (302) rules
//! and its bounds (202).

use crate::id::Id;
use crate::item::{Item, MAX_SALT_LEN, MAX_VALUE_LEN, MutableItem, Value};
use crate::krpc::{
    Body, CompactNodes, ItemFields, Message, MutablePut, Response, Want, error_code,
};
use crate::node::{MAX_DATAGRAM, Node, push_encoded};
use crate::server::reply_message;
use crate::storage::PutRefused;
use std::net::SocketAddr;
use std::time::Instant;

impl Node {
    pub(crate) fn answer_get(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        target: Id,
        seq: Option<i64>,
        want: Want,
    ) {
        let token = self.tokens.issue(from.ip());
        let (nodes, nodes6) = self.closest_for(&target, &from, want);
        let stored = self.items.get(&target, now).cloned();
        let item = match &stored {
            None => ItemFields::default(),
            Some(Item::Immutable(value)) => ItemFields {
                value: Some(value.as_bytes()),
                ..ItemFields::default()
            },
            // The querier has this one or a newer one: only say which we hold.
            Some(Item::Mutable(m)) if seq.is_some_and(|have| m.seq() <= have) => ItemFields {
                seq: Some(m.seq()),
                ..ItemFields::default()
            },
            Some(Item::Mutable(m)) => ItemFields {
                value: Some(m.value().as_bytes()),
                key: Some(*m.key()),
                signature: Some(*m.signature()),
                seq: Some(m.seq()),
            },
        };
        // An item near 1000 bytes and 8 nodes may not fit one datagram: the item goes first.
        let with_nodes = (
            nodes.as_deref().and_then(CompactNodes::new),
            nodes6.as_deref().and_then(CompactNodes::new_v6),
        );
        for (nodes, nodes6) in [with_nodes, (None, None)] {
            let response = Response {
                nodes,
                nodes6,
                token: Some(&token),
                item,
                ..Response::with_id(self.id)
            };
            let reply = reply_message(&self.config, from, msg, Body::Response(response));
            if push_encoded(&mut self.transmits, from, &reply, MAX_DATAGRAM) {
                self.stats.responses_out += 1;
                return;
            }
        }
        self.stats.dropped.over_limit += 1;
    }

    pub(crate) fn answer_put(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        token: &[u8],
        value: &[u8],
        mutable: Option<MutablePut<'_>>,
    ) {
        if value.len() > MAX_VALUE_LEN {
            return self.reply_error(from, msg, error_code::VALUE_TOO_BIG, b"value too big");
        }
        let salt = mutable.and_then(|m| m.salt).unwrap_or_default();
        if salt.len() > MAX_SALT_LEN {
            return self.reply_error(from, msg, error_code::SALT_TOO_BIG, b"salt too big");
        }
        if !self.tokens.verify(from.ip(), token) {
            return self.reply_error(from, msg, error_code::PROTOCOL, b"bad token");
        }
        let Ok(value) = Value::new(value) else {
            return self.reply_error(from, msg, error_code::PROTOCOL, b"invalid value");
        };
        let item = match mutable {
            None => Item::Immutable(value),
            Some(m) => match MutableItem::from_parts(m.key, salt, m.seq, value, m.signature) {
                Ok(item) => Item::Mutable(item),
                Err(_) => {
                    return self.reply_error(
                        from,
                        msg,
                        error_code::INVALID_SIGNATURE,
                        b"invalid signature",
                    );
                }
            },
        };
        let cas = mutable.and_then(|m| m.cas);
        match self.items.put(item, cas, from.ip(), now) {
            Ok(()) => self.reply(from, msg, Response::with_id(self.id)),
            Err(PutRefused::CasMismatch) => {
                self.reply_error(from, msg, error_code::CAS_MISMATCH, b"cas mismatch")
            }
            Err(PutRefused::SeqLessThanCurrent) => self.reply_error(
                from,
                msg,
                error_code::SEQ_LESS_THAN_CURRENT,
                b"sequence number less than current",
            ),
            Err(refused) => {
                self.stats.dropped.over_limit += 1;
                let text: &[u8] = match refused {
                    PutRefused::ItemsPerIp => b"too many items from this address",
                    _ => b"item store full",
                };
                self.reply_error(from, msg, error_code::SERVER, text)
            }
        }
    }
}
