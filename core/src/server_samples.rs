//! The server side of BEP 51: answering `sample_infohashes` with a sample of the info hashes
//! in the peer store, how many it holds, the interval to wait, and the closest nodes.

use crate::id::Id;
use crate::krpc::{CompactNodes, Message, Response, Samples, Want};
use crate::node::Node;
use std::net::SocketAddr;

/// Most info hashes one answer carries (400 bytes, so the answer stays one small datagram).
pub(crate) const MAX_SAMPLES: usize = 20;

impl Node {
    pub(crate) fn answer_sample(
        &mut self,
        from: SocketAddr,
        msg: &Message<'_>,
        target: Id,
        want: Want,
    ) {
        let (nodes, nodes6) = self.closest_for(&target, &from, want);
        let start = self.rng.next_u64();
        let keys = self.store.sample_keys(MAX_SAMPLES, start);
        let samples: Vec<u8> = keys.iter().flat_map(|k| k.0).collect();
        let response = Response {
            nodes: nodes.as_deref().and_then(CompactNodes::new),
            nodes6: nodes6.as_deref().and_then(CompactNodes::new_v6),
            samples: Some(Samples {
                interval: self.config.sample_interval.as_secs().min(i64::MAX as u64) as i64,
                num: self.store.key_count() as i64,
                samples: &samples,
            }),
            ..Response::with_id(self.id)
        };
        self.reply(from, msg, response);
    }
}
