//! The inner HTTP message decoders (Binary HTTP) on arbitrary bytes, as the exit reads a
//! client's opened request and a client reads an exit's response: never panic, and whatever
//! decodes re-encodes to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_gateway_proto::http_message::{InnerRequest, InnerResponse, MAX_HEAD_LEN, ResponseHead};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = InnerRequest::decode(data) {
        assert!(request.path_and_query.starts_with('/'));
        let bytes = request.encode().expect("a decoded request re-encodes");
        let again = InnerRequest::decode(&bytes).expect("a re-encoded request decodes");
        assert_eq!(again, request);
    }
    if let Ok(response) = InnerResponse::decode(data) {
        let bytes = response.encode().expect("a decoded response re-encodes");
        let again = InnerResponse::decode(&bytes).expect("a re-encoded response decodes");
        assert_eq!(again, response);
    }
    if let Ok(head) = ResponseHead::decode(data) {
        let prefixed = match head.encode_prefixed() {
            Ok(prefixed) => prefixed,
            // Names and values decode lossily (an invalid byte becomes a 3-byte U+FFFD), so
            // only a head near the limit may grow past it.
            Err(_) => {
                assert!(
                    data.len() * 3 > MAX_HEAD_LEN,
                    "a small head failed to re-encode"
                );
                return;
            }
        };
        let len = u32::from_be_bytes(prefixed[..4].try_into().expect("4 bytes")) as usize;
        assert_eq!(len, prefixed.len() - 4);
        let again = ResponseHead::decode(&prefixed[4..]).expect("a re-encoded head decodes");
        assert_eq!(again, head);
    }
});
