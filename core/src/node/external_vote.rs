//! BEP 42 on Mainline: once our external address is elected ([`crate::vote`]: several distinct
//! responders agree), a restart under a secure id derived from it when the id we have is not
//! one.

use super::Node;
use crate::config::Network;
use crate::routing::RoutingTable;
use crate::secure_id::{is_exempt, is_secure, secure_id};
use std::net::Ipv4Addr;
use std::time::Instant;

impl Node {
    /// On Mainline with secure ids on, moves to a secure id when `ip`, our elected external
    /// address, is one our id is not secure for.
    pub(super) fn on_external_elected(&mut self, now: Instant, ip: Ipv4Addr) {
        if self.config.network != Network::Mainline || !self.config.secure_ids {
            return;
        }
        if is_exempt(ip) || is_secure(&self.id, ip) {
            return;
        }
        let id = secure_id(ip, self.rng.bytes20());
        self.restart_with_id(now, id);
    }

    /// Takes `id` as our node id: both routing tables (IPv4 and IPv6) are rebuilt around it,
    /// with the old contacts as questionable ones (they must answer again to count as good).
    fn restart_with_id(&mut self, now: Instant, id: crate::id::Id) {
        let config = super::table_config(&self.config);
        for table in [&mut self.table, &mut self.table6] {
            let contacts = table.closest(&self.id, usize::MAX);
            self.stats.nodes_refused_insecure += table.refused_insecure();
            *table = RoutingTable::new(id, config, now);
            for contact in contacts {
                if contact.id != id {
                    table.on_query(contact, now);
                }
            }
        }
        self.id = id;
        self.stats.id_changes += 1;
    }
}
