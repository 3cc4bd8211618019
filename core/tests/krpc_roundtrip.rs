//! Property tests: `decode(encode(m)) == m` for every kind of message, and the encoding is
//! canonical (sorted keys, so encoding the decoded message gives the same bytes).

mod krpc_model;

use krpc_model::{OwnedMessage, owned_message};
use proptest::prelude::*;
use tokengo_core::krpc::decode;

fn round_trip(owned: &OwnedMessage) -> Result<(), TestCaseError> {
    let message = owned.view();
    let mut buf = vec![0u8; 4096];
    let len = message
        .encode(&mut buf)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(message.encoded_len(), Ok(len));
    let bytes = &buf[..len];
    let decoded =
        decode(bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", bytes.escape_ascii())))?;
    prop_assert_eq!(&decoded, &message);
    let mut again = vec![0u8; len];
    prop_assert_eq!(decoded.encode(&mut again), Ok(len));
    prop_assert_eq!(&again[..], bytes);
    // Too small by one byte is an error, never a panic or a partial success.
    prop_assert!(message.encode(&mut buf[..len - 1]).is_err());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_kind_round_trips(owned in owned_message()) {
        round_trip(&owned)?;
    }
}
