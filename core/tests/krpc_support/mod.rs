//! Realistic KRPC datagrams shared by the codec's tests and benchmark, written out as bencode by
//! hand (not by our encoder) so they test it independently.

#![allow(dead_code)]

/// A 20-byte id made of one repeated byte.
pub fn id(byte: u8) -> [u8; 20] {
    [byte; 20]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// ping query with a `v`: 65 bytes.
pub fn ping_query() -> Vec<u8> {
    cat(&[
        b"d1:ad2:id20:",
        &id(0x11),
        b"e1:q4:ping1:t2:aa1:v4:LT011:y1:qe",
    ])
}

/// The 8 compact node infos of [`find_node_response`].
pub fn eight_nodes() -> Vec<u8> {
    let mut nodes = Vec::new();
    for i in 0..8u8 {
        nodes.extend_from_slice(&id(0x40 + i));
        nodes.extend_from_slice(&[10, 0, 0, i + 1, 0x1a, 0xe1]);
    }
    nodes
}

/// find_node response with 8 compact nodes: 266 bytes.
pub fn find_node_response() -> Vec<u8> {
    cat(&[
        b"d1:rd2:id20:",
        &id(0x22),
        b"5:nodes208:",
        &eight_nodes(),
        b"e1:t2:aa1:y1:re",
    ])
}

/// get_peers response with a token and 50 compact peers: 474 bytes.
pub fn get_peers_response() -> Vec<u8> {
    let mut values = Vec::new();
    for i in 0..50u8 {
        values.extend_from_slice(b"6:");
        values.extend_from_slice(&[192, 168, 1, i, 0x1a, 0xe1]);
    }
    cat(&[
        b"d1:rd2:id20:",
        &id(0x33),
        b"5:token8:tok12345",
        b"6:valuesl",
        &values,
        b"ee1:t2:aa1:y1:re",
    ])
}

/// announce_peer query with `implied_port`: 147 bytes.
pub fn announce_peer_query() -> Vec<u8> {
    cat(&[
        b"d1:ad2:id20:",
        &id(0x44),
        b"12:implied_porti1e9:info_hash20:",
        &id(0x55),
        b"4:porti6881e5:token8:tok12345e1:q13:announce_peer1:t2:aa1:y1:qe",
    ])
}

/// error `[201, "A Generic Error Ocurred"]`: 51 bytes.
pub fn error_message() -> Vec<u8> {
    b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee".to_vec()
}

/// The five benchmark messages, named.
pub fn benchmark_messages() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ping", ping_query()),
        ("find_node_8", find_node_response()),
        ("get_peers_50", get_peers_response()),
        ("announce_peer", announce_peer_query()),
        ("error", error_message()),
    ]
}

/// More valid messages covering every kind and every optional field.
pub fn more_messages() -> Vec<Vec<u8>> {
    vec![
        cat(&[
            b"d1:ad2:id20:",
            &id(1),
            b"6:target20:",
            &id(2),
            b"e1:q9:find_node1:t4:abcd1:y1:qe",
        ]),
        cat(&[
            b"d1:ad2:id20:",
            &id(1),
            b"9:info_hash20:",
            &id(3),
            b"e1:q9:get_peers1:t1:x1:y1:qe",
        ]),
        cat(&[
            b"d1:ad2:id20:",
            &id(1),
            b"9:info_hash20:",
            &id(3),
            b"4:porti6881e5:token0:e1:q13:announce_peer1:t0:1:y1:qe",
        ]),
        cat(&[b"d1:ad2:id20:", &id(1), b"e1:q4:ping2:roi1e1:t2:aa1:y1:qe"]),
        cat(&[
            b"d2:ip6:\x7f\x00\x00\x01\x1a\xe13:net7:tokengo1:rd2:id20:",
            &id(9),
            b"e1:t2:aa1:y1:re",
        ]),
        cat(&[b"d1:ad2:id20:", &id(1), b"e1:q6:sample1:t2:aa1:y1:qe"]),
        b"d1:eli204e14:Method Unknowne1:t2:zz1:y1:ee".to_vec(),
    ]
}

/// Every valid sample.
pub fn all_messages() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = benchmark_messages().into_iter().map(|(_, m)| m).collect();
    all.extend(more_messages());
    all
}
