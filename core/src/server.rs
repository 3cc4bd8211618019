//! The server side: answering ping, find_node, get_peers and announce_peer (BEP 44's get and
//! put are answered in `server_items.rs`, BEP 51's sample_infohashes in `server_samples.rs`).
//!
//! Nodes are answered per BEP 32: `nodes` from the IPv4 table and `nodes6` from the IPv6 one,
//! as the query's `want` asks, or in the querier's own family when it does not say; a family
//! this node does not speak is left out. Peers are answered the same way.

use crate::config::Config;
use crate::id::Id;
use crate::krpc::{
    Body, CompactNodes, ErrorBody, Family, Message, NodeInfo, PeerList, Query, Response, Want,
    compact, error_code,
};
use crate::node::{MAX_DATAGRAM, Node, count_method, push_encoded};
use crate::peer_store::Refused;
use crate::rate_limit::Allowance;
use crate::routing::{Insert, is_routable};
use std::net::SocketAddr;
use std::time::Instant;

/// get_peers answers are kept under this size so they cross any path without fragmenting.
pub const MAX_REPLY: usize = 1200;
/// Most peers one get_peers answer carries.
const MAX_VALUES: usize = 100;

impl Node {
    pub(crate) fn handle_query(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        query: &Query<'_>,
    ) {
        let allowance = self.limiter.allow(from, now);
        if allowance == Allowance::Refused {
            self.stats.dropped.over_limit += 1;
            return;
        }
        let sender = match *query {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. }
            | Query::Get { id, .. }
            | Query::Put { id, .. }
            | Query::SampleInfohashes { id, .. } => Some(id),
            Query::Unknown { id, .. } => id,
            Query::Malformed { .. } => None,
        };
        // Only a node that answered one of our queries from this address is known: a query
        // alone proves nothing about its source address. Light senders (a lookup passing by,
        // a client's ping) are answered too; what the shared budget stops is strangers that
        // spend their whole per-IP allowance, however many addresses they flood from.
        let known = sender.is_some_and(|id| {
            self.table_of(&from)
                .get(&id)
                .is_some_and(|e| e.verified && e.addr == from)
        });
        if !known && allowance == Allowance::Heavy && !self.unsolicited.take(now) {
            self.stats.dropped.over_limit += 1;
            return;
        }
        count_method(&mut self.stats.queries_in, query);
        if self.config.read_only {
            // BEP 43: a read-only node answers nothing.
            return;
        }
        if let Some(id) = sender
            && !msg.read_only
            && id != self.id
        {
            // Unverified senders only take free slots; this is how a lone seed grows a table.
            // One that would be among our closest is pinged at once, so that we may hand it
            // out to the lookups that look for it.
            let table = self.table_of_mut(&from);
            if table.on_query(NodeInfo { id, addr: from }, now) == Insert::Added
                && let Some(info) = table.neighbour_to_verify(&id)
            {
                self.ping_for_liveness(now, info);
            }
        }
        match *query {
            Query::Ping { .. } => self.reply(from, msg, Response::with_id(self.id)),
            Query::FindNode { target, want, .. } => {
                let (nodes, nodes6) = self.closest_for(&target, &from, want);
                let response = Response {
                    nodes: nodes.as_deref().and_then(CompactNodes::new),
                    nodes6: nodes6.as_deref().and_then(CompactNodes::new_v6),
                    ..Response::with_id(self.id)
                };
                self.reply(from, msg, response);
            }
            Query::GetPeers {
                info_hash, want, ..
            } => self.answer_get_peers(now, from, msg, info_hash, want),
            Query::AnnouncePeer {
                info_hash,
                port,
                token,
                implied_port,
                ..
            } => {
                if !self.tokens.verify(from.ip(), token) {
                    self.reply_error(from, msg, error_code::PROTOCOL, b"bad token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port == 0 {
                    self.reply_error(from, msg, error_code::PROTOCOL, b"invalid port");
                    return;
                }
                let peer = SocketAddr::new(from.ip(), port);
                if !is_routable(&peer) {
                    self.reply_error(from, msg, error_code::PROTOCOL, b"invalid address");
                    return;
                }
                let stored = self.store.announce(info_hash, peer, now);
                if let Err(refused) = stored {
                    self.stats.dropped.over_limit += 1;
                    let text: &[u8] = match refused {
                        Refused::Full => b"peer store full",
                        Refused::KeysPerIp => b"too many keys from this address",
                    };
                    self.reply_error(from, msg, error_code::SERVER, text);
                    return;
                }
                self.reply(from, msg, Response::with_id(self.id));
            }
            Query::Get {
                target, seq, want, ..
            } => self.answer_get(now, from, msg, target, seq, want),
            Query::Put {
                token,
                value,
                mutable,
                ..
            } => self.answer_put(now, from, msg, token, value, mutable),
            Query::SampleInfohashes { target, want, .. } => {
                self.answer_sample(from, msg, target, want)
            }
            Query::Unknown { .. } => {
                self.reply_error(from, msg, error_code::METHOD_UNKNOWN, b"method unknown")
            }
            Query::Malformed { .. } => {
                self.reply_error(from, msg, error_code::PROTOCOL, b"malformed query")
            }
        }
    }

    /// The compact closest nodes of one family's table.
    pub(crate) fn compact_closest(&self, target: &Id, family: Family) -> Vec<u8> {
        let table = match family {
            Family::V4 => &self.table,
            Family::V6 => &self.table6,
        };
        let mut out = Vec::with_capacity(self.config.k * family.node_len());
        for node in table.closest_for_reply(target, self.config.k) {
            out.extend_from_slice(node.id.as_bytes());
            out.extend_from_slice(compact(&node.addr).as_slice());
        }
        out
    }

    /// The families a querier at `from` gets answers in (see the module docs).
    pub(crate) fn answer_families(&self, from: &SocketAddr, want: Want) -> Want {
        let want = want.resolve(from);
        let ours = self.families();
        Want {
            n4: want.n4 && ours.n4,
            n6: want.n6 && ours.n6,
        }
    }

    /// `nodes` and `nodes6` for an answer to `from` (see the module docs).
    pub(crate) fn closest_for(
        &self,
        target: &Id,
        from: &SocketAddr,
        want: Want,
    ) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let families = self.answer_families(from, want);
        (
            families
                .n4
                .then(|| self.compact_closest(target, Family::V4)),
            families
                .n6
                .then(|| self.compact_closest(target, Family::V6)),
        )
    }

    fn answer_get_peers(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        info_hash: Id,
        want: Want,
    ) {
        let token = self.tokens.issue(from.ip());
        let (nodes, nodes6) = self.closest_for(&info_hash, &from, want);
        let start = self.rng.next_u64();
        let families = self.answer_families(&from, want);
        let mut values = self
            .store
            .peers(&info_hash, now, MAX_VALUES, start, families);
        if let Some(me) = self.self_peer(&info_hash) {
            let me = SocketAddr::V4(me);
            let tagged = self.config.network.tag().is_some();
            // Unspecified, it means "the responder", in whatever family it was asked.
            let ours = tagged || (!me.ip().is_unspecified() && families.n4);
            if ours && !values.contains(&me) {
                values.insert(0, me);
                values.truncate(MAX_VALUES);
            }
        }
        loop {
            let response = Response {
                nodes: nodes.as_deref().and_then(CompactNodes::new),
                nodes6: nodes6.as_deref().and_then(CompactNodes::new_v6),
                values: (!values.is_empty()).then_some(PeerList::Addrs(&values)),
                token: Some(&token),
                ..Response::with_id(self.id)
            };
            let reply = reply_message(&self.config, from, msg, Body::Response(response));
            if push_encoded(&mut self.transmits, from, &reply, MAX_REPLY) {
                self.stats.responses_out += 1;
                return;
            }
            if values.is_empty() {
                // Only an absurdly long transaction id gets here; such a query gets no answer.
                self.stats.dropped.over_limit += 1;
                return;
            }
            values.truncate(values.len() / 2);
        }
    }

    pub(crate) fn reply(&mut self, from: SocketAddr, msg: &Message<'_>, response: Response<'_>) {
        let reply = reply_message(&self.config, from, msg, Body::Response(response));
        if push_encoded(&mut self.transmits, from, &reply, MAX_DATAGRAM) {
            self.stats.responses_out += 1;
        } else {
            self.stats.dropped.over_limit += 1;
        }
    }

    pub(crate) fn reply_error(
        &mut self,
        from: SocketAddr,
        msg: &Message<'_>,
        code: i64,
        text: &[u8],
    ) {
        let reply = reply_message(
            &self.config,
            from,
            msg,
            Body::Error(ErrorBody {
                code,
                message: text,
            }),
        );
        if push_encoded(&mut self.transmits, from, &reply, MAX_DATAGRAM) {
            self.stats.errors_out += 1;
        } else {
            self.stats.dropped.over_limit += 1;
        }
    }
}

/// An answer to `msg`: its transaction id echoed, the requester's address (BEP 42 `ip`), our tag.
pub(crate) fn reply_message<'a>(
    config: &'a Config,
    from: SocketAddr,
    msg: &Message<'a>,
    body: Body<'a>,
) -> Message<'a> {
    Message {
        transaction_id: msg.transaction_id,
        version: config.version.as_ref().map(|v| &v[..]),
        requester_ip: Some(from),
        read_only: false,
        network: config.network.tag(),
        body,
    }
}
