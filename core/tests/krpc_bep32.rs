//! BEP 32 on the wire: `want` in queries, `nodes6` in answers, 18-byte IPv6 peers in `values`
//! and an 18-byte `ip`, checked against bencode written by hand (as libtorrent sends it).

use std::net::{Ipv6Addr, SocketAddr};
use tokengo_core::Id;
use tokengo_core::krpc::{Body, CompactNodes, Message, PeerList, Query, Response, Want, decode};

fn id(byte: u8) -> [u8; 20] {
    [byte; 20]
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last).into(),
        port,
    )
}

fn compact6(addr: &SocketAddr) -> Vec<u8> {
    let SocketAddr::V6(a) = addr else {
        panic!("not IPv6")
    };
    let mut out = a.ip().octets().to_vec();
    out.extend_from_slice(&a.port().to_be_bytes());
    out
}

#[test]
fn want_is_read_from_find_node_get_peers_and_get() {
    let datagrams: [(&[u8], &[u8]); 3] = [
        (b"find_node", b"6:target20:"),
        (b"get_peers", b"9:info_hash20:"),
        (b"get", b"6:target20:"),
    ];
    for (method, key) in datagrams {
        let mut q = b"d1:ad2:id20:".to_vec();
        q.extend_from_slice(&id(1));
        q.extend_from_slice(key);
        q.extend_from_slice(&id(2));
        q.extend_from_slice(b"4:wantl2:n42:n6ee1:q");
        q.extend_from_slice(format!("{}:", method.len()).as_bytes());
        q.extend_from_slice(method);
        q.extend_from_slice(b"1:t2:aa1:y1:qe");
        let m = decode(&q).unwrap();
        let Body::Query(query) = &m.body else {
            panic!("not a query")
        };
        let want = match query {
            Query::FindNode { want, .. } | Query::GetPeers { want, .. } => *want,
            Query::Get { want, .. } => *want,
            other => panic!("{other:?}"),
        };
        assert_eq!(want, Want::BOTH, "{}", q.escape_ascii());
        // Our encoding of it is the same bytes (keys sorted, want last).
        assert_eq!(m.to_vec().unwrap(), q);
    }
}

#[test]
fn want_with_unknown_or_garbage_entries_keeps_what_it_knows() {
    let mut q = b"d1:ad2:id20:".to_vec();
    q.extend_from_slice(&id(1));
    q.extend_from_slice(b"6:target20:");
    q.extend_from_slice(&id(2));
    q.extend_from_slice(b"4:wantl2:n8i6e2:n6leee1:q9:find_node1:t2:aa1:y1:qe");
    let Body::Query(Query::FindNode { want, .. }) = decode(&q).unwrap().body else {
        panic!("not find_node")
    };
    assert_eq!(
        want,
        Want {
            n4: false,
            n6: true
        }
    );
    // A want that is not a list reads as unsaid; the query is still good.
    let q = String::from_utf8_lossy(&q).replace("4:wantl2:n8i6e2:n6lee", "4:wanti6e");
    let Body::Query(Query::FindNode { want, .. }) = decode(q.as_bytes()).unwrap().body else {
        panic!("not find_node")
    };
    assert_eq!(want, Want::UNSAID);
}

#[test]
fn nodes6_entries_decode_and_a_ragged_tail_is_cut() {
    let a = v6(1, 6881);
    let b = v6(2, 6882);
    let mut nodes6 = id(0x41).to_vec();
    nodes6.extend_from_slice(&compact6(&a));
    nodes6.extend_from_slice(&id(0x42));
    nodes6.extend_from_slice(&compact6(&b));
    nodes6.extend_from_slice(&[9; 11]); // a truncated third entry
    let mut r = b"d1:rd2:id20:".to_vec();
    r.extend_from_slice(&id(0x22));
    r.extend_from_slice(format!("6:nodes6{}:", nodes6.len()).as_bytes());
    r.extend_from_slice(&nodes6);
    r.extend_from_slice(b"e1:t2:aa1:y1:re");
    let Body::Response(resp) = decode(&r).unwrap().body else {
        panic!("not a response")
    };
    assert!(resp.nodes.is_none());
    let found: Vec<_> = resp.nodes6.unwrap().iter().collect();
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].id, found[0].addr), (Id(id(0x41)), a));
    assert_eq!((found[1].id, found[1].addr), (Id(id(0x42)), b));
    // nodes6 of the wrong type is a malformed answer, as nodes is.
    let bad = b"d1:rd2:id20:aaaaaaaaaaaaaaaaaaaa6:nodes6i1ee1:t2:aa1:y1:re";
    assert!(decode(bad).is_err());
}

#[test]
fn answers_with_nodes6_and_ipv6_values_encode_as_bep32_says() {
    let node = v6(7, 6881);
    let mut nodes6 = id(0x33).to_vec();
    nodes6.extend_from_slice(&compact6(&node));
    let peers = [v6(8, 80), "10.0.0.1:81".parse().unwrap()];
    let message = Message {
        transaction_id: b"aa",
        version: None,
        requester_ip: Some(v6(9, 6881)),
        read_only: false,
        network: None,
        body: Body::Response(Response {
            nodes6: CompactNodes::new_v6(&nodes6),
            values: Some(PeerList::Addrs(&peers)),
            ..Response::with_id(Id(id(0x22)))
        }),
    };
    let bytes = message.to_vec().unwrap();
    let mut expected = b"d2:ip18:".to_vec();
    expected.extend_from_slice(&compact6(&v6(9, 6881)));
    expected.extend_from_slice(b"1:rd2:id20:");
    expected.extend_from_slice(&id(0x22));
    expected.extend_from_slice(b"6:nodes638:");
    expected.extend_from_slice(&nodes6);
    expected.extend_from_slice(b"6:valuesl18:");
    expected.extend_from_slice(&compact6(&peers[0]));
    expected.extend_from_slice(b"6:\x0a\x00\x00\x01\x00\x51ee1:t2:aa1:y1:re");
    assert_eq!(bytes, expected, "{}", bytes.escape_ascii());
    assert_eq!(decode(&bytes).unwrap(), message);
    // A nodes6 that is not whole 38-byte entries is refused when building one.
    assert!(CompactNodes::new_v6(&nodes6[..37]).is_none());
    assert!(CompactNodes::new(&nodes6).is_none());
}

fn fuzz_seed(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds/krpc_decode")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_bep32_fuzz_seeds_carry_what_they_claim() {
    let query = fuzz_seed("bep32-find-node-want");
    let Body::Query(Query::FindNode { want, .. }) = decode(&query).unwrap().body else {
        panic!("not find_node")
    };
    assert_eq!(want, Want::BOTH);
    let response = fuzz_seed("bep32-get-peers-response");
    let m = decode(&response).unwrap();
    assert_eq!(m.requester_ip, Some(v6(0x99, 6881)));
    let Body::Response(r) = &m.body else {
        panic!("not a response")
    };
    assert_eq!(r.nodes6.unwrap().len(), 4);
    let values: Vec<_> = r.values.unwrap().iter().collect();
    assert_eq!(values.len(), 4);
    assert_eq!(values.iter().filter(|a| a.is_ipv6()).count(), 3);
    assert_eq!(m.to_vec().unwrap(), response, "the seeds are canonical");
}
