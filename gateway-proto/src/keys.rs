//! OHTTP key material: key configs (RFC 9458 §3), key files and the pubKeyHash.
//!
//! The suite is fixed: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM. A private key file
//! holds `base64(key_id ‖ ikm)` where `ikm` is 32 random bytes from which the HPKE key pair is
//! derived (RFC 9180 `DeriveKeyPair`); the public file next to it (`<private>.pub`) holds the
//! base64 of the encoded KeyConfig. Whitespace around either file's content is ignored. Reading
//! and writing the files is the shell's (`tokengo_gateway::keyfile`); this module only parses.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ohttp::hpke::{Aead, Kdf, Kem};
use ohttp::{KeyConfig, SymmetricSuite};
use ring::rand::SecureRandom as _;
use sha2::{Digest, Sha256};

/// KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_X25519: u16 = 0x0020;
/// KDF id of HKDF-SHA256.
pub const KDF_HKDF_SHA256: u16 = 0x0001;
/// AEAD id of AES-128-GCM.
pub const AEAD_AES128GCM: u16 = 0x0001;
/// Length of an X25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Most symmetric suites accepted in one key config (the encoding allows 16383).
pub const MAX_SUITES: usize = 64;
const IKM_LEN: usize = 32;

/// Why key material could not be made, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key config bytes are malformed or use another suite.
    #[error("invalid key config: {0}")]
    InvalidConfig(&'static str),
    /// A key file is malformed.
    #[error("invalid key file {path}: {reason}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The OHTTP library refused the key.
    #[error("ohttp: {0}")]
    Ohttp(#[from] ohttp::Error),
    /// The system random generator failed.
    #[error("no randomness available")]
    Random,
}

/// A parsed, validated public key config: what a client needs to encrypt to an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyConfig {
    /// The key identifier carried in every request header.
    pub key_id: u8,
    /// The X25519 public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The RFC 9458 encoding this was parsed from.
    pub encoded: Vec<u8>,
}

impl PublicKeyConfig {
    /// Parses one RFC 9458 KeyConfig strictly: X25519 KEM, a suite list whose first entry is
    /// HKDF-SHA256/AES-128-GCM (the OHTTP library seals with the first suite, and an exit opens
    /// only that one, so a config listing another first would make every request fail), and no
    /// trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyError> {
        let bad = KeyError::InvalidConfig;
        let (&key_id, rest) = bytes.split_first().ok_or(bad("empty"))?;
        let kem = rest.get(..2).ok_or(bad("truncated kem id"))?;
        if u16::from_be_bytes([kem[0], kem[1]]) != KEM_X25519 {
            return Err(bad("kem is not DHKEM(X25519, HKDF-SHA256)"));
        }
        let rest = &rest[2..];
        let pk = rest
            .get(..PUBLIC_KEY_LEN)
            .ok_or(bad("truncated public key"))?;
        let rest = &rest[PUBLIC_KEY_LEN..];
        let len = rest.get(..2).ok_or(bad("truncated suite length"))?;
        let suites_len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let rest = &rest[2..];
        if suites_len == 0 || suites_len % 4 != 0 {
            return Err(bad("suite list length is not a positive multiple of 4"));
        }
        if suites_len / 4 > MAX_SUITES {
            return Err(bad("too many suites"));
        }
        if rest.len() != suites_len {
            return Err(bad("suite list length does not match the remaining bytes"));
        }
        let first = &rest[..4];
        let supported = u16::from_be_bytes([first[0], first[1]]) == KDF_HKDF_SHA256
            && u16::from_be_bytes([first[2], first[3]]) == AEAD_AES128GCM;
        if !supported {
            return Err(bad("the first suite is not HKDF-SHA256/AES-128-GCM"));
        }
        // Whatever we accept, the OHTTP library must be able to use.
        KeyConfig::decode(bytes).map_err(|_| bad("not usable by the OHTTP library"))?;
        let mut public_key = [0u8; PUBLIC_KEY_LEN];
        public_key.copy_from_slice(pk);
        Ok(Self {
            key_id,
            public_key,
            encoded: bytes.to_vec(),
        })
    }

    /// Parses the base64 text form.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| KeyError::InvalidConfig("not base64"))?;
        Self::parse(&bytes)
    }

    /// The standard base64 text form.
    pub fn to_base64(&self) -> String {
        B64.encode(&self.encoded)
    }

    /// The pubKeyHash that names this exit on a relay.
    pub fn hash(&self) -> String {
        pub_key_hash(&self.public_key)
    }

    /// The `ohttp` library's view of this config, for encapsulating requests.
    pub fn to_ohttp(&self) -> Result<KeyConfig, KeyError> {
        Ok(KeyConfig::decode(&self.encoded)?)
    }
}

/// Lowercase hex of the first 16 bytes of SHA-256 of the public key (32 characters).
pub fn pub_key_hash(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    hex::encode(&digest[..16])
}

/// An exit's private OHTTP key.
#[derive(Clone)]
pub struct OhttpKeyPair {
    key_id: u8,
    ikm: [u8; IKM_LEN],
    public: PublicKeyConfig,
}

impl std::fmt::Debug for OhttpKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OhttpKeyPair")
            .field("key_id", &self.key_id)
            .field("hash", &self.public.hash())
            .finish_non_exhaustive()
    }
}

fn suite() -> Vec<SymmetricSuite> {
    vec![SymmetricSuite::new(Kdf::HkdfSha256, Aead::Aes128Gcm)]
}

impl OhttpKeyPair {
    /// A fresh key pair with a random key id.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 1 + IKM_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| KeyError::Random)?;
        let mut ikm = [0u8; IKM_LEN];
        ikm.copy_from_slice(&seed[1..]);
        Self::from_parts(seed[0], ikm)
    }

    /// A fresh key pair with the given key id (a rotating exit gives each new key an id its
    /// other accepted keys do not use, so a request's first byte says which key opens it).
    pub fn generate_with_id(key_id: u8) -> Result<Self, KeyError> {
        let mut ikm = [0u8; IKM_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut ikm)
            .map_err(|_| KeyError::Random)?;
        Self::from_parts(key_id, ikm)
    }

    /// The key id: the first byte of every request sealed to this key.
    #[must_use]
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    fn from_parts(key_id: u8, ikm: [u8; IKM_LEN]) -> Result<Self, KeyError> {
        let config = KeyConfig::derive(key_id, Kem::X25519Sha256, suite(), &ikm)?;
        let public = PublicKeyConfig::parse(&config.encode()?)?;
        Ok(Self {
            key_id,
            ikm,
            public,
        })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKeyConfig {
        &self.public
    }

    /// The server-side config (with the private key) for decapsulation.
    pub fn server_config(&self) -> Result<KeyConfig, KeyError> {
        Ok(KeyConfig::derive(
            self.key_id,
            Kem::X25519Sha256,
            suite(),
            &self.ikm,
        )?)
    }

    /// The private key file's text.
    pub fn private_text(&self) -> String {
        let mut raw = Vec::with_capacity(1 + IKM_LEN);
        raw.push(self.key_id);
        raw.extend_from_slice(&self.ikm);
        B64.encode(raw)
    }

    /// Parses a private key file's text.
    pub fn from_private_text(text: &str, path: &Path) -> Result<Self, KeyError> {
        let invalid = |reason| KeyError::InvalidFile {
            path: path.to_path_buf(),
            reason,
        };
        let raw = B64.decode(text.trim()).map_err(|_| invalid("not base64"))?;
        if raw.len() != 1 + IKM_LEN {
            return Err(invalid("wrong length (expected 33 bytes)"));
        }
        let mut ikm = [0u8; IKM_LEN];
        ikm.copy_from_slice(&raw[1..]);
        Self::from_parts(raw[0], ikm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_is_standard_and_hash_is_32_hex() {
        let pair = OhttpKeyPair::generate().expect("gen");
        let enc = &pair.public().encoded;
        // key_id, kem, 32-byte key, suites length 4, one suite.
        assert_eq!(enc.len(), 1 + 2 + 32 + 2 + 4);
        assert_eq!(&enc[1..3], &[0x00, 0x20]);
        assert_eq!(&enc[35..], &[0, 4, 0, 1, 0, 1]);
        let h = pair.public().hash();
        assert_eq!(h.len(), 32);
        assert_eq!(h, pub_key_hash(&enc[3..35]));
        let round = PublicKeyConfig::from_base64(&pair.public().to_base64()).expect("parse");
        assert_eq!(&round, pair.public());
    }

    #[test]
    fn private_text_round_trips_with_whitespace() {
        let pair = OhttpKeyPair::generate().expect("gen");
        let text = format!("{}\n", pair.private_text());
        let back = OhttpKeyPair::from_private_text(&text, Path::new("k")).expect("parse");
        assert_eq!(back.public(), pair.public());
    }

    #[test]
    fn parser_rejects_malformed_configs() {
        let good = OhttpKeyPair::generate()
            .expect("gen")
            .public()
            .encoded
            .clone();
        assert!(PublicKeyConfig::parse(&good).is_ok());
        for cut in 0..good.len() {
            assert!(PublicKeyConfig::parse(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(PublicKeyConfig::parse(&extra).is_err());
        let mut wrong_kem = good.clone();
        wrong_kem[2] = 0x21;
        assert!(PublicKeyConfig::parse(&wrong_kem).is_err());
        let mut wrong_aead = good.clone();
        wrong_aead[40] = 3;
        assert!(PublicKeyConfig::parse(&wrong_aead).is_err());
        // A supported suite next to an unknown one: the OHTTP library refuses it, so do we.
        let mut mixed = good[..35].to_vec();
        mixed.extend_from_slice(&[0, 8, 0, 1, 0, 1, 0, 99, 0, 1]);
        assert!(PublicKeyConfig::parse(&mixed).is_err());
        // ChaCha20-Poly1305 listed before our suite: the library would seal with it and the
        // exit would refuse every request, so the config is refused here instead.
        let mut chacha_first = good[..35].to_vec();
        chacha_first.extend_from_slice(&[0, 8, 0, 1, 0, 3, 0, 1, 0, 1]);
        assert!(PublicKeyConfig::parse(&chacha_first).is_err());
        let mut ours_first = good[..35].to_vec();
        ours_first.extend_from_slice(&[0, 8, 0, 1, 0, 1, 0, 1, 0, 3]);
        assert!(PublicKeyConfig::parse(&ours_first).is_ok());
    }

    #[test]
    fn every_single_byte_mutation_is_rejected_or_usable() {
        let good = OhttpKeyPair::generate()
            .expect("gen")
            .public()
            .encoded
            .clone();
        for i in 0..good.len() {
            for v in [0u8, 1, 0x20, 0x7f, 0xff] {
                let mut m = good.clone();
                m[i] = v;
                if let Ok(cfg) = PublicKeyConfig::parse(&m) {
                    assert!(cfg.to_ohttp().is_ok(), "byte {i} = {v}");
                    assert_eq!(cfg.encoded, m);
                }
            }
        }
    }
}
