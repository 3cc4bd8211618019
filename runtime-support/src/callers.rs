//! Which caller waits for which query, and the answers the node's events make for them.

use crate::channels::Channels;
use crate::command::{Command, ItemRequest};
use crate::error::Error;
use crate::lookup::LookupUpdate;
use crate::report::{AnnounceReport, FindNodeReport, GetReport, PutReport};
use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Instant;
use tokengo_core::item::Item;
use tokengo_core::{Event, Id, Node, QueryId, Sample};

/// Bound: commands waiting for the node's answer (lookups, pings, announces).
pub const MAX_PENDING: usize = 1024;
/// Bound: peers forwarded to one get_peers caller (more are counted by the node, not sent).
pub const MAX_PEERS_PER_LOOKUP: usize = 4096;

/// A caller waiting for the events of one query.
#[derive(Debug)]
enum Pending<C: Channels> {
    Bootstrap(C::Reply<usize>),
    FindNode(C::Reply<FindNodeReport>),
    GetPeers {
        updates: C::Updates,
        forwarded: usize,
    },
    Announce(C::Reply<AnnounceReport>),
    Get(C::Reply<GetReport>),
    Put(C::Reply<PutReport>),
    Sample(C::Reply<Option<Sample>>),
    Ping(C::Reply<Option<Id>>),
}

/// The callers waiting for the node's queries, at most [`MAX_PENDING`]. A loop hands it every
/// command ([`Callers::apply`]) and every event the node emits ([`Callers::route`]).
#[derive(Debug)]
pub struct Callers<C: Channels> {
    pending: HashMap<QueryId, Pending<C>>,
}

impl<C: Channels> Default for Callers<C> {
    fn default() -> Self {
        Callers {
            pending: HashMap::new(),
        }
    }
}

impl<C: Channels> Callers<C> {
    /// Starts on `node` what `command` asks for and remembers its caller, or answers at once
    /// what needs no query. A [`Command::Shutdown`] is the loop's to handle; it is dropped here.
    pub fn apply(&mut self, node: &mut Node, now: Instant, command: Command<C>) {
        match command {
            Command::Bootstrap { addrs, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = node.bootstrap(now, &addrs);
                    self.pending.insert(query, Pending::Bootstrap(reply));
                }
            }
            Command::FindNode { target, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = node.find_node(now, target);
                    self.pending.insert(query, Pending::FindNode(reply));
                }
            }
            Command::GetPeers {
                info_hash,
                via,
                updates,
            } => {
                if self.pending.len() < MAX_PENDING {
                    let query = node.get_peers_via(now, info_hash, &via);
                    self.pending.insert(
                        query,
                        Pending::GetPeers {
                            updates,
                            forwarded: 0,
                        },
                    );
                } else {
                    C::update(&updates, LookupUpdate::Refused { limit: MAX_PENDING });
                }
            }
            Command::Announce {
                info_hash,
                port,
                keep,
                reply,
            } => {
                if let Some(reply) = self.room(reply) {
                    let query = node.announce(now, info_hash, port, keep);
                    self.pending.insert(query, Pending::Announce(reply));
                }
            }
            Command::StopAnnounce { info_hash } => node.stop_announce(info_hash),
            Command::Get { request, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = match request {
                        ItemRequest::Immutable(target) => Ok(node.get_immutable(now, target)),
                        ItemRequest::Mutable { key, salt } => node.get_mutable(now, key, &salt),
                    };
                    match query {
                        Ok(query) => {
                            self.pending.insert(query, Pending::Get(reply));
                        }
                        Err(e) => C::reply(reply, Err(e.into())),
                    }
                }
            }
            Command::Put { item, cas, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = match item {
                        Item::Immutable(value) => node.put_immutable(now, value),
                        Item::Mutable(item) => node.put_mutable(now, item, cas),
                    };
                    self.pending.insert(query, Pending::Put(reply));
                }
            }
            Command::Sample {
                addr,
                target,
                reply,
            } => {
                if let Some(reply) = self.room(reply) {
                    let query = node.sample_infohashes(now, addr, target);
                    self.pending.insert(query, Pending::Sample(reply));
                }
            }
            Command::Ping { addr, reply } => {
                if let Some(reply) = self.room(reply) {
                    let query = node.ping(now, addr);
                    self.pending.insert(query, Pending::Ping(reply));
                }
            }
            Command::Stats { reply } => C::reply(reply, Ok(node.stats())),
            Command::Contacts { reply } => C::reply(reply, Ok(node.contacts())),
            Command::AddContacts { contacts, reply } => {
                for contact in contacts {
                    node.add_contact(now, contact);
                }
                C::reply(reply, Ok(()));
            }
            Command::Shutdown { .. } => {}
        }
    }

    /// Gives the reply back when another pending command fits; answers `Busy` otherwise.
    fn room<T: Debug>(&self, reply: C::Reply<T>) -> Option<C::Reply<T>> {
        if self.pending.len() < MAX_PENDING {
            Some(reply)
        } else {
            C::reply(reply, Err(Error::Busy { limit: MAX_PENDING }));
            None
        }
    }

    /// Answers the caller `event` is for, if one waits for it.
    pub fn route(&mut self, event: Event) {
        match event {
            Event::Bootstrapped { query, table_size } => {
                if let Some(Pending::Bootstrap(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Bootstrap(_)))
                {
                    C::reply(reply, Ok(table_size));
                }
            }
            Event::PeerFound { query, peer, .. } => {
                if let Some(Pending::GetPeers { updates, forwarded }) = self.pending.get_mut(&query)
                    && *forwarded < MAX_PEERS_PER_LOOKUP
                {
                    *forwarded += 1;
                    C::update(updates, LookupUpdate::Peer(peer));
                }
            }
            Event::LookupDone {
                query,
                stats,
                closest,
                ..
            } => {
                let finishes =
                    |p: &Pending<C>| matches!(p, Pending::FindNode(_) | Pending::GetPeers { .. });
                match self.take_if(query, finishes) {
                    Some(Pending::FindNode(reply)) => {
                        C::reply(reply, Ok(FindNodeReport { closest, stats }));
                    }
                    Some(Pending::GetPeers { updates, .. }) => {
                        C::update(&updates, LookupUpdate::Done(stats));
                    }
                    _ => {}
                }
            }
            Event::AnnounceDone {
                query,
                accepted,
                stats,
                ..
            } => {
                if let Some(Pending::Announce(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Announce(_)))
                {
                    C::reply(reply, Ok(AnnounceReport { accepted, stats }));
                }
            }
            Event::GetDone {
                query,
                target,
                item,
                stats,
            } => {
                if let Some(Pending::Get(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Get(_)))
                {
                    C::reply(
                        reply,
                        Ok(GetReport {
                            target,
                            item,
                            stats,
                        }),
                    );
                }
            }
            Event::PutDone {
                query,
                target,
                accepted,
                refused,
                stats,
            } => {
                if let Some(Pending::Put(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Put(_)))
                {
                    C::reply(
                        reply,
                        Ok(PutReport {
                            target,
                            accepted,
                            refused,
                            stats,
                        }),
                    );
                }
            }
            Event::Sampled { query, sample, .. } => {
                if let Some(Pending::Sample(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Sample(_)))
                {
                    C::reply(reply, Ok(sample));
                }
            }
            Event::Pong { query, id, .. } => {
                if let Some(Pending::Ping(reply)) =
                    self.take_if(query, |p| matches!(p, Pending::Ping(_)))
                {
                    C::reply(reply, Ok(id));
                }
            }
        }
    }

    /// Removes the pending entry of `query` if it is the kind `expected` accepts: an announce,
    /// for example, also finishes a get_peers lookup, which must not complete its caller.
    fn take_if(
        &mut self,
        query: QueryId,
        expected: impl Fn(&Pending<C>) -> bool,
    ) -> Option<Pending<C>> {
        if self.pending.get(&query).is_some_and(expected) {
            self.pending.remove(&query)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::mpsc;
    use tokengo_core::{Config, LookupKind, LookupStats};

    /// Answers on std channels, as a blocking adapter would.
    #[derive(Debug)]
    enum Std {}

    impl Channels for Std {
        type Reply<T: Debug> = mpsc::Sender<Result<T, Error>>;
        type Updates = mpsc::Sender<LookupUpdate>;

        fn reply<T: Debug>(reply: Self::Reply<T>, result: Result<T, Error>) {
            let _ = reply.send(result);
        }

        fn update(updates: &Self::Updates, update: LookupUpdate) {
            let _ = updates.send(update);
        }
    }

    fn node() -> Node {
        Node::new(Config::default(), Instant::now())
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The query of the only caller waiting.
    fn only_query(callers: &Callers<Std>) -> QueryId {
        assert_eq!(callers.pending.len(), 1);
        *callers.pending.keys().next().unwrap()
    }

    fn lookup_done(query: QueryId, kind: LookupKind) -> Event {
        Event::LookupDone {
            query,
            kind,
            target: Id([1; 20]),
            stats: LookupStats::default(),
            closest: Vec::new(),
        }
    }

    #[test]
    fn an_announce_is_answered_by_its_announce_done_not_by_its_lookup() {
        let (mut node, mut callers) = (node(), Callers::<Std>::default());
        let (reply, answer) = mpsc::channel();
        let command = Command::Announce {
            info_hash: Id([1; 20]),
            port: Some(6881),
            keep: false,
            reply,
        };
        callers.apply(&mut node, Instant::now(), command);
        let query = only_query(&callers);

        callers.route(lookup_done(query, LookupKind::Announce));
        assert!(answer.try_recv().is_err(), "the lookup alone answered");

        callers.route(Event::AnnounceDone {
            query,
            info_hash: Id([1; 20]),
            accepted: 3,
            stats: LookupStats::default(),
        });
        let report = answer.try_recv().expect("an answer").expect("a report");
        assert_eq!(report.accepted, 3);
        assert!(callers.pending.is_empty());
    }

    #[test]
    fn a_lookup_gets_its_peers_up_to_the_bound_then_its_end() {
        let (mut node, mut callers) = (node(), Callers::<Std>::default());
        let (updates, received) = mpsc::channel();
        let command = Command::GetPeers {
            info_hash: Id([2; 20]),
            via: Vec::new(),
            updates,
        };
        callers.apply(&mut node, Instant::now(), command);
        let query = only_query(&callers);

        for port in 0..(MAX_PEERS_PER_LOOKUP + 5) as u16 {
            callers.route(Event::PeerFound {
                query,
                info_hash: Id([2; 20]),
                peer: addr(port),
            });
        }
        callers.route(lookup_done(query, LookupKind::GetPeers));

        let updates: Vec<LookupUpdate> = received.try_iter().collect();
        assert_eq!(updates.len(), MAX_PEERS_PER_LOOKUP + 1);
        assert_eq!(updates[0], LookupUpdate::Peer(addr(0)));
        assert!(matches!(updates.last(), Some(LookupUpdate::Done(_))));
        assert!(callers.pending.is_empty());
    }

    #[test]
    fn a_get_is_answered_by_its_get_done_and_a_bad_salt_at_once() {
        let (mut node, mut callers) = (node(), Callers::<Std>::default());
        let (reply, answer) = mpsc::channel();
        let request = ItemRequest::Immutable(Id([4; 20]));
        callers.apply(&mut node, Instant::now(), Command::Get { request, reply });
        let query = only_query(&callers);
        callers.route(lookup_done(query, LookupKind::Get));
        assert!(answer.try_recv().is_err(), "a lookup's end answered a get");
        let item = Some(Item::Immutable(
            tokengo_core::item::Value::string(b"x").unwrap(),
        ));
        callers.route(Event::GetDone {
            query,
            target: Id([4; 20]),
            item: item.clone(),
            stats: LookupStats::default(),
        });
        let report = answer.try_recv().expect("an answer").expect("a report");
        assert_eq!(report.item, item);
        assert!(callers.pending.is_empty());

        let (reply, answer) = mpsc::channel();
        let request = ItemRequest::Mutable {
            key: [1; 32],
            salt: vec![0; 65],
        };
        callers.apply(&mut node, Instant::now(), Command::Get { request, reply });
        let refused = answer.try_recv().expect("an answer at once");
        assert!(matches!(refused, Err(Error::Item(_))), "{refused:?}");
        assert!(callers.pending.is_empty());
    }

    #[test]
    fn commands_beyond_the_bound_are_refused() {
        let (mut node, mut callers) = (node(), Callers::<Std>::default());
        let mut answers = Vec::new();
        for port in 0..=MAX_PENDING as u16 {
            let (reply, answer) = mpsc::channel();
            let command = Command::Ping {
                addr: addr(port),
                reply,
            };
            callers.apply(&mut node, Instant::now(), command);
            answers.push(answer);
        }
        assert_eq!(callers.pending.len(), MAX_PENDING);
        let last = answers.pop().unwrap().try_recv().expect("an answer");
        assert!(matches!(last, Err(Error::Busy { limit: MAX_PENDING })));
        assert!(answers.iter().all(|answer| answer.try_recv().is_err()));

        let (updates, received) = mpsc::channel();
        let command = Command::GetPeers {
            info_hash: Id([3; 20]),
            via: Vec::new(),
            updates,
        };
        callers.apply(&mut node, Instant::now(), command);
        let refused = LookupUpdate::Refused { limit: MAX_PENDING };
        assert_eq!(received.try_recv(), Ok(refused));
    }
}
