//! The hostile corpus: inputs that crash or fool other bencode parsers are rejected here with an
//! error, without panicking and without deep stacks (every case also runs on a 64 KiB thread).

mod krpc_support;

use krpc_support::*;
use tokengo_core::krpc::{Body, DecodeError, MAX_DEPTH, decode};

/// Decodes on a thread with a small stack: a recursive decoder would overflow it.
fn decode_small_stack(datagram: Vec<u8>) -> Result<(), DecodeError> {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || decode(&datagram).map(|_| ()))
        .expect("spawn")
        .join()
        .expect("decode panicked")
}

fn ping_with_extra(key: &[u8], value: &[u8]) -> Vec<u8> {
    // Keys need not be sorted, so the extra pair can go first.
    let ping = ping_query();
    let mut out = b"d".to_vec();
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out.extend_from_slice(&ping[1..]);
    out
}

fn nested(open: &[u8], depth: usize) -> Vec<u8> {
    let mut v = open.repeat(depth);
    v.extend(std::iter::repeat_n(b'e', depth));
    v
}

#[test]
fn deep_nesting_is_rejected() {
    assert_eq!(
        decode_small_stack(nested(b"l", 100_000)),
        Err(DecodeError::NotADict)
    );
    let mut under_t = b"d1:t".to_vec();
    under_t.extend(nested(b"l", 100_000));
    under_t.push(b'e');
    assert_eq!(decode_small_stack(under_t), Err(DecodeError::TooDeep));
    // 64 KB of nesting under an unknown key of an otherwise valid ping.
    let hostile = ping_with_extra(b"2:zz", &nested(b"l", 32_000));
    assert!(hostile.len() >= 64_000);
    assert_eq!(decode_small_stack(hostile), Err(DecodeError::TooDeep));
    // The same under `a`, inside lists of dicts, and 100,000 deep.
    let dicts = ping_with_extra(b"2:zz", &nested(b"ld1:xl", 20_000));
    assert_eq!(decode_small_stack(dicts), Err(DecodeError::TooDeep));
    let deep = ping_with_extra(b"2:zz", &nested(b"l", 100_000));
    assert_eq!(decode_small_stack(deep), Err(DecodeError::TooDeep));
    let mut under_a = b"d1:ad2:zz".to_vec();
    under_a.extend(nested(b"l", 100_000));
    under_a.extend_from_slice(b"e1:q4:ping1:t2:aa1:y1:qe");
    assert_eq!(decode_small_stack(under_a), Err(DecodeError::TooDeep));
}

#[test]
fn nesting_up_to_the_cap_is_accepted() {
    // The top-level dict is depth 1, so an unknown value may hold MAX_DEPTH - 1 levels.
    let at_cap = ping_with_extra(b"2:zz", &nested(b"l", MAX_DEPTH - 1));
    assert!(matches!(
        decode(&at_cap).map(|m| m.body),
        Ok(Body::Query(_))
    ));
    let over = ping_with_extra(b"2:zz", &nested(b"l", MAX_DEPTH));
    assert_eq!(decode(&over).unwrap_err(), DecodeError::TooDeep);
}

#[test]
fn huge_lengths_are_rejected_without_overflow() {
    for length in [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        "4294967296",
    ] {
        let top = format!("{length}:x").into_bytes();
        assert_eq!(decode_small_stack(top), Err(DecodeError::NotADict));
        let t = format!("d1:t{length}:x1:y1:ee").into_bytes();
        assert_eq!(
            decode_small_stack(t),
            Err(DecodeError::Truncated),
            "{length}"
        );
        let key = format!("d{length}:xe").into_bytes();
        assert_eq!(decode_small_stack(key), Err(DecodeError::Truncated));
        let unknown = ping_with_extra(b"2:zz", format!("l{length}:xe").as_bytes());
        assert_eq!(decode_small_stack(unknown), Err(DecodeError::Truncated));
        let value = ping_with_extra(b"2:zz", format!("l{length}:xe").as_bytes());
        assert_eq!(decode_small_stack(value), Err(DecodeError::Truncated));
    }
    // A length one past the end is truncation, not a slice panic.
    assert_eq!(decode(b"d1:t3:aae"), Err(DecodeError::Truncated));
}

#[test]
fn bad_integers_are_rejected() {
    let error_with = |code: &str| format!("d1:eli{code}e1:xe1:t2:aa1:y1:ee").into_bytes();
    let bad = [
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "99999999999999999999999",
        "-0",
        "03",
        "-03",
        "00",
        "+5",
        "",
        "-",
        "--1",
        "1-",
        "1.5",
        " 1",
    ];
    for code in bad {
        assert_eq!(
            decode_small_stack(error_with(code)),
            Err(DecodeError::InvalidInteger),
            "i{code}e"
        );
        // Also under an unknown key, where the skipper reads it.
        let hidden = ping_with_extra(b"2:zz", format!("i{code}e").as_bytes());
        assert_eq!(
            decode_small_stack(hidden),
            Err(DecodeError::InvalidInteger),
            "i{code}e"
        );
    }
    for (code, value) in [
        ("0", 0),
        ("-1", -1),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ] {
        let datagram = error_with(code);
        let Body::Error(e) = decode(&datagram).unwrap().body else {
            panic!("not an error")
        };
        assert_eq!(e.code, value);
    }
}

#[test]
fn leading_zeros_in_lengths_are_rejected() {
    assert_eq!(decode(b"d1:t02:aa1:y1:ee"), Err(DecodeError::InvalidSyntax));
    assert_eq!(decode(b"d1:t00:1:y1:ee"), Err(DecodeError::InvalidSyntax));
    assert_eq!(decode(b"d01:t2:aa1:y1:ee"), Err(DecodeError::InvalidSyntax));
    let hidden = ping_with_extra(b"2:zz", b"l03:abce");
    assert_eq!(decode(&hidden), Err(DecodeError::InvalidSyntax));
}

#[test]
fn malformed_containers_are_rejected() {
    // Non-string dictionary keys, a key without a value, stray bytes.
    assert_eq!(
        decode(&ping_with_extra(b"2:zz", b"di1ei2ee")),
        Err(DecodeError::InvalidSyntax)
    );
    assert_eq!(
        decode(&ping_with_extra(b"2:zz", b"d1:xe")),
        Err(DecodeError::InvalidSyntax)
    );
    assert_eq!(
        decode(&ping_with_extra(b"2:zz", b"x")),
        Err(DecodeError::InvalidSyntax)
    );
    assert_eq!(
        decode(&ping_with_extra(b"2:zz", b"e")),
        Err(DecodeError::InvalidSyntax)
    );
    assert_eq!(decode(b"di1ei2ee"), Err(DecodeError::InvalidSyntax));
    assert_eq!(decode(b"d1:t2:aa1:y1:q"), Err(DecodeError::Truncated));
}

#[test]
fn every_truncation_of_every_valid_message_is_rejected() {
    for sample in all_messages() {
        assert!(decode(&sample).is_ok());
        for end in 0..sample.len() {
            let prefix = &sample[..end];
            assert!(
                decode(prefix).is_err(),
                "accepted a {end}-byte prefix of {}",
                sample.escape_ascii()
            );
        }
        // Also with an unknown key holding nested containers, truncated everywhere.
        let nested_sample = ping_with_extra(b"2:zz", b"ld1:ali-5e3:abcee");
        for end in 0..nested_sample.len() {
            assert!(decode(&nested_sample[..end]).is_err());
        }
    }
}

#[test]
fn every_single_byte_change_of_every_valid_message_is_safe() {
    // Not a rejection test (many changes are still valid messages): it must not panic, and
    // whatever decodes must re-encode.
    for sample in all_messages() {
        for i in 0..sample.len() {
            for byte in [0u8, b'0', b'9', b'd', b'e', b'i', b'l', b':', b'-', 0xff] {
                let mut mutated = sample.clone();
                mutated[i] = byte;
                if let Ok(m) = decode(&mutated) {
                    let mut buf = vec![0; mutated.len() * 2 + 64];
                    let len = m.encode(&mut buf).expect("re-encodes");
                    assert_eq!(decode(&buf[..len]), Ok(m));
                }
            }
        }
    }
}
