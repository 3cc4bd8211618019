//! The signing key of `tokengo dht put --mutable --key FILE`: a file holding the 32-byte
//! Ed25519 seed in hex. A missing file is created (mode 0600) with a fresh seed; an existing
//! one is never replaced.

use anyhow::{Context, anyhow};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use tokengo_core::item::SigningKey;

/// Reads the key in `path`, or creates one there if there is no file. Returns the key and
/// whether it was created.
pub(crate) fn load_or_create(path: &Path) -> anyhow::Result<(SigningKey, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((
            parse(&text).with_context(|| format!("{}", path.display()))?,
            false,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            SystemRandom::new()
                .fill(&mut seed)
                .map_err(|_| anyhow!("the OS random source failed"))?;
            tokengo_gateway::keyfile::write_secret(path, hex_of(&seed).as_bytes(), false)
                .with_context(|| format!("cannot write the key file {}", path.display()))?;
            Ok((SigningKey::from_seed(seed), true))
        }
        Err(e) => Err(anyhow!("cannot read the key file {}: {e}", path.display())),
    }
}

/// A seed in hex (64 characters, surrounding whitespace ignored).
fn parse(text: &str) -> anyhow::Result<SigningKey> {
    let bytes = hex_bytes(text.trim())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            anyhow!("not a key file: expected 64 hexadecimal characters (an Ed25519 seed)")
        })?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&bytes);
    Ok(SigningKey::from_seed(seed))
}

/// Lower-case hex.
pub(crate) fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex (either case); `None` on an odd length or a non-hex character.
pub(crate) fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dht.key");
        let (key, created) = load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.public_key(), key.public_key());
        std::fs::write(&path, "not hex").unwrap();
        assert!(load_or_create(&path).is_err());
        assert_eq!(hex_bytes("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_bytes("0a0"), None);
    }
}
