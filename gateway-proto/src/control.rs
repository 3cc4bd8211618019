//! The relay's control answers: the exit list a client asks for with QueryExitKeys, and how a
//! client picks an exit from it.

use crate::keys::PublicKeyConfig;

/// Largest ExitKeysResponse a client reads (a relay holds at most 1024 exits of ~100 bytes).
pub const MAX_EXIT_KEYS_PAYLOAD: usize = 4 * 1024 * 1024;

/// One entry of the QueryExitKeys answer (JSON `{"pub_key_hash": ..., "key_config": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitKeyEntry {
    /// The exit's pubKeyHash.
    pub pub_key_hash: String,
    /// Its KeyConfig, standard base64.
    pub key_config: String,
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

/// The entries whose key config parses and matches the pubKeyHash it is listed under, sorted
/// by hash; then the pinned one (`pin`, case-insensitive) or else the first.
#[must_use]
pub fn choose_exit(entries: &[ExitKeyEntry], pin: Option<&str>) -> Option<PublicKeyConfig> {
    let mut valid: Vec<PublicKeyConfig> = entries
        .iter()
        .filter_map(|e| {
            let k = PublicKeyConfig::from_base64(&e.key_config).ok()?;
            (k.hash() == e.pub_key_hash).then_some(k)
        })
        .collect();
    valid.sort_by_key(|k| k.hash());
    match pin {
        Some(pin) => valid
            .into_iter()
            .find(|k| k.hash().eq_ignore_ascii_case(pin)),
        None => valid.into_iter().next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OhttpKeyPair;

    fn entry(k: &PublicKeyConfig) -> ExitKeyEntry {
        ExitKeyEntry {
            pub_key_hash: k.hash(),
            key_config: k.to_base64(),
        }
    }

    #[test]
    fn entries_whose_hash_lies_are_dropped_and_the_pin_wins() {
        let a = OhttpKeyPair::generate().expect("a").public().clone();
        let b = OhttpKeyPair::generate().expect("b").public().clone();
        let mut lying = entry(&a);
        lying.pub_key_hash = b.hash();
        assert_eq!(choose_exit(&[lying.clone()], None), None);
        let list = [lying, entry(&a), entry(&b)];
        let first = if a.hash() < b.hash() { &a } else { &b };
        assert_eq!(choose_exit(&list, None).as_ref(), Some(first));
        let pin = b.hash().to_uppercase();
        assert_eq!(choose_exit(&list, Some(&pin)), Some(b.clone()));
        assert_eq!(choose_exit(&list, Some("00")), None);
        let json = encode_exit_keys(&list).expect("json");
        assert_eq!(decode_exit_keys(&json).expect("back"), list);
        assert!(decode_exit_keys(b"[1]").is_err());
    }
}
