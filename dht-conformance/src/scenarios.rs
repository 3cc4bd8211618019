//! The scenarios. Each one builds its own loopback network, so they run in parallel.

use crate::{Runtime, test_config};
use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tokengo_core::{Config, Id, NodeInfo};

/// A network of `size` nodes: node 0 is the seed, every other node bootstraps from it.
fn network<R: Runtime>(size: usize, seed_base: u64) -> Vec<R> {
    let seed = R::start(test_config(seed_base));
    let seed_addr = seed.addr();
    let mut nodes = vec![seed];
    for i in 1..size {
        let node = R::start(test_config(seed_base + i as u64));
        let table = node.bootstrap(vec![seed_addr]).expect("bootstrap");
        assert!(table >= 1, "node {i} bootstrapped with an empty table");
        nodes.push(node);
    }
    nodes
}

fn contact<R: Runtime>(node: &R) -> NodeInfo {
    match node.addr() {
        SocketAddr::V4(addr) => NodeInfo {
            id: node.id(),
            addr: std::net::SocketAddr::V4(addr),
        },
        SocketAddr::V6(_) => panic!("test nodes bind IPv4 loopback"),
    }
}

/// A UDP socket that never answers.
fn silent_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind a silent socket")
}

/// Five nodes bootstrap from one seed: the seed learns them all, and they learn the seed.
pub fn bootstrap_builds_tables<R: Runtime>() {
    let nodes = network::<R>(5, 100);
    // The lone seed accepted every node that queried it.
    let seed_stats = nodes[0].stats().expect("stats");
    assert!(
        seed_stats.nodes_good + seed_stats.nodes_questionable >= 4,
        "the seed should know the 4 others: {seed_stats:?}"
    );
    let last = nodes[4].contacts().expect("contacts");
    assert!(
        last.contains(&contact(&nodes[0])),
        "the last node should know the seed"
    );
}

/// Bootstrap addresses given as host names are resolved; an unresolvable one is an error.
pub fn bootstrap_resolves_host_names<R: Runtime>() {
    let seed = R::start(test_config(150));
    let node = R::start(test_config(151));
    let host = format!("localhost:{}", seed.addr().port());
    let table = node
        .bootstrap_hosts(&[host])
        .expect("bootstrap by host name");
    assert!(table >= 1);
    let error = node.bootstrap_hosts(&["no-such-host.invalid:1".to_string()]);
    assert!(error.is_err(), "an unresolvable bootstrap host is an error");
}

/// A find_node lookup for a node's id finds that node first, and orders the rest by distance.
pub fn find_node_reaches_a_known_node<R: Runtime>() {
    let nodes = network::<R>(6, 200);
    let closest = nodes[5].find_node(nodes[2].id()).expect("find_node");
    assert_eq!(
        closest.first(),
        Some(&contact(&nodes[2])),
        "the target itself is closest"
    );
    let mut sorted = closest.clone();
    sorted.sort_by_key(|c| c.id.distance(&nodes[2].id()));
    assert_eq!(sorted, closest, "closest nodes come closest first");
}

/// A peer one node announces is found by get_peers from other nodes, with matching stats.
pub fn announce_then_get_peers_across_nodes<R: Runtime>() {
    let nodes = network::<R>(8, 300);
    let info_hash = Id([0x42; 20]);
    let accepted = nodes[3].announce(info_hash, Some(4242)).expect("announce");
    assert!(accepted >= 1, "some node accepted the announce");
    for searcher in [&nodes[6], &nodes[0], &nodes[7]] {
        let (peers, stats) = searcher.get_peers(info_hash).expect("get_peers");
        assert_eq!(peers, vec![SocketAddr::from(([127, 0, 0, 1], 4242))]);
        assert_eq!(stats.peers, 1);
        assert!(stats.time_to_first_peer.is_some());
        assert!(stats.answered >= 1);
    }
}

/// An announce without a port (`implied_port`) is stored under the announcer's source port.
pub fn announce_with_implied_port<R: Runtime>() {
    let nodes = network::<R>(5, 400);
    let info_hash = Id([0x17; 20]);
    assert!(nodes[2].announce(info_hash, None).expect("announce") >= 1);
    let (peers, _) = nodes[4].get_peers(info_hash).expect("get_peers");
    assert_eq!(
        peers,
        vec![nodes[2].addr()],
        "implied_port uses the announcer's source port"
    );
}

/// A get_peers lookup for an info hash nobody announced ends with no peers.
pub fn get_peers_without_peers_reports_none<R: Runtime>() {
    let nodes = network::<R>(4, 500);
    let (peers, stats) = nodes[3].get_peers(Id([0xee; 20])).expect("get_peers");
    assert!(peers.is_empty());
    assert_eq!(stats.peers, 0);
    assert!(stats.answered >= 1);
    assert_eq!(stats.time_to_first_peer, None);
}

/// A ping to a live node answers with its id, and the pinged node counts the query.
pub fn ping_answers_with_the_id<R: Runtime>() {
    let a = R::start(test_config(600));
    let b = R::start(test_config(601));
    assert_eq!(a.ping(b.addr()).expect("ping"), Some(b.id()));
    assert_eq!(b.stats().expect("stats").queries_in.ping, 1);
}

/// Ping, bootstrap and get_peers against a silent address time out cleanly, and the node
/// keeps answering afterwards.
pub fn silent_address_times_out<R: Runtime>() {
    let silent = silent_socket();
    let silent_addr = silent.local_addr().expect("silent address");
    let node = R::start(test_config(700));
    assert_eq!(
        node.ping(silent_addr).expect("ping"),
        None,
        "a silent address gives no id"
    );
    assert_eq!(node.bootstrap(vec![silent_addr]).expect("bootstrap"), 0);
    let (peers, stats) = node.get_peers(Id([1; 20])).expect("get_peers");
    assert!(peers.is_empty());
    assert_eq!(stats.answered, 0);
    // The node still answers after all that.
    let other = R::start(test_config(701));
    assert_eq!(other.ping(node.addr()).expect("ping"), Some(node.id()));
}

/// A node restarted with its id and saved contacts holds them as questionable until a
/// bootstrap through them proves them good.
pub fn restored_contacts_start_questionable<R: Runtime>() {
    let nodes = network::<R>(4, 800);
    let saved = nodes[3].shutdown().expect("shutdown");
    assert!(
        saved.contacts.len() >= 2,
        "the node knew the network: {:?}",
        saved.contacts
    );
    let mut config = test_config(899);
    config.id = Some(saved.id);
    let restored = R::start(config);
    assert_eq!(restored.id(), saved.id);
    restored
        .add_contacts(saved.contacts.clone())
        .expect("add contacts");
    let stats = restored.stats().expect("stats");
    assert_eq!(stats.nodes_good, 0, "restored contacts are not good yet");
    assert!(stats.nodes_questionable >= 1);
    assert!(
        restored
            .bootstrap(Vec::new())
            .expect("bootstrap from contacts")
            >= 1
    );
    assert!(restored.stats().expect("stats").nodes_good >= 1);
}

/// Many queries at once: the runtime must read every datagram of a burst (edge-triggered
/// readiness is drained until `WouldBlock`) and send every answer. Waves of 50 stay well under
/// the kernel's default socket buffers, so a missing answer is the runtime's fault. All come
/// from one socket, far above the per-source query limit, so loopback is exempted here.
pub fn burst_of_queries_is_fully_answered<R: Runtime>() {
    const WAVES: u32 = 6;
    const WAVE: u32 = 50;
    let node = R::start(Config {
        rate_limit_loopback: false,
        ..test_config(900)
    });
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut buf = [0u8; 1500];
    for wave in 0..WAVES {
        for i in 0..WAVE {
            client
                .send_to(&ping_query(wave * WAVE + i), node.addr())
                .expect("send ping");
        }
        let mut answered = HashSet::new();
        while answered.len() < WAVE as usize {
            let Ok((len, _)) = client.recv_from(&mut buf) else {
                break;
            };
            if let Some(t) = transaction_of(&buf[..len]) {
                answered.insert(t);
            }
        }
        assert_eq!(
            answered.len(),
            WAVE as usize,
            "every ping of wave {wave} got its answer"
        );
    }
    assert_eq!(
        node.stats().expect("stats").queries_in.ping,
        u64::from(WAVES * WAVE)
    );
}

/// A flood of pings from one loopback socket is cut to the per-source budget, while another
/// local socket's pings are all answered: loopback sources are limited per address.
pub fn loopback_flood_is_limited_per_address<R: Runtime>() {
    const FLOOD: u32 = 400;
    const WAVE: u32 = 50;
    let node = R::start(test_config(950));
    let burst = test_config(950).query_burst_per_ip;
    let flooder = UdpSocket::bind("127.0.0.1:0").expect("bind flooder");
    flooder
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    // Waves the node has read before the next is sent, so that the kernel's socket buffer
    // drops none of them and every ping is either answered or counted over the limit.
    for wave in 0..FLOOD / WAVE {
        for t in wave * WAVE..(wave + 1) * WAVE {
            flooder
                .send_to(&ping_query(t), node.addr())
                .expect("send ping");
        }
        let read = u64::from((wave + 1) * WAVE);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stats = node.stats().expect("stats");
            if stats.queries_in.ping + stats.dropped.over_limit >= read {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the node read {stats:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut buf = [0u8; 1500];
    let mut flood_answered = 0u32;
    while flooder.recv_from(&mut buf).is_ok() {
        flood_answered += 1;
    }
    let other = UdpSocket::bind("127.0.0.2:0").expect("bind a second loopback address");
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    for t in 0..10 {
        other.send_to(&ping_query(t), node.addr()).expect("send");
        let (len, _) = other
            .recv_from(&mut buf)
            .expect("the other address is answered");
        assert_eq!(transaction_of(&buf[..len]), Some(t.to_be_bytes()));
    }
    // The flood takes well under a second; a budget of `burst` plus two seconds of refill
    // bounds what it can get answered.
    let rate = test_config(950).query_rate_per_ip;
    assert!(
        flood_answered >= burst.min(FLOOD) && flood_answered <= burst + 2 * rate,
        "{flood_answered} of {FLOOD} flood pings answered, budget {burst} + {rate}/s"
    );
    let stats = node.stats().expect("stats");
    assert_eq!(stats.dropped.over_limit, u64::from(FLOOD - flood_answered));
}

/// A tagged KRPC ping with the 4-byte transaction id `t`.
fn ping_query(t: u32) -> Vec<u8> {
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(&[0x33; 20]);
    out.extend_from_slice(b"e3:net7:tokengo1:q4:ping1:t4:");
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(b"1:y1:qe");
    out
}

/// The 4-byte transaction id of an answer, found by its key.
fn transaction_of(datagram: &[u8]) -> Option<[u8; 4]> {
    let at = datagram.windows(5).position(|w| w == b"1:t4:")? + 5;
    datagram.get(at..at + 4)?.try_into().ok()
}

/// More commands than the adapter's bound: the excess is refused at once with a clear error,
/// not queued without limit; the rest end (unfinished) when the node stops.
pub fn commands_beyond_the_pending_bound_are_refused<R: Runtime>() {
    let silent = silent_socket();
    let SocketAddr::V4(silent_addr) = silent.local_addr().expect("silent address") else {
        panic!("IPv4 loopback");
    };
    // Lookups that wait (on a silent contact) far longer than the test runs, and a core that
    // accepts them all, so only the adapter's bound decides.
    let config = Config {
        short_timeout: Duration::from_secs(600),
        full_timeout: Duration::from_secs(600),
        max_lookups: 4 * R::max_pending(),
        max_transactions: 4 * R::max_pending(),
        ..test_config(1100)
    };
    let node = R::start(config);
    node.add_contacts(vec![NodeInfo {
        id: Id([0x99; 20]),
        addr: std::net::SocketAddr::V4(silent_addr),
    }])
    .expect("add a silent contact");
    let extra = 20;
    let lookups: Vec<_> = (0..R::max_pending() + extra)
        .map(|i| {
            let mut key = [0u8; 20];
            key[..8].copy_from_slice(&(i as u64).to_be_bytes());
            node.start_get_peers(Id(key)).expect("start a lookup")
        })
        .collect();
    // Commands reach the node in order: every lookup was accepted or refused before this.
    node.shutdown().expect("shutdown");
    let errors: Vec<String> = lookups
        .into_iter()
        .filter_map(|l| l.finish().err())
        .collect();
    let refused = errors.iter().filter(|e| e.contains("too many")).count();
    assert_eq!(
        refused, extra,
        "exactly the lookups beyond the bound are refused"
    );
    assert_eq!(
        errors.len(),
        R::max_pending() + extra,
        "the others end when the node stops"
    );
}

/// Shutdown returns the node's id, makes other handles refuse commands and frees the port.
pub fn shutdown_returns_state_and_frees_the_socket<R: Runtime>() {
    let node = R::start(test_config(1000));
    let other = node.handle();
    let addr = node.addr();
    let id = node.id();
    let last = node.shutdown().expect("shutdown");
    assert_eq!(last.id, id);
    assert!(other.ping(addr).is_err(), "a stopped node refuses commands");
    assert!(other.stats().is_err());
    UdpSocket::bind(addr).expect("the node's address is free again after shutdown");
}

/// 256 nodes joined by bootstrap alone, 16 keys announced from different nodes, each looked
/// up from a fresh node: every lookup finds its peer. (A join that only looks up its own id
/// can leave a node without contacts in the far half of the keyspace; the bootstrap's
/// far-bucket lookups are what makes this pass.)
pub fn announced_keys_are_found_in_a_large_network<R: Runtime>() {
    let nodes = network::<R>(256, 1000);
    for node in &nodes {
        node.bootstrap(Vec::new()).expect("second bootstrap");
    }
    let mut missed = Vec::new();
    for i in 0..16u8 {
        let info_hash = Id([0x60 + i; 20]);
        let port = 20000 + u16::from(i);
        let announcer = &nodes[(usize::from(i) * 7 + 3) % nodes.len()];
        assert!(announcer.announce(info_hash, Some(port)).expect("announce") >= 1);
        let searcher = R::start(Config {
            read_only: true,
            ..test_config(3000 + u64::from(i))
        });
        searcher
            .bootstrap(vec![nodes[0].addr()])
            .expect("bootstrap");
        let (peers, _) = searcher.get_peers(info_hash).expect("get_peers");
        if !peers.contains(&SocketAddr::from(([127, 0, 0, 1], port))) {
            missed.push(info_hash);
        }
    }
    assert!(
        missed.is_empty(),
        "lookups that missed their announced peer: {missed:?}"
    );
}

/// BEP 44 through the runtime's API: an immutable and a mutable item put through one node are
/// got through another; a newer sequence number replaces the older, which is then refused
/// with 302.
pub fn items_put_through_one_node_are_got_through_another<R: Runtime>() {
    use crate::ItemRequest;
    use tokengo_core::item::{Item, MutableItem, SigningKey, Value};

    let nodes = network::<R>(3, 1400);
    let value = Value::string(b"stored in the dht").expect("a value");
    let (accepted, refused) = nodes[1]
        .put_item(Item::Immutable(value.clone()), None)
        .expect("put");
    assert!(
        accepted >= 1,
        "nobody stored the immutable item: {refused:?}"
    );
    let target = Item::Immutable(value.clone()).target();
    let got = nodes[2]
        .get_item(ItemRequest::Immutable(target))
        .expect("get");
    assert_eq!(got, Some(Item::Immutable(value)));

    let key = SigningKey::from_seed([14; 32]);
    let item = |seq: i64| {
        let value = Value::string(format!("version {seq}").as_bytes()).expect("a value");
        Item::Mutable(MutableItem::sign(&key, b"salt", seq, value).expect("signed"))
    };
    for seq in [1, 2] {
        let (accepted, refused) = nodes[1].put_item(item(seq), None).expect("put");
        assert!(
            accepted >= 1 && refused.is_empty(),
            "seq {seq}: {refused:?}"
        );
    }
    let request = ItemRequest::Mutable {
        key: key.public_key(),
        salt: b"salt".to_vec(),
    };
    let got = nodes[2].get_item(request).expect("get");
    assert_eq!(got, Some(item(2)));
    let (_, refused) = nodes[1].put_item(item(1), None).expect("put");
    assert!(
        refused.contains(&302),
        "an older seq was not refused: {refused:?}"
    );
}

/// BEP 32 on real sockets: a dual-stack seed, a dual-stack node that knows the seed by its
/// IPv4 address only, and an IPv6-only node. The dual-stack node learns IPv6 nodes from
/// `nodes6` and announces over both families; the IPv6-only node finds the IPv6 peer only.
pub fn dual_stack_nodes_serve_each_family<R: Runtime>() {
    let loop4 = SocketAddr::from(([127, 0, 0, 1], 0));
    let loop6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0));
    let seed = R::start_on(&[loop4, loop6], test_config(900));
    let seed_addrs = seed.addrs();
    assert_eq!(seed_addrs.len(), 2, "one socket per family: {seed_addrs:?}");
    let seed4 = seed_addrs
        .iter()
        .copied()
        .find(SocketAddr::is_ipv4)
        .expect("v4");
    let seed6 = seed_addrs
        .iter()
        .copied()
        .find(SocketAddr::is_ipv6)
        .expect("v6");
    let only6 = R::start_on(&[loop6], test_config(901));
    assert!(only6.bootstrap(vec![seed6]).expect("bootstrap over IPv6") >= 1);
    let dual = R::start_on(&[loop4, loop6], test_config(902));
    assert!(dual.bootstrap(vec![seed4]).expect("bootstrap over IPv4") >= 1);
    let stats = dual.stats().expect("stats");
    assert!(
        stats.nodes_v6 >= 1,
        "no IPv6 node learned from nodes6: {stats:?}"
    );

    let info_hash = Id([0x32; 20]);
    let accepted = dual.announce(info_hash, Some(4232)).expect("announce");
    assert!(accepted >= 2, "announced over one family only: {accepted}");
    let (peers, _) = only6.get_peers(info_hash).expect("get_peers");
    let expected = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 4232));
    assert_eq!(
        peers,
        vec![expected],
        "the IPv6-only node sees the IPv6 peer"
    );
    let (peers, _) = seed.get_peers(info_hash).expect("get_peers");
    assert!(peers.contains(&expected), "{peers:?}");
    assert!(
        peers.contains(&SocketAddr::from(([127, 0, 0, 1], 4232))),
        "{peers:?}"
    );
    // An IPv4 node bootstrapping from an IPv6 address has nothing to bootstrap from.
    let only4 = R::start(test_config(903));
    assert!(only4.bootstrap(vec![seed6]).is_ok_and(|n| n == 0));
}
