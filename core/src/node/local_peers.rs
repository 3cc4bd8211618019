//! The peers this node vouches for itself: those announced to it, and itself for what it
//! announces.

use super::Node;
use crate::id::Id;
use crate::krpc::Want;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Instant;

impl Node {
    /// Peers we can vouch for locally: those announced to us, and ourselves for what we announce.
    pub(crate) fn local_peers(&mut self, info_hash: &Id, now: Instant) -> Vec<SocketAddr> {
        let start = self.rng.next_u64();
        let mut peers = self
            .store
            .peers(info_hash, now, usize::MAX, start, Want::BOTH);
        if let Some(mut me) = self.self_peer(info_hash) {
            if me.ip().is_unspecified() {
                // We do not know how others reach us, but this host reaches us on loopback.
                me.set_ip(Ipv4Addr::LOCALHOST);
            }
            let me = SocketAddr::V4(me);
            if !peers.contains(&me) {
                peers.insert(0, me);
            }
        }
        peers
    }

    /// Our own entry for an info hash we announce. The IP is unspecified when we do not know
    /// it; in a tagged network the requester reads that as "the node that answered".
    pub(crate) fn self_peer(&self, info_hash: &Id) -> Option<SocketAddrV4> {
        let own = self.announced.get(info_hash)?;
        let port = own
            .port
            .or(self.external.map(|e| e.port()))
            .filter(|p| *p != 0)?;
        let ip = self.external.map_or(Ipv4Addr::UNSPECIFIED, |e| *e.ip());
        Some(SocketAddrV4::new(ip, port))
    }
}
