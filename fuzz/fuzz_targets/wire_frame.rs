//! The frame decoder on arbitrary bytes: never panics, respects the limits, and whatever it
//! accepts re-encodes to exactly the bytes it consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo::wire::{Frame, HEADER_LEN, MAX_PAYLOAD_LEN, MAX_TARGET_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok((frame, used)) = Frame::decode(data) {
        assert!(used <= data.len());
        assert!(frame.target.len() <= MAX_TARGET_LEN);
        assert!(frame.payload.len() <= MAX_PAYLOAD_LEN);
        assert_eq!(used, HEADER_LEN + frame.target.len() + frame.payload.len());
        let again = frame.encode().expect("a decoded frame re-encodes");
        assert_eq!(&again[..], &data[..used]);
    }
});
