//! The exit descriptor parser on arbitrary bytes (they arrive through relays, and from exits at
//! registration): never panics; whatever parses re-encodes to exactly the signed part it was
//! parsed from; verifying never accepts what parsing refused; a relay never challenges, and a
//! client never takes, a descriptor that does not verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_gateway_proto::descriptor::{ExitDescriptor, MAX_KEYS, MAX_MODELS};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokengo_gateway_proto::control::ExitKeyEntry;
use tokengo_gateway_proto::frame::{Frame, MessageType};
use tokengo_gateway_proto::refusal::Refusal;
use tokengo_gateway_proto::registration::{RegistrationError, RelayRegistration};
use tokengo_gateway_proto::trust::{TrustPolicy, admit_exit};

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
    let verified = ExitDescriptor::verify(data);
    let now_unix = verified.as_ref().map_or(0, |d| d.valid_from);
    let now = Instant::now();
    let mut relay = RelayRegistration::new(now, now_unix, Duration::from_secs(1), [1; 32], [2; 32]);
    let target = verified.as_ref().map_or_else(|_| "00".repeat(32), |d| d.exit_id_hex());
    relay.handle_frame(now, Frame::to_target(MessageType::Register, target.clone(), data.to_vec()));
    let challenged = relay
        .poll_transmit()
        .is_some_and(|f| f.kind == MessageType::RegisterChallenge);
    if verified.is_err() {
        assert!(!challenged);
        assert_eq!(
            relay.poll_outcome(),
            Some(Err(RegistrationError::Refused(Refusal::BadDescriptor)))
        );
    }
    let entry = ExitKeyEntry {
        exit_id: target,
        descriptor: base64::engine::general_purpose::STANDARD.encode(data),
    };
    let policy = TrustPolicy {
        insecure_any_exit: true,
        ..TrustPolicy::default()
    };
    if admit_exit(&entry, &policy, now_unix).is_ok() {
        assert!(verified.is_ok(), "a client took a descriptor that does not verify");
    }
});
