//! The relay's exit list: what a client asks for with QueryExitKeys.
//!
//! Each entry is an exit id and that exit's signed descriptor, exactly as the exit registered
//! it. Nothing in an entry is taken on the relay's word: [`crate::trust`] verifies every
//! descriptor and decides which exits a client may use.

/// Largest ExitKeysResponse a client reads (a relay holds at most 1024 exits).
pub const MAX_EXIT_KEYS_PAYLOAD: usize = 4 * 1024 * 1024;

/// One entry of the QueryExitKeys answer (JSON `{"exit_id": ..., "descriptor": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitKeyEntry {
    /// The exit id the relay routes to: hex of the exit's identity key.
    pub exit_id: String,
    /// The exit's signed descriptor, standard base64.
    pub descriptor: String,
}

/// Why an exit list could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bad exit keys: {0}")]
pub struct ExitKeysError(#[from] serde_json::Error);

/// The JSON payload of an ExitKeysResponse.
pub fn encode_exit_keys(entries: &[ExitKeyEntry]) -> Result<Vec<u8>, ExitKeysError> {
    Ok(serde_json::to_vec(entries)?)
}

/// Parses an ExitKeysResponse payload.
pub fn decode_exit_keys(payload: &[u8]) -> Result<Vec<ExitKeyEntry>, ExitKeysError> {
    Ok(serde_json::from_slice(payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_round_trips_and_garbage_is_an_error() {
        let list = vec![ExitKeyEntry {
            exit_id: "ab".repeat(32),
            descriptor: "AAAA".into(),
        }];
        let json = encode_exit_keys(&list).expect("json");
        assert_eq!(decode_exit_keys(&json).expect("back"), list);
        assert!(decode_exit_keys(b"[1]").is_err());
        assert!(decode_exit_keys(b"[{\"exit_id\":\"x\"}]").is_err());
    }
}
