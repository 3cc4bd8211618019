//! Our external address comes from the BEP 42 `ip` field of several answers that agree, not
//! from whichever answer came last.

mod hand_support;

use hand_support::{B, Harness, config, id, peer, v4};
use std::net::{SocketAddr, SocketAddrV4};

/// Pings `from` and has it answer as `peer_id`, telling us we are at `seen`.
fn answer_with_ip(h: &mut Harness, from: SocketAddrV4, peer_id: u8, seen: SocketAddrV4) {
    h.node.ping(h.now, SocketAddr::V4(from));
    let sent = h.sent();
    let query = sent.iter().find(|s| s.to == from).expect("ping sent");
    let datagram = h.with_tag(vec![
        ("ip", peer(seen)),
        ("r", B::D(vec![("id", B::s(id(0x80, peer_id).0))])),
        ("t", B::S(query.tid.clone())),
        ("y", B::s("r")),
    ]);
    h.node.handle_input(h.now, SocketAddr::V4(from), &datagram);
}

#[test]
fn one_lying_answer_cannot_set_our_address() {
    let mut h = Harness::new(config(8));
    let (us, lie) = (v4(198, 51, 100, 7, 6881), v4(203, 0, 113, 66, 1));
    answer_with_ip(&mut h, v4(10, 0, 0, 1, 6881), 1, lie);
    assert_eq!(h.node.external_addr(), None, "one answer set our address");
    // The same liar again, from other ports of its IP, is still one voice.
    for port in 2..6 {
        answer_with_ip(&mut h, v4(10, 0, 0, 1, port), port as u8, lie);
    }
    assert_eq!(h.node.external_addr(), None);
    for n in 2..5 {
        answer_with_ip(&mut h, v4(10, 0, 0, n, 6881), 10 + n, us);
    }
    assert_eq!(h.node.external_addr(), Some(us));
    // One more lie does not unseat it.
    answer_with_ip(&mut h, v4(10, 0, 0, 9, 6881), 30, lie);
    assert_eq!(h.node.external_addr(), Some(us));
}
