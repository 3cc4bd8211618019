//! Ed25519 node identities for relays (and exits): the key behind a relay's TLS certificate.
//!
//! The identity file holds the base64 of the PKCS#8 document. A relay's *id* is the hex of its
//! 32-byte Ed25519 public key; clients and exits pin a relay by that id.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Why an identity could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file is not a valid identity.
    #[error("invalid identity file {0}")]
    Invalid(PathBuf),
    /// The key could not be generated.
    #[error("cannot generate an Ed25519 key")]
    Generate,
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// An Ed25519 key pair with its PKCS#8 encoding.
pub struct Identity {
    pkcs8: Vec<u8>,
    public: [u8; PUBLIC_KEY_LEN],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            pkcs8: self.pkcs8.clone(),
            public: self.public,
        }
    }
}

impl Identity {
    /// A fresh identity.
    pub fn generate() -> Result<Self, IdentityError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| IdentityError::Generate)?;
        Self::from_pkcs8(doc.as_ref().to_vec()).ok_or(IdentityError::Generate)
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Option<Self> {
        let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).ok()?;
        let public = kp.public_key().as_ref().try_into().ok()?;
        Some(Self { pkcs8, public })
    }

    /// The PKCS#8 document (secret).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// The id others pin: hex of the public key.
    pub fn id(&self) -> String {
        hex::encode(self.public)
    }

    /// Loads an identity file.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let der = B64
            .decode(text.trim())
            .map_err(|_| IdentityError::Invalid(path.to_path_buf()))?;
        Self::from_pkcs8(der).ok_or_else(|| IdentityError::Invalid(path.to_path_buf()))
    }

    /// Writes the identity file (0600); refuses to replace a file unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<(), IdentityError> {
        crate::keyfile::write_secret(path, B64.encode(&self.pkcs8).as_bytes(), force).map_err(
            |source| IdentityError::Io {
                path: path.to_path_buf(),
                source,
            },
        )
    }

    /// Loads `path`, or creates it (0600, parent directories included) when missing.
    pub fn load_or_generate(path: &Path) -> Result<Self, IdentityError> {
        if path.exists() {
            return Self::load(path);
        }
        let id = Self::generate()?;
        id.save(path, false)?;
        Ok(id)
    }
}

/// Parses a relay id (64 hex characters) into a public key.
pub fn parse_relay_id(text: &str) -> Option<[u8; PUBLIC_KEY_LEN]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_file_round_trips_and_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/identity.key");
        let id = Identity::load_or_generate(&path).expect("gen");
        let again = Identity::load_or_generate(&path).expect("load");
        assert_eq!(id.public_key(), again.public_key());
        assert!(
            Identity::generate()
                .expect("gen")
                .save(&path, false)
                .is_err()
        );
        assert_eq!(parse_relay_id(&id.id()), Some(id.public_key()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
