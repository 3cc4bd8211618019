//! BEP 42 in a node: on Mainline, once three distinct responders report the same external
//! address, a node whose id is not secure for it takes a secure one and keeps its contacts; on
//! a private network, with secure ids off, or with fewer voters, the id stays.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::Instant;
use tokengo_core::krpc::{self, Body, Message, Response};
use tokengo_core::secure_id::is_secure;
use tokengo_core::{Config, Id, Node, NodeInfo};

const EXTERNAL: &str = "8.8.8.8:6881";

/// Pings `voters` and answers each ping from it, reporting [`EXTERNAL`] as our address.
fn answer_pings(node: &mut Node, now: Instant, voters: &[&str]) {
    for voter in voters {
        let addr: SocketAddr = voter.parse().unwrap();
        node.ping(now, addr);
        let t = node.poll_transmit().expect("a ping");
        let query = krpc::decode(&t.payload).unwrap();
        let seen: SocketAddrV4 = EXTERNAL.parse().unwrap();
        let reply = Message {
            transaction_id: query.transaction_id,
            version: None,
            requester_ip: Some(std::net::SocketAddr::V4(seen)),
            read_only: false,
            network: node.config().network.tag(),
            body: Body::Response(Response::with_id(Id([addr.port() as u8; 20]))),
        };
        node.handle_input(now, addr, &reply.to_vec().unwrap());
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
    }
}

fn node(config: Config, now: Instant) -> Node {
    let mut node = Node::new(config, now);
    for n in 1..=5u8 {
        node.add_contact(
            now,
            NodeInfo {
                id: Id([n * 40; 20]),
                addr: format!("9.9.{n}.1:6881").parse().unwrap(),
            },
        );
    }
    node
}

const VOTERS: [&str; 3] = ["1.1.1.1:1001", "2.2.2.2:1002", "3.3.3.3:1003"];

#[test]
fn a_mainline_node_takes_a_secure_id_once_three_responders_agree() {
    let now = Instant::now();
    let ip = *EXTERNAL.parse::<SocketAddrV4>().unwrap().ip();
    let mut node = node(Config::mainline(), now);
    let before = node.id();
    assert!(
        !is_secure(&before, ip),
        "the seeded id happens to be secure"
    );
    let contacts = node.contacts().len();

    answer_pings(&mut node, now, &VOTERS[..2]);
    answer_pings(&mut node, now, &["1.1.1.1:2001"]);
    assert_eq!(node.id(), before, "two distinct voters are not enough");

    answer_pings(&mut node, now, &VOTERS[2..]);
    assert_ne!(node.id(), before);
    assert!(is_secure(&node.id(), ip));
    assert_eq!(node.stats().id_changes, 1);
    assert!(node.contacts().len() >= contacts, "the contacts are kept");
    assert_eq!(node.routing_table().own_id(), node.id());
    assert_eq!(
        node.routing_table6().own_id(),
        node.id(),
        "the IPv6 table is rebuilt around the new id too"
    );

    // Secure already: more votes change nothing.
    let secure = node.id();
    answer_pings(&mut node, now, &VOTERS);
    assert_eq!(node.id(), secure);
}

#[test]
fn private_networks_and_disabled_secure_ids_keep_their_id() {
    let now = Instant::now();
    for config in [
        Config::default(),
        Config {
            secure_ids: false,
            ..Config::mainline()
        },
    ] {
        let mut node = node(config, now);
        let before = node.id();
        answer_pings(&mut node, now, &VOTERS);
        assert_eq!(node.id(), before);
        assert_eq!(node.stats().id_changes, 0);
    }
}
