//! What the decoder accepts and how it reads it: one test per rule of the codec.

mod krpc_support;

use krpc_support::*;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use tokengo_core::Id;
use tokengo_core::krpc::{Body, DecodeError, Message, PeerList, Query, Want, decode};

fn query(datagram: &[u8]) -> Query<'_> {
    match decode(datagram).expect("decodes").body {
        Body::Query(q) => q,
        other => panic!("not a query: {other:?}"),
    }
}

#[test]
fn benchmark_messages_decode_to_what_they_say() {
    let ping = ping_query();
    let m = decode(&ping).unwrap();
    assert_eq!(m.transaction_id, b"aa");
    assert_eq!(m.version, Some(&b"LT01"[..]));
    assert_eq!(m.body, Body::Query(Query::Ping { id: Id(id(0x11)) }));

    let fnr = find_node_response();
    let Body::Response(r) = decode(&fnr).unwrap().body else {
        panic!("not a response")
    };
    assert_eq!(r.id, Id(id(0x22)));
    let nodes = r.nodes.unwrap();
    assert_eq!(nodes.len(), 8);
    let last = nodes.iter().last().unwrap();
    assert_eq!(last.id, Id(id(0x47)));
    assert_eq!(
        last.addr,
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 8), 6881))
    );
    assert!(r.values.is_none() && r.token.is_none());

    let gpr = get_peers_response();
    let Body::Response(r) = decode(&gpr).unwrap().body else {
        panic!("not a response")
    };
    assert_eq!(r.token, Some(&b"tok12345"[..]));
    let peers: Vec<_> = r.values.unwrap().iter().collect();
    assert_eq!(peers.len(), 50);
    assert_eq!(
        peers[49],
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 49), 6881))
    );

    let ann = announce_peer_query();
    assert_eq!(
        query(&ann),
        Query::AnnouncePeer {
            id: Id(id(0x44)),
            info_hash: Id(id(0x55)),
            port: 6881,
            token: b"tok12345",
            implied_port: true
        }
    );

    let err = error_message();
    let Body::Error(e) = decode(&err).unwrap().body else {
        panic!("not an error")
    };
    assert_eq!((e.code, e.message), (201, &b"A Generic Error Ocurred"[..]));
}

#[test]
fn canonical_samples_reencode_byte_for_byte() {
    for sample in all_messages() {
        let m = decode(&sample).unwrap_or_else(|e| panic!("{e}: {}", sample.escape_ascii()));
        let mut buf = [0u8; 1500];
        let len = m.encode(&mut buf).unwrap();
        assert_eq!(&buf[..len], &sample[..], "{}", sample.escape_ascii());
        assert_eq!(m.encoded_len().unwrap(), len);
        assert_eq!(m.to_vec().unwrap(), sample);
    }
}

#[test]
fn unsorted_and_unknown_keys_are_accepted_at_every_level() {
    let mut datagram = b"d1:y1:q1:t2:xy3:zzzli1ed1:ale0:1:xee1:ad6:targetX2:id20:".to_vec();
    datagram.extend_from_slice(&id(7));
    datagram.extend_from_slice(b"4:wantl2:n4ee1:q4:pinge");
    // Fix the placeholder: an unknown key `target` of type int inside `a`.
    let datagram = String::from_utf8_lossy(&datagram).replace("6:targetX", "6:targeti5e");
    let m = decode(datagram.as_bytes()).unwrap();
    assert_eq!(m.transaction_id, b"xy");
    assert_eq!(m.body, Body::Query(Query::Ping { id: Id(id(7)) }));
}

#[test]
fn duplicate_known_keys_are_rejected() {
    let twice_t = b"d1:t2:aa1:t2:bb1:y1:ee";
    assert_eq!(decode(twice_t), Err(DecodeError::DuplicateKey));
    let mut twice_id = b"d1:ad2:id20:".to_vec();
    twice_id.extend_from_slice(&id(1));
    twice_id.extend_from_slice(b"2:id20:");
    twice_id.extend_from_slice(&id(2));
    twice_id.extend_from_slice(b"e1:q4:ping1:t2:aa1:y1:qe");
    assert_eq!(decode(&twice_id), Err(DecodeError::DuplicateKey));
    // One body dictionary per message: `a` and `r` together are a duplicate.
    let mut both = b"d1:ad2:id20:".to_vec();
    both.extend_from_slice(&id(1));
    both.extend_from_slice(b"e1:q4:ping1:rde1:t2:aa1:y1:qe");
    assert_eq!(decode(&both), Err(DecodeError::DuplicateKey));
    // Duplicate unknown keys are skipped like any unknown key.
    let mut unknown_twice = b"d2:zzi1e2:zzi2e1:ad2:id20:".to_vec();
    unknown_twice.extend_from_slice(&id(1));
    unknown_twice.extend_from_slice(b"e1:q4:ping1:t2:aa1:y1:qe");
    assert!(decode(&unknown_twice).is_ok());
}

#[test]
fn transaction_ids_of_any_length_are_borrowed_unchanged() {
    for len in [0usize, 1, 2, 4, 8, 100, 1000] {
        let tid: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
        let mut datagram = b"d1:eli201e1:xe1:t".to_vec();
        datagram.extend_from_slice(format!("{len}:").as_bytes());
        datagram.extend_from_slice(&tid);
        datagram.extend_from_slice(b"1:y1:ee");
        let m = decode(&datagram).unwrap();
        assert_eq!(m.transaction_id, &tid[..]);
        // Borrowed: the slice points into the datagram.
        let range = datagram.as_ptr_range();
        assert!(range.contains(&m.transaction_id.as_ptr()) || len == 0);
    }
}

#[test]
fn missing_or_mistyped_t_and_y_are_rejected() {
    assert_eq!(decode(b"d1:y1:ee"), Err(DecodeError::MissingField("t")));
    assert_eq!(decode(b"d1:t2:aae"), Err(DecodeError::MissingField("y")));
    assert_eq!(
        decode(b"d1:ti1e1:y1:qe"),
        Err(DecodeError::InvalidField("t"))
    );
    assert_eq!(
        decode(b"d1:t2:aa1:yi1ee"),
        Err(DecodeError::InvalidField("y"))
    );
    assert_eq!(
        decode(b"d1:t2:aa1:y1:xe"),
        Err(DecodeError::UnknownMessageType)
    );
    assert_eq!(
        decode(b"d1:t2:aa1:y2:qqe"),
        Err(DecodeError::UnknownMessageType)
    );
    assert_eq!(
        decode(b"d1:t2:aa1:y1:qe"),
        Err(DecodeError::MissingField("q"))
    );
    assert_eq!(
        decode(b"d1:t2:aa1:y1:ee"),
        Err(DecodeError::MissingField("e"))
    );
    assert_eq!(
        decode(b"d1:t2:aa1:y1:re"),
        Err(DecodeError::MissingField("r"))
    );
    assert_eq!(decode(b"le"), Err(DecodeError::NotADict));
    assert_eq!(decode(b""), Err(DecodeError::NotADict));
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut datagram = ping_query();
    datagram.push(b'x');
    assert_eq!(decode(&datagram), Err(DecodeError::TrailingBytes));
    let mut datagram = ping_query();
    datagram.extend_from_slice(b"de");
    assert_eq!(decode(&datagram), Err(DecodeError::TrailingBytes));
}

fn announce(args: &str) -> Vec<u8> {
    let mut d = b"d1:ad2:id20:".to_vec();
    d.extend_from_slice(&id(1));
    d.extend_from_slice(args.as_bytes());
    d.extend_from_slice(b"e1:q13:announce_peer1:t2:aa1:y1:qe");
    d
}

const IH: &str = "9:info_hash20:iiiiiiiiiiiiiiiiiiii";

#[test]
fn known_methods_with_bad_arguments_are_malformed_queries() {
    let malformed = |method: &'static [u8]| Query::Malformed { method };
    assert_eq!(query(b"d1:q4:ping1:t2:aa1:y1:qe"), malformed(b"ping"));
    assert_eq!(query(b"d1:ai5e1:q4:ping1:t2:aa1:y1:qe"), malformed(b"ping"));
    assert_eq!(
        query(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"),
        malformed(b"ping")
    );
    assert_eq!(
        query(b"d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe"),
        malformed(b"ping")
    );
    let mut no_target = b"d1:ad2:id20:".to_vec();
    no_target.extend_from_slice(&id(1));
    no_target.extend_from_slice(b"6:target19:0123456789012345678e1:q9:find_node1:t2:aa1:y1:qe");
    assert_eq!(query(&no_target), malformed(b"find_node"));
    let mut no_hash = b"d1:ad2:id20:".to_vec();
    no_hash.extend_from_slice(&id(1));
    no_hash.extend_from_slice(b"e1:q9:get_peers1:t2:aa1:y1:qe");
    assert_eq!(query(&no_hash), malformed(b"get_peers"));

    // announce_peer: token, port range, info_hash.
    assert_eq!(
        query(&announce(&format!("{IH}4:porti6881e"))),
        malformed(b"announce_peer")
    );
    assert_eq!(
        query(&announce(&format!("{IH}4:porti65536e5:token1:x"))),
        malformed(b"announce_peer")
    );
    assert_eq!(
        query(&announce(&format!("{IH}4:porti-1e5:token1:x"))),
        malformed(b"announce_peer")
    );
    assert_eq!(
        query(&announce(&format!("{IH}5:token1:x"))),
        malformed(b"announce_peer")
    );
    assert_eq!(
        query(&announce("4:porti1e5:token1:x")),
        malformed(b"announce_peer")
    );
    assert_eq!(
        query(&announce(&format!("{IH}4:port2:805:token1:x"))),
        malformed(b"announce_peer")
    );
}

#[test]
fn announce_peer_ports() {
    let port_of = |args: &str| match query(&announce(args)) {
        Query::AnnouncePeer {
            port, implied_port, ..
        } => (port, implied_port),
        other => panic!("{other:?}"),
    };
    assert_eq!(port_of(&format!("{IH}4:porti0e5:token1:x")), (0, false));
    assert_eq!(
        port_of(&format!("{IH}4:porti65535e5:token1:x")),
        (65535, false)
    );
    assert_eq!(
        port_of(&format!("12:implied_porti1e{IH}4:porti80e5:token1:x")),
        (80, true)
    );
    assert_eq!(
        port_of(&format!("12:implied_porti0e{IH}4:porti80e5:token1:x")),
        (80, false)
    );
    // With implied_port the port may be missing or out of range: the source port is used.
    assert_eq!(
        port_of(&format!("12:implied_porti1e{IH}5:token1:x")),
        (0, true)
    );
    assert_eq!(
        port_of(&format!("12:implied_porti1e{IH}4:porti99999e5:token1:x")),
        (0, true)
    );
}

#[test]
fn unknown_methods_keep_the_method_and_a_readable_id() {
    let mut datagram = b"d1:ad2:id20:".to_vec();
    datagram.extend_from_slice(&id(5));
    datagram.extend_from_slice(b"e1:q4:vote1:t2:aa1:y1:qe");
    assert_eq!(
        query(&datagram),
        Query::Unknown {
            method: b"vote",
            id: Some(Id(id(5)))
        }
    );
    assert_eq!(
        query(b"d1:q3:foo1:t2:aa1:y1:qe"),
        Query::Unknown {
            method: b"foo",
            id: None
        }
    );
}

#[test]
fn bep44_and_bep51_messages_decode_field_by_field() {
    let mut get = b"d1:ad2:id20:".to_vec();
    get.extend_from_slice(&id(1));
    get.extend_from_slice(b"3:seqi7e6:target20:");
    get.extend_from_slice(&id(2));
    get.extend_from_slice(b"e1:q3:get1:t2:aa1:y1:qe");
    assert_eq!(
        query(&get),
        Query::Get {
            id: Id(id(1)),
            target: Id(id(2)),
            seq: Some(7),
            want: Want::UNSAID,
        }
    );
    let mut put = b"d1:ad3:casi4e2:id20:".to_vec();
    put.extend_from_slice(&id(1));
    put.extend_from_slice(b"1:k32:");
    put.extend_from_slice(&[9; 32]);
    put.extend_from_slice(b"4:salt2:ab3:seqi5e3:sig64:");
    put.extend_from_slice(&[8; 64]);
    put.extend_from_slice(b"5:token2:tk1:vl1:xi1eee1:q3:put1:t2:aa1:y1:qe");
    let Query::Put {
        token,
        value,
        mutable: Some(m),
        ..
    } = query(&put)
    else {
        panic!("not a mutable put");
    };
    assert_eq!((token, value), (&b"tk"[..], &b"l1:xi1ee"[..]));
    assert_eq!((m.key, m.signature, m.seq), ([9; 32], [8; 64], 5));
    assert_eq!((m.salt, m.cas), (Some(&b"ab"[..]), Some(4)));
    // A mutable put whose signature is missing, or a get without target, is malformed.
    let unsigned = put.replace_bytes(b"3:sig64:", b"3:sjg64:");
    assert!(matches!(
        query(&unsigned),
        Query::Malformed { method: b"put" }
    ));
    let mut sample = b"d1:ad2:id20:".to_vec();
    sample.extend_from_slice(&id(1));
    sample.extend_from_slice(b"6:target20:");
    sample.extend_from_slice(&id(2));
    sample.extend_from_slice(b"e1:q17:sample_infohashes1:t2:aa1:y1:qe");
    assert_eq!(
        query(&sample),
        Query::SampleInfohashes {
            id: Id(id(1)),
            target: Id(id(2)),
            want: Want::UNSAID,
        }
    );
    let mut fields = b"8:intervali60e3:numi3e7:samples41:".to_vec();
    fields.extend_from_slice(&[id(4), id(5)].concat());
    fields.push(b'!');
    fields.extend_from_slice(b"1:v5:hello");
    let Ok(Message {
        body: Body::Response(r),
        ..
    }) = response(&fields)
    else {
        panic!("not a response");
    };
    let samples = r.samples.expect("samples");
    assert_eq!((samples.interval, samples.num), (60, 3));
    assert_eq!(
        samples.iter().collect::<Vec<_>>(),
        vec![Id(id(4)), Id(id(5))]
    );
    assert_eq!(r.item.value, Some(&b"5:hello"[..]));
}

trait ReplaceBytes {
    fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self
            .windows(from.len())
            .position(|w| w == from)
            .expect("present");
        [&self[..at], to, &self[at + from.len()..]].concat()
    }
}

fn response(fields: &[u8]) -> Result<Message<'static>, DecodeError> {
    let mut d = b"d1:rd2:id20:".to_vec();
    d.extend_from_slice(&id(3));
    d.extend_from_slice(fields);
    d.extend_from_slice(b"e1:t2:aa1:y1:re");
    let leaked: &'static [u8] = Box::leak(d.into_boxed_slice());
    decode(leaked)
}

#[test]
fn response_fields_are_checked() {
    assert!(response(b"").is_ok());
    // A ragged `nodes` keeps its whole entries (here none), as libtorrent reads it.
    let ragged = response(b"5:nodes25:0123456789012345678901234").unwrap();
    match ragged.body {
        Body::Response(r) => assert!(r.nodes.is_some_and(|n| n.is_empty())),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        response(b"5:nodesi1e").unwrap_err(),
        DecodeError::InvalidField("nodes")
    );
    // Items that are not strings are skipped, like strings of the wrong length.
    let odd = response(b"6:valuesli1e6:abcdefli2eee").unwrap();
    match &odd.body {
        Body::Response(r) => {
            let peers: Vec<_> = r.values.unwrap().iter().collect();
            assert_eq!(peers, vec!["97.98.99.100:25958".parse().unwrap()]);
        }
        other => panic!("{other:?}"),
    }
    let mut buf = [0u8; 256];
    let len = odd.encode(&mut buf).unwrap();
    let encoded = &buf[..len];
    assert!(
        encoded.windows(17).any(|w| w == b"6:valuesl6:abcdef"),
        "only the strings are re-encoded: {}",
        encoded.escape_ascii()
    );
    assert!(!encoded.windows(3).any(|w| w == b"i1e"));
    assert_eq!(
        response(b"6:values6:abcdef").unwrap_err(),
        DecodeError::InvalidField("values")
    );
    assert_eq!(
        response(b"5:tokenle").unwrap_err(),
        DecodeError::InvalidField("token")
    );
    assert_eq!(
        decode(b"d1:rd2:id2:abe1:t2:aa1:y1:re"),
        Err(DecodeError::InvalidField("r.id"))
    );
    assert_eq!(
        decode(b"d1:rde1:t2:aa1:y1:re"),
        Err(DecodeError::MissingField("r.id"))
    );
    // 18-byte values are BEP 32 IPv6 peers; other lengths are kept in the raw list but skipped.
    let m = response(b"6:valuesl18:0123456789abcdef015:short6:\x01\x02\x03\x04\x00\x50e").unwrap();
    let Body::Response(r) = m.body else { panic!() };
    let peers: Vec<_> = r.values.unwrap().iter().collect();
    let v6: [u8; 16] = *b"0123456789abcdef";
    assert_eq!(
        peers,
        vec![
            SocketAddr::new(std::net::Ipv6Addr::from(v6).into(), 0x3031),
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 80)),
        ]
    );
    assert!(matches!(r.values, Some(PeerList::Raw(_))));
    // Empty lists and empty nodes are fine.
    let m = response(b"5:nodes0:6:valuesle").unwrap();
    let Body::Response(r) = m.body else { panic!() };
    assert_eq!(r.nodes.unwrap().len(), 0);
    assert_eq!(r.values.unwrap().iter().count(), 0);
}

#[test]
fn errors_tolerate_a_missing_message_and_extra_items() {
    let e = |d: &'static [u8]| match decode(d).map(|m| m.body) {
        Ok(Body::Error(e)) => Ok((e.code, e.message)),
        Ok(other) => panic!("{other:?}"),
        Err(err) => Err(err),
    };
    assert_eq!(e(b"d1:eli203ee1:t2:aa1:y1:ee"), Ok((203, &b""[..])));
    assert_eq!(
        e(b"d1:eli202e2:no3:extlee1:t2:aa1:y1:ee"),
        Ok((202, &b"no"[..]))
    );
    assert_eq!(
        e(b"d1:ele1:t2:aa1:y1:ee"),
        Err(DecodeError::InvalidField("e"))
    );
    assert_eq!(
        e(b"d1:el2:noe1:t2:aa1:y1:ee"),
        Err(DecodeError::InvalidField("e"))
    );
    assert_eq!(
        e(b"d1:eli201ei5ee1:t2:aa1:y1:ee"),
        Err(DecodeError::InvalidField("e"))
    );
    assert_eq!(
        e(b"d1:e3:bad1:t2:aa1:y1:ee"),
        Err(DecodeError::InvalidField("e"))
    );
}

#[test]
fn top_level_extensions() {
    let mut ok = b"d1:ad2:id20:".to_vec();
    ok.extend_from_slice(&id(1));
    ok.extend_from_slice(
        b"e2:ip6:\x0a\x00\x00\x01\x00\x503:net7:tokengo1:q4:ping2:roi1e1:t2:aa1:v4:TG011:y1:qe",
    );
    let m = decode(&ok).unwrap();
    assert_eq!(
        m.requester_ip,
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(10, 0, 0, 1),
            80
        )))
    );
    assert_eq!(m.network, Some(&b"tokengo"[..]));
    assert!(m.read_only);
    assert_eq!(m.version, Some(&b"TG01"[..]));

    // `ip` of 18 bytes is an IPv6 address (BEP 32); of another size, `ro` other than 1, `v`
    // not a string: ignored.
    let m = decode(b"d2:ip18:0123456789abcdef012:roi0e1:t2:aa1:vi3e1:y1:e1:eli201eee").unwrap();
    let v6: [u8; 16] = *b"0123456789abcdef";
    assert_eq!(
        (m.requester_ip, m.read_only, m.version),
        (
            Some(SocketAddr::new(std::net::Ipv6Addr::from(v6).into(), 0x3031)),
            false,
            None
        )
    );
    let m = decode(b"d2:ip7:01234561:t2:aa1:y1:e1:eli201eee").unwrap();
    assert_eq!(m.requester_ip, None);
    // A network tag we cannot read is not "no tag".
    assert_eq!(
        decode(b"d3:neti1e1:t2:aa1:y1:e1:eli201eee"),
        Err(DecodeError::InvalidField("net"))
    );
}

#[test]
fn encode_never_panics_on_small_buffers() {
    for sample in all_messages() {
        let m = decode(&sample).unwrap();
        for size in 0..sample.len() {
            let mut buf = vec![0u8; size];
            assert!(m.encode(&mut buf).is_err(), "fit {size} < {}", sample.len());
        }
    }
}
