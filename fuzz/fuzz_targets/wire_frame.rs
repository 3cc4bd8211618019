//! The frame header parser on arbitrary bytes, driven the way the stream reader drives it:
//! never panics, respects the limits, asks for strictly more bytes each time it is short, ends
//! where the whole-buffer decoder ends; whatever decodes re-encodes to exactly the bytes it
//! consumed; an Error frame's refusal code survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_gateway_proto::Refusal;
use tokengo_gateway_proto::frame::{
    Frame, HEADER_LEN, HeaderParse, MAX_PAYLOAD_LEN, MAX_TARGET_LEN, MessageType, parse_header,
};

/// What the async reader does: start empty, read exactly up to `need`, parse again.
fn parse_incrementally(data: &[u8]) -> Option<Result<HeaderParse, ()>> {
    let mut have = 0;
    loop {
        match parse_header(&data[..have], MAX_PAYLOAD_LEN) {
            Err(_) => return Some(Err(())),
            Ok(done @ HeaderParse::Complete { .. }) => return Some(Ok(done)),
            Ok(HeaderParse::Incomplete { need }) => {
                assert!(need > have, "the parser must ask for more than it has");
                assert!(need <= HEADER_LEN + MAX_TARGET_LEN);
                if need > data.len() {
                    return None;
                }
                have = need;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let stepped = parse_incrementally(data);
    let whole = parse_header(data, MAX_PAYLOAD_LEN);
    match (&stepped, &whole) {
        (Some(Ok(a)), Ok(b)) => assert_eq!(a, b),
        (Some(Err(())), Err(_)) => {}
        (None, Ok(HeaderParse::Incomplete { .. })) => {}
        other => panic!("stream and buffer parsing disagree: {other:?}"),
    }
    if let Ok((frame, used)) = Frame::decode(data) {
        assert!(used <= data.len());
        assert!(frame.target.len() <= MAX_TARGET_LEN);
        assert!(frame.payload.len() <= MAX_PAYLOAD_LEN);
        assert_eq!(used, HEADER_LEN + frame.target.len() + frame.payload.len());
        let again = frame.encode().expect("a decoded frame re-encodes");
        assert_eq!(&again[..], &data[..used]);
        if frame.kind == MessageType::Error {
            let (refusal, _) = Refusal::decode(&frame.payload);
            if frame.payload.len() >= 2 {
                assert_eq!(refusal.code().to_be_bytes(), [frame.payload[0], frame.payload[1]]);
            }
            assert_eq!(Refusal::decode(&refusal.encode()).0, refusal);
        }
    }
});
