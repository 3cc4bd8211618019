//! Exit descriptors: what an exit says about itself, signed by its Ed25519 identity, so a
//! client can tell an exit's keys from keys a relay made up. Relays only carry descriptors;
//! the signature makes the carrier irrelevant.
//!
//! Encoding (all integers big-endian):
//!
//! ```text
//! "TGD1" | version u8 (1) | exit id [32] | valid from u64 | valid until u64 | sequence u64
//! | key count u8 (1..=8) | { length u16 | RFC 9458 KeyConfig } | model count u8 (0..=64)
//! | { length u8 (1..) | UTF-8 name } | certificate count u8 (0..=8)
//! | { admission certificate [CERTIFICATE_LEN] } | Ed25519 signature [64]
//! ```
//!
//! The signature covers [`SIGNING_CONTEXT`] followed by every byte before it. Times are Unix
//! seconds; a descriptor is valid for at most [`MAX_VALIDITY`].

use ring::signature::{ED25519, UnparsedPublicKey};

use crate::certificate::CERTIFICATE_LEN;
use crate::identity::{Identity, PUBLIC_KEY_LEN};
use crate::keys::PublicKeyConfig;

const MAGIC: &[u8; 4] = b"TGD1";
const VERSION: u8 = 1;
const SIGNATURE_LEN: usize = 64;
/// What the exit's signature is made over, before the descriptor's bytes.
pub const SIGNING_CONTEXT: &[u8] = b"tokengo exit descriptor v1\0";
/// Longest validity a descriptor may claim: 7 days.
pub const MAX_VALIDITY: u64 = 7 * 24 * 3600;
/// Most key configs in one descriptor (the current key and those still accepted).
pub const MAX_KEYS: usize = 8;
/// Most model names in one descriptor.
pub const MAX_MODELS: usize = 64;
/// Most admission certificates in one descriptor.
pub const MAX_ADMISSIONS: usize = 8;
/// Largest encoded descriptor accepted.
pub const MAX_DESCRIPTOR_LEN: usize = 16 * 1024;

/// Why a descriptor is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// The bytes are not a descriptor.
    #[error("malformed exit descriptor: {0}")]
    Malformed(&'static str),
    /// The signature does not verify under the exit id it names.
    #[error("exit descriptor signature does not verify")]
    BadSignature,
    /// Its validity has not started yet.
    #[error("exit descriptor not valid before {valid_from}")]
    NotYetValid {
        /// When it starts (Unix seconds).
        valid_from: u64,
    },
    /// It expired.
    #[error("exit descriptor expired at {valid_until}")]
    Expired {
        /// When it ended (Unix seconds).
        valid_until: u64,
    },
    /// It claims more than [`MAX_VALIDITY`].
    #[error("exit descriptor valid for more than 7 days")]
    TooLong,
    /// The identity could not sign.
    #[error("cannot sign the exit descriptor")]
    Sign,
}

/// What an exit signs about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitDescriptor {
    /// The exit's Ed25519 public key: its exit id.
    pub exit_id: [u8; PUBLIC_KEY_LEN],
    /// The OHTTP key configs it accepts, the current one first.
    pub key_configs: Vec<PublicKeyConfig>,
    /// The models it serves, if it says.
    pub models: Vec<String>,
    /// Start of validity (Unix seconds).
    pub valid_from: u64,
    /// End of validity (Unix seconds).
    pub valid_until: u64,
    /// Grows with every new descriptor of this exit.
    pub sequence: u64,
    /// Admission certificates from network authorities, as they were issued (each verifies on
    /// its own; see [`crate::certificate`]).
    pub admissions: Vec<Vec<u8>>,
}

/// A reader over the descriptor bytes that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DescriptorError> {
        if self.0.len() < n {
            return Err(DescriptorError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DescriptorError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DescriptorError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, DescriptorError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
}

impl ExitDescriptor {
    /// The exit id as others write it: hex of the public key.
    #[must_use]
    pub fn exit_id_hex(&self) -> String {
        hex::encode(self.exit_id)
    }

    /// The encoding the signature covers (without the context and the signature).
    pub fn encode_body(&self) -> Result<Vec<u8>, DescriptorError> {
        let bad = DescriptorError::Malformed;
        if self.key_configs.is_empty() || self.key_configs.len() > MAX_KEYS {
            return Err(bad("key count"));
        }
        if self.models.len() > MAX_MODELS {
            return Err(bad("model count"));
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.exit_id);
        out.extend_from_slice(&self.valid_from.to_be_bytes());
        out.extend_from_slice(&self.valid_until.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.push(self.key_configs.len() as u8);
        for key in &self.key_configs {
            let len = u16::try_from(key.encoded.len()).map_err(|_| bad("key config length"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&key.encoded);
        }
        out.push(self.models.len() as u8);
        for model in &self.models {
            let len = u8::try_from(model.len()).map_err(|_| bad("model name length"))?;
            if len == 0 {
                return Err(bad("empty model name"));
            }
            out.push(len);
            out.extend_from_slice(model.as_bytes());
        }
        if self.admissions.len() > MAX_ADMISSIONS {
            return Err(bad("certificate count"));
        }
        out.push(self.admissions.len() as u8);
        for cert in &self.admissions {
            if cert.len() != CERTIFICATE_LEN {
                return Err(bad("certificate length"));
            }
            out.extend_from_slice(cert);
        }
        if out.len() + SIGNATURE_LEN > MAX_DESCRIPTOR_LEN {
            return Err(bad("too large"));
        }
        Ok(out)
    }

    /// Encodes and signs with `identity`, which must be the one named by `exit_id`.
    pub fn sign(&self, identity: &Identity) -> Result<Vec<u8>, DescriptorError> {
        if identity.public_key() != self.exit_id {
            return Err(DescriptorError::Sign);
        }
        let mut out = self.encode_body()?;
        let signature = identity
            .sign(&[SIGNING_CONTEXT, &out].concat())
            .ok_or(DescriptorError::Sign)?;
        out.extend_from_slice(&signature);
        Ok(out)
    }

    /// Parses the bytes without checking the signature; returns the descriptor, the signed
    /// part and the signature.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8], &[u8]), DescriptorError> {
        let bad = DescriptorError::Malformed;
        if bytes.len() > MAX_DESCRIPTOR_LEN {
            return Err(bad("too large"));
        }
        let body_len = bytes
            .len()
            .checked_sub(SIGNATURE_LEN)
            .ok_or(bad("truncated"))?;
        let (body, signature) = bytes.split_at(body_len);
        let mut r = Reader(body);
        if r.take(4)? != MAGIC {
            return Err(bad("not a descriptor"));
        }
        if r.u8()? != VERSION {
            return Err(bad("unknown version"));
        }
        let mut exit_id = [0u8; PUBLIC_KEY_LEN];
        exit_id.copy_from_slice(r.take(PUBLIC_KEY_LEN)?);
        let (valid_from, valid_until, sequence) = (r.u64()?, r.u64()?, r.u64()?);
        let keys = usize::from(r.u8()?);
        if keys == 0 || keys > MAX_KEYS {
            return Err(bad("key count"));
        }
        let mut key_configs = Vec::with_capacity(keys);
        for _ in 0..keys {
            let len = usize::from(r.u16()?);
            let key = PublicKeyConfig::parse(r.take(len)?).map_err(|_| bad("key config"))?;
            key_configs.push(key);
        }
        let models = usize::from(r.u8()?);
        if models > MAX_MODELS {
            return Err(bad("model count"));
        }
        let mut names = Vec::with_capacity(models);
        for _ in 0..models {
            let len = usize::from(r.u8()?);
            if len == 0 {
                return Err(bad("empty model name"));
            }
            let name = std::str::from_utf8(r.take(len)?).map_err(|_| bad("model name"))?;
            names.push(name.to_owned());
        }
        let certs = usize::from(r.u8()?);
        if certs > MAX_ADMISSIONS {
            return Err(bad("certificate count"));
        }
        let mut admissions = Vec::with_capacity(certs);
        for _ in 0..certs {
            admissions.push(r.take(CERTIFICATE_LEN)?.to_vec());
        }
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let descriptor = Self {
            exit_id,
            key_configs,
            models: names,
            valid_from,
            valid_until,
            sequence,
            admissions,
        };
        Ok((descriptor, body, signature))
    }

    /// Parses and checks the signature against the exit id the descriptor names.
    pub fn verify(bytes: &[u8]) -> Result<Self, DescriptorError> {
        let (descriptor, body, signature) = Self::parse(bytes)?;
        UnparsedPublicKey::new(&ED25519, descriptor.exit_id)
            .verify(&[SIGNING_CONTEXT, body].concat(), signature)
            .map_err(|_| DescriptorError::BadSignature)?;
        Ok(descriptor)
    }

    /// Whether it is valid at `now_unix` and claims no more than [`MAX_VALIDITY`].
    pub fn check_time(&self, now_unix: u64) -> Result<(), DescriptorError> {
        if self.valid_until.saturating_sub(self.valid_from) > MAX_VALIDITY {
            return Err(DescriptorError::TooLong);
        }
        if now_unix < self.valid_from {
            return Err(DescriptorError::NotYetValid {
                valid_from: self.valid_from,
            });
        }
        if now_unix > self.valid_until {
            return Err(DescriptorError::Expired {
                valid_until: self.valid_until,
            });
        }
        Ok(())
    }

    /// Whether `key` is one of the key configs it lists.
    #[must_use]
    pub fn accepts(&self, key: &PublicKeyConfig) -> bool {
        self.key_configs.iter().any(|k| k == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OhttpKeyPair;

    const NOW: u64 = 1_800_000_000;

    fn descriptor(id: &Identity) -> ExitDescriptor {
        ExitDescriptor {
            exit_id: id.public_key(),
            key_configs: vec![
                OhttpKeyPair::generate().expect("k").public().clone(),
                OhttpKeyPair::generate().expect("k").public().clone(),
            ],
            models: vec!["llama3".into()],
            valid_from: NOW - 60,
            valid_until: NOW + 24 * 3600,
            sequence: 7,
            admissions: vec![vec![7; CERTIFICATE_LEN]],
        }
    }

    #[test]
    fn a_signed_descriptor_verifies_and_round_trips() {
        let id = Identity::generate().expect("id");
        let d = descriptor(&id);
        let bytes = d.sign(&id).expect("sign");
        assert_eq!(ExitDescriptor::verify(&bytes).expect("verify"), d);
        assert_eq!(d.check_time(NOW), Ok(()));
        assert!(d.accepts(&d.key_configs[1]));
        let other = OhttpKeyPair::generate().expect("k");
        assert!(!d.accepts(other.public()));
    }

    #[test]
    fn tampering_another_identity_and_bad_times_are_refused() {
        let id = Identity::generate().expect("id");
        let d = descriptor(&id);
        let bytes = d.sign(&id).expect("sign");
        for i in [10, 40, bytes.len() - 1] {
            let mut t = bytes.clone();
            t[i] ^= 1;
            assert!(ExitDescriptor::verify(&t).is_err(), "byte {i}");
        }
        // A relay cannot put its own key in an exit's descriptor and keep the signature.
        let mut forged = d.clone();
        forged.key_configs[0] = OhttpKeyPair::generate().expect("k").public().clone();
        let mut forged_bytes = forged.encode_body().expect("body");
        forged_bytes.extend_from_slice(&bytes[bytes.len() - SIGNATURE_LEN..]);
        assert_eq!(
            ExitDescriptor::verify(&forged_bytes),
            Err(DescriptorError::BadSignature)
        );
        assert_eq!(
            d.sign(&Identity::generate().expect("id")),
            Err(DescriptorError::Sign)
        );
        assert!(matches!(
            d.check_time(NOW + 2 * 24 * 3600),
            Err(DescriptorError::Expired { .. })
        ));
        assert!(matches!(
            d.check_time(NOW - 3600),
            Err(DescriptorError::NotYetValid { .. })
        ));
        let long = ExitDescriptor {
            valid_until: NOW + MAX_VALIDITY + 3600,
            ..d
        };
        assert_eq!(long.check_time(NOW), Err(DescriptorError::TooLong));
    }

    #[test]
    fn every_truncation_is_refused() {
        let id = Identity::generate().expect("id");
        let bytes = descriptor(&id).sign(&id).expect("sign");
        for cut in 0..bytes.len() {
            assert!(ExitDescriptor::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }
}
