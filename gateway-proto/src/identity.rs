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

    /// The identity in a PKCS#8 document, if it is a valid Ed25519 key.
    pub fn from_pkcs8(pkcs8: Vec<u8>) -> Option<Self> {
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

    /// The identity file's text: base64 of the PKCS#8 document (secret).
    pub fn to_file_text(&self) -> String {
        B64.encode(&self.pkcs8)
    }

    /// Parses an identity file's text; `path` names the file in the error.
    pub fn from_file_text(text: &str, path: &Path) -> Result<Self, IdentityError> {
        let der = B64
            .decode(text.trim())
            .map_err(|_| IdentityError::Invalid(path.to_path_buf()))?;
        Self::from_pkcs8(der).ok_or_else(|| IdentityError::Invalid(path.to_path_buf()))
    }

    /// An Ed25519 signature over `message`; `None` only if the stored key is unusable.
    pub fn sign(&self, message: &[u8]) -> Option<[u8; 64]> {
        let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&self.pkcs8).ok()?;
        kp.sign(message).as_ref().try_into().ok()
    }

    /// The id others pin: hex of the public key.
    pub fn id(&self) -> String {
        hex::encode(self.public)
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
    fn file_text_round_trips_and_garbage_is_refused() {
        let id = Identity::generate().expect("gen");
        let text = format!("{}\n", id.to_file_text());
        let back = Identity::from_file_text(&text, Path::new("id")).expect("parse");
        assert_eq!(back.public_key(), id.public_key());
        assert_eq!(parse_relay_id(&id.id()), Some(id.public_key()));
        assert!(Identity::from_file_text("bm90IGEga2V5", Path::new("id")).is_err());
        assert!(Identity::from_file_text("%%%", Path::new("id")).is_err());
    }
}
