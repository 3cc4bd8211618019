//! Fuzzes the KRPC decoder with a round-trip oracle: whatever decodes must encode (into a buffer
//! of twice the input's size), decode again to an equal message, and encode again to the same
//! bytes; `encoded_len` must agree; a buffer one byte short must fail cleanly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_core::krpc::decode;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = decode(data) else {
        return;
    };
    let mut buf = vec![0u8; data.len() * 2];
    let len = message
        .encode(&mut buf)
        .expect("a decoded message encodes in twice its size");
    assert_eq!(message.encoded_len(), Ok(len));
    let encoded = &buf[..len];
    let again = decode(encoded).expect("our own encoding decodes");
    assert_eq!(again, message, "round trip changed the message");
    let mut buf2 = vec![0u8; len];
    assert_eq!(again.encode(&mut buf2), Ok(len));
    assert_eq!(&buf2[..], encoded, "encoding is not canonical");
    if len > 0 {
        assert!(message.encode(&mut buf2[..len - 1]).is_err());
    }
});
