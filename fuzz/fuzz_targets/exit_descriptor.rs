//! The exit descriptor parser on arbitrary bytes (they arrive through relays): never panics;
//! whatever parses re-encodes to exactly the signed part it was parsed from, and verifying never
//! accepts what parsing refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_gateway_proto::descriptor::{ExitDescriptor, MAX_KEYS, MAX_MODELS};
use tokengo_gateway_proto::registration::split_register_payload;

fuzz_target!(|data: &[u8]| {
    match ExitDescriptor::parse(data) {
        Ok((descriptor, body, signature)) => {
            assert_eq!(signature.len(), 64);
            assert_eq!(body.len() + 64, data.len());
            assert!(!descriptor.key_configs.is_empty() && descriptor.key_configs.len() <= MAX_KEYS);
            assert!(descriptor.models.len() <= MAX_MODELS);
            let again = descriptor.encode_body().expect("a parsed descriptor re-encodes");
            assert_eq!(&again[..], body);
        }
        Err(_) => assert!(ExitDescriptor::verify(data).is_err()),
    }
    if let Some((config, rest)) = split_register_payload(data) {
        assert_eq!(config.len() + rest.len(), data.len());
    }
});
