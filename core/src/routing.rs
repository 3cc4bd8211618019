//! The Kademlia routing table: K-buckets over the 160-bit XOR metric that split only around our
//! own id, with a replacement cache per bucket and BEP 5's good / questionable / bad states.
//!
//! With a BEP 42 policy other than `Off` (Mainline), nodes whose id is secure for their address
//! are preferred, or required: see [`SecureIdPolicy`].
//!
//! Bounds: at most 160 buckets of `k` nodes plus `replacement_cache` replacements each, and at
//! most `max_nodes_per_ip` nodes per IP address (loopback addresses excepted).

use crate::id::Id;
use crate::krpc::NodeInfo;
use crate::rtt::RttEstimate;
use crate::secure_id::{SecureIdPolicy, is_secure_node};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Whether `addr` can be a DHT node or peer: a port, and an IP that names one host (not
/// 0.0.0.0/8, multicast or the broadcast address; for IPv6 not `::`, multicast or an
/// IPv4-mapped address, which names an IPv4 host in the wrong table). Others never enter a
/// table, a lookup or a peer list.
pub fn is_routable(addr: &SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    match addr.ip() {
        IpAddr::V4(ip) => ip.octets()[0] != 0 && !ip.is_multicast() && !ip.is_broadcast(),
        IpAddr::V6(ip) => {
            !ip.is_unspecified() && !ip.is_multicast() && ip.to_ipv4_mapped().is_none()
        }
    }
}

/// How a node stands, per BEP 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Answered one of our queries recently (or answered once and queried us recently).
    Good,
    /// Not heard from lately, never answered yet, or failed once.
    Questionable,
    /// Failed to answer `max_failures` queries in a row.
    Bad,
}

/// One routing-table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The node's id.
    pub id: Id,
    /// The node's address.
    pub addr: SocketAddr,
    /// Last response from it, or last query from it once it has ever answered.
    pub last_seen: Instant,
    /// Whether it ever answered one of our queries.
    pub verified: bool,
    /// Queries in a row it failed to answer.
    pub failures: u8,
    /// A liveness ping to it is in flight.
    pub pinging: bool,
    /// A lookup's request to it passed its short timeout unanswered, and has neither been
    /// answered nor failed since: the next lookups do not start from it.
    pub overdue: bool,
    /// Round-trip times of its answers to our queries.
    pub rtt: Option<RttEstimate>,
    /// Its id is BEP 42-secure for its address (see [`is_secure_node`]).
    pub secure: bool,
    /// Known only because an answer named it ([`RoutingTable::on_named`]): never heard from,
    /// so pinged for liveness after the nodes that were.
    pub named: bool,
}

impl Entry {
    fn new(info: NodeInfo, now: Instant, verified: bool) -> Self {
        Entry {
            id: info.id,
            addr: info.addr,
            last_seen: now,
            verified,
            failures: 0,
            pinging: false,
            overdue: false,
            rtt: None,
            secure: is_secure_node(&info.id, &info.addr),
            named: false,
        }
    }

    /// The node's state at `now`.
    pub fn state(&self, now: Instant, stale_after: Duration, max_failures: u8) -> NodeState {
        if self.failures >= max_failures {
            NodeState::Bad
        } else if self.verified
            && self.failures == 0
            && now.saturating_duration_since(self.last_seen) < stale_after
        {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }

    /// The entry as a compact node info.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.id,
            addr: self.addr,
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    nodes: Vec<Entry>,
    /// Candidates to step in when a node goes bad; most recently heard last.
    replacements: Vec<Entry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Bucket {
            nodes: Vec::new(),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// Table tunables (a subset of the node's config).
#[derive(Debug, Clone, Copy)]
pub struct TableConfig {
    /// Nodes per bucket (K).
    pub k: usize,
    /// Entries in each bucket's replacement cache.
    pub replacement_cache: usize,
    /// Nodes in the table sharing one IP address.
    pub max_nodes_per_ip: usize,
    /// A node not heard from in this long is questionable.
    pub stale_after: Duration,
    /// Failed queries in a row after which a node is bad.
    pub max_failures: u8,
    /// What BEP 42 secure ids count for.
    pub secure_ids: SecureIdPolicy,
    /// Whether the four farthest buckets hold more than `k` (see [`FAR_BUCKET_FACTORS`]).
    pub wide_far_buckets: bool,
}

/// With [`TableConfig::wide_far_buckets`], buckets 0 to 3 hold 16, 8, 4 and 2 times `k`: half
/// of all lookups start in bucket 0, and 128 nodes there instead of 8 put the first request
/// about four bits nearer its target, one round trip fewer.
pub const FAR_BUCKET_FACTORS: [usize; 4] = [16, 8, 4, 2];

/// How we came to know of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// It answered one of our queries.
    Answer,
    /// It sent us a query.
    Query,
    /// An answer named it.
    Named,
}

/// What inserting a node led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Now in the table (or already there, refreshed).
    Added,
    /// Parked in the replacement cache; the table wants `ping` checked first.
    Parked {
        /// The bucket's longest-silent questionable node, for the caller to ping (it is now
        /// marked as being pinged); should it turn bad, a replacement takes its slot.
        ping: Option<NodeInfo>,
    },
    /// Not kept (full bucket of good nodes, per-IP cap, our own id, an address clash, an
    /// address that is not routable, an id not secure under [`SecureIdPolicy::Enforce`]).
    Rejected,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: Id,
    config: TableConfig,
    buckets: Vec<Bucket>,
    refused_insecure: u64,
}

impl RoutingTable {
    /// An empty table around `own`.
    pub fn new(own: Id, config: TableConfig, now: Instant) -> Self {
        RoutingTable {
            own,
            config,
            buckets: vec![Bucket::new(now)],
            refused_insecure: 0,
        }
    }

    /// Our own id.
    pub fn own_id(&self) -> Id {
        self.own
    }

    /// How many nodes bucket `index` holds. The last bucket (the one around our own id) holds
    /// k until it splits, whatever its index: a table of one wide bucket would never split.
    fn capacity(&self, index: usize) -> usize {
        match FAR_BUCKET_FACTORS.get(index) {
            Some(factor) if self.config.wide_far_buckets && index + 1 < self.buckets.len() => {
                self.config.k * factor
            }
            _ => self.config.k,
        }
    }

    fn bucket_index(&self, id: &Id) -> usize {
        (self.own.common_prefix_len(id) as usize).min(self.buckets.len() - 1)
    }

    /// Number of nodes in the table (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// `true` when the table holds no node.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.nodes.is_empty())
    }

    /// Number of parked replacements.
    pub fn replacement_count(&self) -> usize {
        self.buckets.iter().map(|b| b.replacements.len()).sum()
    }

    /// Times a node was kept out because its id is not secure for its address (only under
    /// [`SecureIdPolicy::Enforce`]); a node heard from twice counts twice.
    pub fn refused_insecure(&self) -> u64 {
        self.refused_insecure
    }

    fn prefers_secure(&self) -> bool {
        self.config.secure_ids != SecureIdPolicy::Off
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// All table entries.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// The entry for `id`, if in the table.
    pub fn get(&self, id: &Id) -> Option<&Entry> {
        self.buckets[self.bucket_index(id)]
            .nodes
            .iter()
            .find(|e| e.id == *id)
    }

    /// State of an entry.
    pub fn state(&self, entry: &Entry, now: Instant) -> NodeState {
        entry.state(now, self.config.stale_after, self.config.max_failures)
    }

    /// Whether a table node has `addr` itself, and how many share its IP: one pass over the
    /// table, which a newcomer costs.
    fn census(&self, addr: &SocketAddr) -> (bool, usize) {
        let ip = addr.ip();
        let (mut taken, mut on_ip) = (false, 0);
        for e in self.entries() {
            if e.addr.ip() == ip {
                on_ip += 1;
                taken |= e.addr == *addr;
            }
        }
        (taken, on_ip)
    }

    /// Whether one more node at `addr`, whose IP `on_ip` nodes already have, passes the cap.
    fn over_ip_cap(&self, addr: &SocketAddr, on_ip: usize) -> bool {
        // Loopback peers are local test and development networks, where every node shares one IP
        // and no remote party can mint addresses.
        !addr.ip().is_loopback() && on_ip >= self.config.max_nodes_per_ip
    }

    /// Records that `info` answered one of our queries (it becomes good).
    pub fn on_response(&mut self, info: NodeInfo, now: Instant) -> Insert {
        self.heard(info, now, Heard::Answer)
    }

    /// Records that `info` sent us a query. Unverified senders only take free slots.
    pub fn on_query(&mut self, info: NodeInfo, now: Instant) -> Insert {
        self.heard(info, now, Heard::Query)
    }

    /// Records that an answer to one of our queries named `info`. Only a free slot of a wide
    /// far bucket takes it, unverified and marked [`Entry::named`]: those buckets are too
    /// large to fill from the nodes that talk to us. Such a node is handed out only when too
    /// few verified ones are known, is pinged only once no node heard from waits for a ping,
    /// and yields its slot to any node that answers us.
    pub fn on_named(&mut self, info: NodeInfo, now: Instant) -> Insert {
        let index = self.bucket_index(&info.id);
        // A known node stays as it is: being named again says nothing of its liveness, and
        // `heard` would count it as heard from.
        if self.capacity(index) <= self.config.k || self.get(&info.id).is_some() {
            return Insert::Rejected;
        }
        self.heard(info, now, Heard::Named)
    }

    fn heard(&mut self, info: NodeInfo, now: Instant, how: Heard) -> Insert {
        let responded = how == Heard::Answer;
        if info.id == self.own || !is_routable(&info.addr) {
            return Insert::Rejected;
        }
        if self.config.secure_ids == SecureIdPolicy::Enforce
            && !is_secure_node(&info.id, &info.addr)
        {
            self.refused_insecure = self.refused_insecure.saturating_add(1);
            return Insert::Rejected;
        }
        let index = self.bucket_index(&info.id);
        let bucket = &mut self.buckets[index];
        if let Some(entry) = bucket.nodes.iter_mut().find(|e| e.id == info.id) {
            if entry.addr != info.addr {
                // Someone else claims a known id: keep the node we know.
                return Insert::Rejected;
            }
            entry.named = false;
            if responded {
                // Any answer settles a liveness ping in flight: it may be pinged again later.
                entry.pinging = false;
                entry.overdue = false;
                entry.verified = true;
                entry.failures = 0;
                entry.last_seen = now;
                bucket.last_changed = now;
            } else if entry.verified {
                entry.last_seen = now;
            }
            return Insert::Added;
        }
        if !responded && self.has_no_room_for_unverified(index, how) {
            // Decided by one bucket, without the table-wide address and per-IP scans below.
            return Insert::Rejected;
        }
        let (mut taken, mut on_ip) = self.census(&info.addr);
        if taken {
            if !responded {
                // A query's source address can be forged: it does not unseat a known node.
                return Insert::Rejected;
            }
            // An answer to our query came from this address under a new id (a restart with a
            // fresh id): the old id is gone, and keeping it would hand out a zombie.
            self.forget_addr(&info.addr, now);
            (taken, on_ip) = self.census(&info.addr);
            debug_assert!(!taken, "forget_addr leaves no node at the address");
        }
        if self.over_ip_cap(&info.addr, on_ip) {
            return Insert::Rejected;
        }
        let mut entry = Entry::new(info, now, responded);
        entry.named = how == Heard::Named;
        self.insert_entry(index, entry, how, now)
    }

    /// How many nodes bucket `index` takes from `how`: a query's sender only fills the first
    /// k slots, as in a table without wide buckets, so that the liveness pings that verify
    /// senders are not spread over the wide buckets' extra slots; named nodes fill those.
    fn room_for(&self, index: usize, how: Heard) -> usize {
        match how {
            Heard::Query => self.config.k,
            Heard::Answer | Heard::Named => self.capacity(index),
        }
    }

    /// Whether bucket `index` would turn away an unverified newcomer: full, unable to split,
    /// and holding no bad node to replace.
    fn has_no_room_for_unverified(&self, index: usize, how: Heard) -> bool {
        let last = self.buckets.len() - 1;
        let bucket = &self.buckets[index];
        bucket.nodes.len() >= self.room_for(index, how)
            && !(index == last && last < 159)
            && bucket
                .nodes
                .iter()
                .all(|e| e.failures < self.config.max_failures)
    }

    /// Drops every entry (node or replacement) at `addr`; a bucket that loses a node takes its
    /// freshest replacement instead.
    fn forget_addr(&mut self, addr: &SocketAddr, now: Instant) {
        let mut emptied = Vec::new();
        for (i, bucket) in self.buckets.iter_mut().enumerate() {
            bucket.replacements.retain(|r| r.addr != *addr);
            let before = bucket.nodes.len();
            bucket.nodes.retain(|e| e.addr != *addr);
            if bucket.nodes.len() < before {
                bucket.last_changed = now;
                emptied.push(i);
            }
        }
        for i in emptied {
            if let Some(r) = self.replacement_for(i, None, false) {
                let bucket = &mut self.buckets[i];
                let replacement = bucket.replacements.remove(r);
                bucket.nodes.push(replacement);
            }
        }
    }

    /// The freshest replacement in bucket `index` that may become a node without passing the
    /// per-IP cap or sharing a node's address, once the node at `leaving` (if any) has left.
    /// Preferring secure ids, the freshest secure one comes first; with `only_secure`, only a
    /// secure one will do.
    fn replacement_for(
        &self,
        index: usize,
        leaving: Option<&SocketAddr>,
        only_secure: bool,
    ) -> Option<usize> {
        let eligible = |r: &Entry| {
            // A node already at that address (another id there) would be a duplicate, unless
            // it is the one leaving.
            let (taken, on_ip) = self.census(&r.addr);
            let taken = taken && Some(&r.addr) != leaving;
            let freed = leaving.is_some_and(|l| l.ip() == r.addr.ip());
            !taken && !self.over_ip_cap(&r.addr, on_ip - usize::from(freed))
        };
        let freshest = |secure_only: bool| {
            self.buckets[index]
                .replacements
                .iter()
                .enumerate()
                .rev()
                .find(|(_, r)| (!secure_only || r.secure) && eligible(r))
                .map(|(i, _)| i)
        };
        if only_secure || self.prefers_secure() {
            freshest(true).or_else(|| if only_secure { None } else { freshest(false) })
        } else {
            freshest(false)
        }
    }

    fn insert_entry(&mut self, mut index: usize, entry: Entry, how: Heard, now: Instant) -> Insert {
        loop {
            let last = self.buckets.len() - 1;
            if self.buckets[index].nodes.len() < self.room_for(index, how) {
                let bucket = &mut self.buckets[index];
                bucket.replacements.retain(|r| r.id != entry.id);
                bucket.nodes.push(entry);
                bucket.last_changed = now;
                return Insert::Added;
            }
            if index == last && last < 159 {
                self.split_last(now);
                index = self.bucket_index(&entry.id);
                continue;
            }
            break;
        }
        let (stale_after, max_failures) = (self.config.stale_after, self.config.max_failures);
        let (prefer_secure, cache) = (self.prefers_secure(), self.config.replacement_cache);
        let bucket = &mut self.buckets[index];
        if let Some(bad) = bucket.nodes.iter().position(|e| e.failures >= max_failures) {
            bucket.nodes[bad] = entry;
            bucket.last_changed = now;
            return Insert::Added;
        }
        if !entry.verified {
            // Unverified query senders never displace anyone.
            return Insert::Rejected;
        }
        if let Some(named) = bucket.nodes.iter().position(|e| e.named) {
            // A node that answered us beats one we only heard named.
            bucket.nodes[named] = entry;
            bucket.last_changed = now;
            return Insert::Added;
        }
        if prefer_secure
            && entry.secure
            && let Some(victim) = least_wanted_insecure(bucket, now, stale_after, max_failures)
        {
            bucket.replacements.retain(|r| r.id != entry.id);
            let mut displaced = std::mem::replace(&mut bucket.nodes[victim], entry);
            displaced.pinging = false;
            bucket.last_changed = now;
            park(bucket, displaced, cache, prefer_secure);
            return Insert::Added;
        }
        // A non-secure newcomer cannot take a secure node's slot (see `on_failure`), so
        // preferring secure ids, it asks after a non-secure node first.
        let ping = bucket
            .nodes
            .iter()
            .filter(|e| {
                !e.pinging && e.state(now, stale_after, max_failures) == NodeState::Questionable
            })
            .min_by_key(|e| (prefer_secure && e.secure, e.last_seen))
            .map(Entry::info);
        park(bucket, entry, cache, prefer_secure);
        if let Some(info) = ping
            && let Some(e) = bucket.nodes.iter_mut().find(|e| e.id == info.id)
        {
            e.pinging = true;
        }
        Insert::Parked { ping }
    }

    fn split_last(&mut self, now: Instant) {
        let depth = self.buckets.len() - 1;
        let mut near = Bucket::new(now);
        let far = &mut self.buckets[depth];
        let own = self.own;
        let (stay, go): (Vec<Entry>, Vec<Entry>) = far
            .nodes
            .drain(..)
            .partition(|e| own.common_prefix_len(&e.id) as usize == depth);
        far.nodes = stay;
        near.nodes = go;
        let (stay_r, go_r): (Vec<Entry>, Vec<Entry>) = far
            .replacements
            .drain(..)
            .partition(|e| own.common_prefix_len(&e.id) as usize == depth);
        far.replacements = stay_r;
        near.replacements = go_r;
        self.buckets.push(near);
    }

    /// Records that `id` at `addr` failed to answer a query. A node that fails while a
    /// replacement waits in its bucket, or that turns bad, is replaced by the freshest
    /// replacement; without one, a never-verified bad node is dropped and a once-good node
    /// stays (as bad) until a newcomer takes its slot.
    pub fn on_failure(&mut self, id: &Id, addr: &SocketAddr, now: Instant) {
        let max_failures = self.config.max_failures;
        let index = self.bucket_index(id);
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.replacements.iter().position(|e| e.id == *id) {
            bucket.replacements.remove(pos);
            return;
        }
        let Some(pos) = bucket
            .nodes
            .iter()
            .position(|e| e.id == *id && e.addr == *addr)
        else {
            return;
        };
        let entry = &mut bucket.nodes[pos];
        entry.failures = entry.failures.saturating_add(1);
        entry.pinging = false;
        entry.overdue = false;
        let (failures, verified, secure) = (entry.failures, entry.verified, entry.secure);
        // Preferring secure ids, a secure node that is not bad yet makes way for a secure
        // replacement only.
        let only_secure = self.prefers_secure() && secure && failures < max_failures;
        // Only a replacement that keeps the per-IP cap may take the slot.
        let pick = self.replacement_for(index, Some(addr), only_secure);
        if failures < max_failures && pick.is_none() {
            // One lost datagram is not death; with nobody waiting, give it another chance.
            return;
        }
        let bucket = &mut self.buckets[index];
        if let Some(r) = pick {
            let replacement = bucket.replacements.remove(r);
            bucket.nodes[pos] = replacement;
            bucket.last_changed = now;
        } else if !verified {
            // Never answered and now failed: nothing worth keeping.
            bucket.nodes.remove(pos);
            bucket.last_changed = now;
        }
    }

    /// Folds the round-trip time of an answer from `id` at `addr` into its estimate, as a short
    /// timeout within `min..=max` should see it ([`RttEstimate::fold_bounded`]), and clears
    /// [`Entry::overdue`].
    pub fn record_rtt(
        &mut self,
        id: &Id,
        addr: &SocketAddr,
        sample: Duration,
        min: Duration,
        max: Duration,
    ) {
        if let Some(e) = self.entry_at_mut(id, addr) {
            RttEstimate::fold_bounded(&mut e.rtt, sample, min, max);
            // An answer settles an overdue request.
            e.overdue = false;
        }
    }

    /// Records whether a request to `id` at `addr` is [`Entry::overdue`]: set when a lookup's
    /// request passes its short timeout, cleared when a request to it is settled (an answer,
    /// an error, or its failure at the full timeout; [`Self::record_rtt`] and [`Self::on_failure`]
    /// clear it as well).
    pub fn set_overdue(&mut self, id: &Id, addr: &SocketAddr, overdue: bool) {
        if let Some(e) = self.entry_at_mut(id, addr) {
            e.overdue = overdue;
        }
    }

    /// The table node `id`, if it is at `addr`.
    fn entry_at_mut(&mut self, id: &Id, addr: &SocketAddr) -> Option<&mut Entry> {
        let index = self.bucket_index(id);
        self.buckets[index]
            .nodes
            .iter_mut()
            .find(|e| e.id == *id && e.addr == *addr)
    }

    /// Removes every bad node that has no replacement waiting. Used when the table is
    /// consulted for lookups; keeps the node count honest.
    pub fn purge_bad(&mut self) {
        let max_failures = self.config.max_failures;
        for bucket in &mut self.buckets {
            bucket.nodes.retain(|e| e.failures < max_failures);
        }
    }

    /// Up to `count` non-bad nodes closest to `target`, closest first.
    pub fn closest(&self, target: &Id, count: usize) -> Vec<NodeInfo> {
        let max_failures = self.config.max_failures;
        self.closest_where(target, count, |e| e.failures < max_failures)
    }

    /// Up to `count` nodes to start a lookup for `target` from, closest first: non-bad nodes
    /// that are not [`Entry::overdue`]. Without that, every lookup started within a dead node's
    /// full timeout asks it again (a responder naming inventions makes each cost that many
    /// requests). Overdue nodes top the seeds up only to `k`, for a table that knows too few
    /// others.
    pub fn closest_seeds(&self, target: &Id, count: usize) -> Vec<NodeInfo> {
        let max_failures = self.config.max_failures;
        self.closest_topped_up(
            target,
            count,
            self.config.k.min(count),
            |e| e.failures < max_failures && !e.overdue,
            |e| e.failures < max_failures && e.overdue,
        )
    }

    /// Up to `count` nodes to hand out in answers about `target`, closest first: nodes that
    /// answered one of our queries and failed none since. A table holding fewer such nodes than
    /// `count` (a network of one or two nodes) tops the answer up with nodes that never failed
    /// but only queried us, so that a lone seed still introduces its peers to each other.
    pub fn closest_for_reply(&self, target: &Id, count: usize) -> Vec<NodeInfo> {
        self.closest_topped_up(
            target,
            count,
            count,
            |e| e.verified && e.failures == 0,
            |e| !e.verified && e.failures == 0,
        )
    }

    /// Up to `count` entries that pass `preferred`, closest to `target` first; with fewer than
    /// `fill_to` of them, entries that pass `fallback` (a disjoint set) top them up to
    /// `fill_to`, in distance order with the others.
    fn closest_topped_up(
        &self,
        target: &Id,
        count: usize,
        fill_to: usize,
        preferred: impl Fn(&Entry) -> bool,
        fallback: impl Fn(&Entry) -> bool,
    ) -> Vec<NodeInfo> {
        let mut out = self.closest_where(target, count, preferred);
        if out.len() < fill_to {
            let rest = fill_to - out.len();
            out.extend(self.closest_where(target, rest, fallback));
            out.sort_by_key(|n| n.id.distance_key(target));
        }
        out
    }

    /// Up to `count` entries that pass `keep`, closest to `target` first.
    ///
    /// Walks the buckets in distance bands instead of sorting the table. With `i` the
    /// target's bucket: bucket `i` holds the nearest ids (they share one more bit with the
    /// target than anything else); the buckets after it share the same leading distance bit,
    /// so they form the next band together; each earlier bucket `j < i` is its own band
    /// (distance starting at bit `j`), nearer the larger `j`. The walk stops once `count`
    /// entries are found, so an answer of k nodes usually reads one or two buckets.
    fn closest_where(
        &self,
        target: &Id,
        count: usize,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<NodeInfo> {
        let mut out = Vec::with_capacity(count.min(self.config.k * 2));
        if count == 0 {
            return out;
        }
        let i = self.bucket_index(target);
        let (near, rest) = self.buckets.split_at(i + 1);
        let (earlier, at) = near.split_at(i);
        take_band(&mut out, count, target, at[0].nodes.iter(), &keep);
        take_band(
            &mut out,
            count,
            target,
            rest.iter().flat_map(|b| b.nodes.iter()),
            &keep,
        );
        for bucket in earlier.iter().rev() {
            take_band(&mut out, count, target, bucket.nodes.iter(), &keep);
        }
        out
    }

    /// Nodes whose liveness should be checked now: questionable, not already being pinged;
    /// nodes heard from before nodes only named in answers (verifying a query's sender is what
    /// lets others learn of it), then least recently seen first.
    pub fn due_for_ping(&mut self, now: Instant, limit: usize) -> Vec<NodeInfo> {
        let (stale_after, max_failures) = (self.config.stale_after, self.config.max_failures);
        // The `limit` first in that order, kept sorted as the table is read (equal keys in
        // table order), by bucket and place: no list of every due node.
        let mut due: Vec<((bool, Instant), usize, usize)> = Vec::new();
        for (b, bucket) in self.buckets.iter().enumerate() {
            for (n, e) in bucket.nodes.iter().enumerate() {
                let key = (e.named, e.last_seen);
                // The cheap tests first: most entries are passed over on the key alone.
                if e.pinging
                    || due.len() == limit && due.last().is_some_and(|d| d.0 <= key)
                    || e.state(now, stale_after, max_failures) != NodeState::Questionable
                {
                    continue;
                }
                let at = due.partition_point(|d| d.0 <= key);
                if at < limit {
                    due.insert(at, (key, b, n));
                    due.truncate(limit);
                }
            }
        }
        due.into_iter()
            .map(|(_, b, n)| {
                let e = &mut self.buckets[b].nodes[n];
                e.pinging = true;
                e.info()
            })
            .collect()
    }

    /// The node `id`, now marked as being pinged, if it never answered us, no ping to it is
    /// in flight, it is among the `k` nodes closest to our own id and we know `k` nodes that
    /// answered us: a query's sender that would be one of our neighbours is to be verified at
    /// once, not when its turn comes in [`Self::due_for_ping`], behind every other node
    /// waiting there (a minute or more while a network forms). A lookup for a node ends at
    /// its neighbours, and they hand out only nodes that answered them: until they verify a
    /// newcomer no lookup finds it, and nodes that join together miss each other for good. A
    /// table with fewer than `k` such nodes hands out the others as well
    /// ([`Self::closest_for_reply`]), so needs no ping. Admits no one (the sender took a free
    /// slot or is not here) and costs one ping per query from such a sender, the size of the
    /// answer that query gets anyway.
    pub fn neighbour_to_verify(&mut self, id: &Id) -> Option<NodeInfo> {
        let index = self.bucket_index(id);
        let at = self.buckets[index]
            .nodes
            .iter()
            .position(|e| e.id == *id && !e.verified && !e.pinging)?;
        let (k, max_failures) = (self.config.k, self.config.max_failures);
        if self.buckets[index].nodes[at].failures >= max_failures {
            return None;
        }
        // Among the k non-bad nodes closest to us: fewer than k are closer. Every node of a
        // later bucket is closer than one of bucket `index`; in that bucket, the distance says.
        let own = self.own;
        let mine = id.distance_key(&own);
        let closer = self.buckets[index..]
            .iter()
            .enumerate()
            .flat_map(|(b, bucket)| bucket.nodes.iter().map(move |e| (b, e)))
            .filter(|(b, e)| {
                e.failures < max_failures && (*b > 0 || e.id.distance_key(&own) < mine)
            });
        let answered = self.entries().filter(|e| e.verified && e.failures == 0);
        if closer.take(k).count() >= k || answered.take(k).count() < k {
            return None;
        }
        let entry = &mut self.buckets[index].nodes[at];
        entry.pinging = true;
        Some(entry.info())
    }

    /// Marks a liveness ping as finished without an answer or failure being recorded.
    pub fn ping_done(&mut self, id: &Id) {
        let index = self.bucket_index(id);
        if let Some(e) = self.buckets[index].nodes.iter_mut().find(|e| e.id == *id) {
            e.pinging = false;
        }
    }

    /// Buckets unchanged since `before`: a random id in each one's range, to refresh it.
    pub fn stale_buckets(&self, before: Instant, random: &mut dyn FnMut() -> [u8; 20]) -> Vec<Id> {
        self.bucket_targets(|_, b| b.last_changed < before, random)
    }

    /// Buckets farther than our own that are not full: a random id in each one's range. A
    /// self-lookup only fills the buckets near us; these lookups fill the far ones, so that
    /// every part of the keyspace can be reached from this table.
    pub fn unfilled_buckets(&self, random: &mut dyn FnMut() -> [u8; 20]) -> Vec<Id> {
        let last = self.buckets.len() - 1;
        self.bucket_targets(|i, b| i < last && b.nodes.len() < self.capacity(i), random)
    }

    fn bucket_targets(
        &self,
        select: impl Fn(usize, &Bucket) -> bool,
        random: &mut dyn FnMut() -> [u8; 20],
    ) -> Vec<Id> {
        let last = self.buckets.len() - 1;
        self.buckets
            .iter()
            .enumerate()
            .filter(|(i, b)| select(*i, b))
            .map(|(i, _)| {
                let mut id = self.own.random_with_prefix(i as u32, random());
                if i < last {
                    // Bucket i holds the ids that share exactly i bits with ours: bit i differs.
                    let (byte, mask) = (i / 8, 1u8 << (7 - i % 8));
                    id.0[byte] = (id.0[byte] & !mask) | (!self.own.0[byte] & mask);
                }
                id
            })
            .collect()
    }

    /// Marks the bucket that covers `target` as just refreshed.
    pub fn touch_bucket(&mut self, target: &Id, now: Instant) {
        let index = self.bucket_index(target);
        self.buckets[index].last_changed = now;
    }

    /// Counts of nodes by state at `now`: (good, questionable, bad).
    pub fn counts(&self, now: Instant) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for e in self.entries() {
            match self.state(e, now) {
                NodeState::Good => counts.0 += 1,
                NodeState::Questionable => counts.1 += 1,
                NodeState::Bad => counts.2 += 1,
            }
        }
        counts
    }

    /// Checks the table's structural invariants; `Err` names the first one broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let last = self.buckets.len() - 1;
        let mut seen = std::collections::BTreeSet::new();
        let mut addrs = std::collections::BTreeSet::new();
        for (i, bucket) in self.buckets.iter().enumerate() {
            if bucket.nodes.len() > self.capacity(i) {
                return Err(format!(
                    "bucket {i} holds {} nodes, over its capacity",
                    bucket.nodes.len()
                ));
            }
            if bucket.replacements.len() > self.config.replacement_cache {
                return Err(format!("bucket {i} holds too many replacements"));
            }
            for e in bucket.nodes.iter().chain(bucket.replacements.iter()) {
                let cpl = self.own.common_prefix_len(&e.id) as usize;
                if e.id == self.own {
                    return Err("own id in table".into());
                }
                if (i < last && cpl != i) || (i == last && cpl < i) {
                    return Err(format!("node {} with prefix {cpl} in bucket {i}", e.id));
                }
            }
            for e in &bucket.nodes {
                if !seen.insert(e.id) {
                    return Err(format!("node {} twice", e.id));
                }
                if !addrs.insert(e.addr) {
                    return Err(format!("address {} twice", e.addr));
                }
            }
        }
        Ok(())
    }
}

/// Appends to `out` the entries of one distance band that pass `keep`, nearest first, until
/// `out` holds `count`. Selects before sorting, so a large band costs a linear pass.
fn take_band<'a>(
    out: &mut Vec<NodeInfo>,
    count: usize,
    target: &Id,
    band: impl Iterator<Item = &'a Entry>,
    keep: &impl Fn(&Entry) -> bool,
) {
    let need = count.saturating_sub(out.len());
    if need == 0 {
        return;
    }
    // The band goes to the end of `out` itself (no buffer of its own), is cut to the nearest
    // `need`, then sorted.
    let start = out.len();
    out.extend(band.filter(|e| keep(e)).map(Entry::info));
    let found = &mut out[start..];
    if found.len() > need {
        found.select_nth_unstable_by_key(need - 1, |n| n.id.distance_key(target));
        out.truncate(start + need);
    }
    out[start..].sort_unstable_by_key(|n| n.id.distance_key(target));
}

/// The non-secure node of a full bucket that a secure newcomer replaces: a questionable one
/// before a good one, the longest silent first. `None` when every node is secure.
fn least_wanted_insecure(
    bucket: &Bucket,
    now: Instant,
    stale_after: Duration,
    max_failures: u8,
) -> Option<usize> {
    bucket
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.secure)
        .min_by_key(|(_, e)| {
            let good = e.state(now, stale_after, max_failures) == NodeState::Good;
            (good, e.last_seen)
        })
        .map(|(i, _)| i)
}

/// Adds `entry` to the bucket's replacement cache as its freshest, dropping the oldest when the
/// cache is full. Preferring secure ids, the oldest non-secure one goes instead, and a
/// non-secure newcomer is not kept when every cached one is secure.
fn park(bucket: &mut Bucket, entry: Entry, cap: usize, prefer_secure: bool) {
    if cap == 0 {
        return;
    }
    if let Some(pos) = bucket.replacements.iter().position(|r| r.id == entry.id) {
        bucket.replacements.remove(pos);
    } else if bucket.replacements.len() >= cap {
        let evict = if prefer_secure {
            bucket.replacements.iter().position(|r| !r.secure)
        } else {
            Some(0)
        };
        match evict {
            Some(pos) => {
                bucket.replacements.remove(pos);
            }
            None if entry.secure => {
                bucket.replacements.remove(0);
            }
            None => return,
        }
    }
    bucket.replacements.push(entry);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    fn config() -> TableConfig {
        TableConfig {
            k: 8,
            replacement_cache: 4,
            max_nodes_per_ip: 2,
            stale_after: Duration::from_secs(900),
            max_failures: 2,
            secure_ids: SecureIdPolicy::Off,
            wide_far_buckets: false,
        }
    }

    /// An id in bucket `prefix` of `own` (sharing exactly `prefix` bits), the rest from `fill`.
    fn id_at(own: &Id, prefix: u32, fill: [u8; 20]) -> Id {
        let mut id = own.random_with_prefix(prefix, fill);
        if prefix < 160 {
            let (byte, mask) = (prefix as usize / 8, 1u8 << (7 - prefix % 8));
            id.0[byte] = (id.0[byte] & !mask) | (!own.0[byte] & mask);
        }
        id
    }

    fn addr(n: u32) -> SocketAddr {
        let [_, a, b, c] = n.to_be_bytes();
        std::net::SocketAddrV4::new([10, a, b, c].into(), 6881).into()
    }

    /// A table whose first `depth` buckets each hold `k` verified nodes.
    fn full_table(own: Id, depth: u32, now: Instant) -> RoutingTable {
        let mut table = RoutingTable::new(own, config(), now);
        let mut n = 0u32;
        for prefix in 0..depth {
            for j in 0..8u8 {
                n += 1;
                let fill = [j.wrapping_mul(31) ^ (prefix as u8); 20];
                let info = NodeInfo {
                    id: id_at(&own, prefix, fill),
                    addr: addr(n),
                };
                table.on_response(info, now);
            }
        }
        table
    }

    #[test]
    fn overdue_nodes_seed_a_lookup_only_when_too_few_others_are_known() {
        let now = Instant::now();
        let own = Id([0x55; 20]);
        let table_of = |depth| full_table(own, depth, now);
        let mut table = table_of(3);
        let target = id_at(&own, 0, [0xaa; 20]);
        let all = table.closest(&target, 16);
        let late = all[0];
        table.set_overdue(&late.id, &late.addr, true);
        let seeds = table.closest_seeds(&target, 16);
        assert_eq!(seeds.len(), 16);
        assert!(!seeds.contains(&late), "the overdue node seeds the lookup");
        // Its answer (or a settled request) clears the mark.
        table.set_overdue(&late.id, &late.addr, false);
        assert_eq!(table.closest_seeds(&target, 16)[0], late);

        // A table of 8 whose closest is overdue still gives k seeds: the overdue one tops up.
        let mut small = table_of(1);
        let first = small.closest(&target, 8)[0];
        small.set_overdue(&first.id, &first.addr, true);
        let seeds = small.closest_seeds(&target, 16);
        assert_eq!(seeds.len(), 8);
        assert_eq!(seeds[0], first, "topped up in distance order");
        // Its failure clears the mark as well.
        small.on_failure(&first.id, &first.addr, now);
        assert!(small.get(&first.id).is_some_and(|e| !e.overdue));
    }

    /// The selection as it was: every entry that passes `keep`, fully sorted.
    fn oracle(
        table: &RoutingTable,
        target: &Id,
        count: usize,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<NodeInfo> {
        let mut all: Vec<&Entry> = table.entries().filter(|e| keep(e)).collect();
        all.sort_by_key(|e| e.id.distance(target));
        all.into_iter().take(count).map(Entry::info).collect()
    }

    #[test]
    fn closest_examines_only_the_buckets_it_needs() {
        let now = Instant::now();
        let own = Id([0x5a; 20]);
        let table = full_table(own, 40, now);
        assert_eq!(table.len(), 320);
        assert_eq!(table.bucket_count(), 40);
        // A target in a middle bucket: that bucket alone holds the 8 closest nodes.
        let target = id_at(&own, 20, [0x77; 20]);
        let examined = Cell::new(0usize);
        let found = table.closest_where(&target, 8, |_| {
            examined.set(examined.get() + 1);
            true
        });
        assert_eq!(found, oracle(&table, &target, 8, |_| true));
        assert!(
            examined.get() <= 8,
            "examined {} entries for 8 answers",
            examined.get()
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Response(u32, u8),
        Query(u32, u8),
        Failure(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u32..48, any::<u8>()).prop_map(|(p, n)| Op::Response(p, n)),
            2 => (0u32..48, any::<u8>()).prop_map(|(p, n)| Op::Query(p, n)),
            1 => any::<u8>().prop_map(Op::Failure),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn closest_equals_the_full_sort(
            own in any::<[u8; 20]>(),
            ops in proptest::collection::vec(op(), 0..400),
            target_prefix in 0u32..=160,
            target_fill in any::<[u8; 20]>(),
            count in prop_oneof![Just(0usize), 1usize..20, Just(usize::MAX)],
        ) {
            let own = Id(own);
            let now = Instant::now();
            let mut table = RoutingTable::new(own, config(), now);
            let mut known = Vec::new();
            for op in ops {
                match op {
                    Op::Response(prefix, n) | Op::Query(prefix, n) if prefix <= 160 => {
                        let info = NodeInfo {
                            id: id_at(&own, prefix, [n; 20]),
                            addr: addr(u32::from(n) << 8 | prefix),
                        };
                        known.push(info);
                        if matches!(op, Op::Response(..)) {
                            table.on_response(info, now);
                        } else {
                            table.on_query(info, now);
                        }
                    }
                    Op::Failure(n) if !known.is_empty() => {
                        let info = known[usize::from(n) % known.len()];
                        table.on_failure(&info.id, &info.addr, now);
                    }
                    _ => {}
                }
            }
            prop_assert!(table.check_invariants().is_ok());
            let target = if target_prefix == 160 {
                own
            } else {
                id_at(&own, target_prefix, target_fill)
            };
            let max_failures = config().max_failures;
            prop_assert_eq!(
                table.closest(&target, count),
                oracle(&table, &target, count, |e| e.failures < max_failures)
            );
            prop_assert_eq!(
                table.closest_where(&target, count, |e| e.verified && e.failures == 0),
                oracle(&table, &target, count, |e| e.verified && e.failures == 0)
            );
            let mut reply = oracle(&table, &target, count, |e| e.verified && e.failures == 0);
            if reply.len() < count {
                let rest = count - reply.len();
                reply.extend(oracle(&table, &target, rest, |e| !e.verified && e.failures == 0));
                reply.sort_by_key(|n| n.id.distance(&target));
            }
            prop_assert_eq!(table.closest_for_reply(&target, count), reply);
        }
    }
}
