//! What a node's id gives away: nothing of its token secrets or transaction ids. The attack
//! here is the cheap one against one generator seeded with 64 bits: invert the first output
//! of the id back to the seed and replay the node's whole stream.

use std::net::SocketAddr;
use std::time::Instant;
use tokengo_core::krpc::{self, Body};
use tokengo_core::{Config, Node};

/// The inverse of an odd number modulo 2^64 (Newton's iteration).
fn inverse(a: u64) -> u64 {
    let mut x = a;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
    }
    x
}

/// Undoes `z ^= z >> shift`.
fn unshift(z: u64, shift: u32) -> u64 {
    let mut x = z;
    for _ in 0..64 / shift + 1 {
        x = z ^ (x >> shift);
    }
    x
}

/// The 64-bit seed behind an id drawn first from a SplitMix64-seeded xoshiro256** stream.
fn recover_seed(id: &[u8; 20]) -> u64 {
    let out = u64::from_le_bytes(id[..8].try_into().unwrap());
    // xoshiro256**: out = rotl(s1 * 5, 7) * 9.
    let s1 = out
        .wrapping_mul(inverse(9))
        .rotate_right(7)
        .wrapping_mul(inverse(5));
    // SplitMix64's second output: mix(seed + 2 * gamma).
    let mut z = unshift(s1, 31);
    z = z.wrapping_mul(inverse(0x94d0_49bb_1331_11eb));
    z = unshift(z, 27);
    z = z.wrapping_mul(inverse(0xbf58_476d_1ce4_e5b9));
    z = unshift(z, 30);
    z.wrapping_sub(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(2))
}

/// The transaction id of the node's first query.
fn first_tid(node: &mut Node, now: Instant) -> Vec<u8> {
    node.ping(now, "10.0.0.1:6881".parse::<SocketAddr>().unwrap());
    let t = node.poll_transmit().expect("ping sent");
    krpc::decode(&t.payload).unwrap().transaction_id.to_vec()
}

/// The token the node hands to one requester.
fn token(node: &mut Node, now: Instant) -> Vec<u8> {
    let id = "abcdefghij0123456789";
    let get = format!("d1:ad2:id20:{id}9:info_hash20:{id}e1:q9:get_peers1:t1:x1:y1:qe");
    node.handle_input(now, "10.0.0.2:6881".parse().unwrap(), get.as_bytes());
    let reply = node.poll_transmit().expect("answered");
    match krpc::decode(&reply.payload).unwrap().body {
        Body::Response(r) => r.token.expect("token").to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_node_id_does_not_predict_tokens_or_transaction_ids() {
    let now = Instant::now();
    let secret = Config {
        seed: 0x05ee_d0fa_115e_c7e7,
        network: tokengo_core::Network::Mainline,
        ..Config::default()
    };
    let mut victim = Node::new(secret.clone(), now);
    let guess = recover_seed(victim.id().as_bytes());
    let mut replica = Node::new(
        Config {
            seed: guess,
            ..secret.clone()
        },
        now,
    );
    assert_ne!(
        first_tid(&mut victim, now),
        first_tid(&mut replica, now),
        "transaction ids predicted from the node id"
    );
    assert_ne!(
        token(&mut victim, now),
        token(&mut replica, now),
        "tokens predicted from the node id"
    );
    // Still deterministic for a given seed: the simulator replays runs bit for bit.
    let (mut a, mut b) = (Node::new(secret.clone(), now), Node::new(secret, now));
    assert_eq!(a.id(), b.id());
    assert_eq!(first_tid(&mut a, now), first_tid(&mut b, now));
    assert_eq!(token(&mut a, now), token(&mut b, now));
}
