//! Admission certificates: a network authority's signed word that an exit belongs to its
//! network, as Tor's directory authorities vouch for relays. An exit carries its certificates
//! inside its signed descriptor; a client that trusts the authority takes the exit.
//!
//! Encoding: `"TGA1" | version u8 (1) | role u8 (1: exit) | subject [32] | not after u64 |
//! authority [32] | Ed25519 signature [64]`, the signature over [`SIGNING_CONTEXT`] and every
//! byte before it. Times are Unix seconds.

use ring::signature::{ED25519, UnparsedPublicKey};

use crate::identity::{Identity, PUBLIC_KEY_LEN};

const MAGIC: &[u8; 4] = b"TGA1";
const VERSION: u8 = 1;
const BODY_LEN: usize = 4 + 1 + 1 + PUBLIC_KEY_LEN + 8 + PUBLIC_KEY_LEN;
/// Length of an encoded certificate.
pub const CERTIFICATE_LEN: usize = BODY_LEN + 64;
/// What an authority's signature is made over, before the certificate's bytes.
pub const SIGNING_CONTEXT: &[u8] = b"tokengo admission v1\0";

/// What a certificate admits its subject as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An exit.
    Exit,
}

impl Role {
    fn to_byte(self) -> u8 {
        match self {
            Role::Exit => 1,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        (b == 1).then_some(Role::Exit)
    }
}

/// Why a certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The bytes are not a certificate.
    #[error("malformed admission certificate")]
    Malformed,
    /// The signature does not verify under the authority it names.
    #[error("admission certificate signature does not verify")]
    BadSignature,
    /// It expired.
    #[error("admission certificate expired at {not_after}")]
    Expired {
        /// When it ended (Unix seconds).
        not_after: u64,
    },
    /// The authority key could not sign.
    #[error("cannot sign the admission certificate")]
    Sign,
}

/// An authority's admission of one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionCertificate {
    /// Who is admitted (an exit id).
    pub subject: [u8; PUBLIC_KEY_LEN],
    /// As what.
    pub role: Role,
    /// Until when (Unix seconds).
    pub not_after: u64,
    /// The authority's Ed25519 public key: its authority id.
    pub authority: [u8; PUBLIC_KEY_LEN],
}

impl AdmissionCertificate {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CERTIFICATE_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.role.to_byte());
        out.extend_from_slice(&self.subject);
        out.extend_from_slice(&self.not_after.to_be_bytes());
        out.extend_from_slice(&self.authority);
        out
    }

    /// Encodes and signs with the authority's key, which must be the one it names.
    pub fn sign(&self, authority: &Identity) -> Result<Vec<u8>, CertificateError> {
        if authority.public_key() != self.authority {
            return Err(CertificateError::Sign);
        }
        let mut out = self.body();
        let signature = authority
            .sign(&[SIGNING_CONTEXT, &out].concat())
            .ok_or(CertificateError::Sign)?;
        out.extend_from_slice(&signature);
        Ok(out)
    }

    /// Parses and checks the signature against the authority it names.
    pub fn verify(bytes: &[u8]) -> Result<Self, CertificateError> {
        if bytes.len() != CERTIFICATE_LEN || &bytes[..4] != MAGIC || bytes[4] != VERSION {
            return Err(CertificateError::Malformed);
        }
        let role = Role::from_byte(bytes[5]).ok_or(CertificateError::Malformed)?;
        let key = |at: usize| {
            let mut k = [0u8; PUBLIC_KEY_LEN];
            k.copy_from_slice(&bytes[at..at + PUBLIC_KEY_LEN]);
            k
        };
        let subject = key(6);
        let mut not_after = [0u8; 8];
        not_after.copy_from_slice(&bytes[38..46]);
        let certificate = Self {
            subject,
            role,
            not_after: u64::from_be_bytes(not_after),
            authority: key(46),
        };
        let (body, signature) = bytes.split_at(BODY_LEN);
        UnparsedPublicKey::new(&ED25519, certificate.authority)
            .verify(&[SIGNING_CONTEXT, body].concat(), signature)
            .map_err(|_| CertificateError::BadSignature)?;
        Ok(certificate)
    }

    /// Whether it admits `subject` as an exit at `now_unix`.
    pub fn admits_exit(
        &self,
        subject: &[u8; PUBLIC_KEY_LEN],
        now_unix: u64,
    ) -> Result<bool, CertificateError> {
        if now_unix > self.not_after {
            return Err(CertificateError::Expired {
                not_after: self.not_after,
            });
        }
        Ok(self.role == Role::Exit && &self.subject == subject)
    }
}

/// How many of `trusted` authorities admit `exit` at `now_unix`, each counted once, by the
/// certificates in `certificates` (undecodable, expired and foreign ones count for nothing).
#[must_use]
pub fn admitting_authorities(
    certificates: &[Vec<u8>],
    exit: &[u8; PUBLIC_KEY_LEN],
    trusted: &[[u8; PUBLIC_KEY_LEN]],
    now_unix: u64,
) -> usize {
    let mut seen: Vec<[u8; PUBLIC_KEY_LEN]> = Vec::new();
    for bytes in certificates {
        let Ok(cert) = AdmissionCertificate::verify(bytes) else {
            continue;
        };
        if trusted.contains(&cert.authority)
            && !seen.contains(&cert.authority)
            && cert.admits_exit(exit, now_unix) == Ok(true)
        {
            seen.push(cert.authority);
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn admit(authority: &Identity, exit: &Identity, not_after: u64) -> Vec<u8> {
        AdmissionCertificate {
            subject: exit.public_key(),
            role: Role::Exit,
            not_after,
            authority: authority.public_key(),
        }
        .sign(authority)
        .expect("sign")
    }

    #[test]
    fn certificates_count_once_per_trusted_authority_while_valid() {
        let a = Identity::generate().expect("a");
        let b = Identity::generate().expect("b");
        let stranger = Identity::generate().expect("s");
        let exit = Identity::generate().expect("e");
        let other_exit = Identity::generate().expect("o");
        let trusted = [a.public_key(), b.public_key()];
        let certs = vec![
            admit(&a, &exit, NOW + 60),
            admit(&a, &exit, NOW + 120),
            admit(&stranger, &exit, NOW + 60),
            admit(&b, &other_exit, NOW + 60),
        ];
        assert_eq!(
            admitting_authorities(&certs, &exit.public_key(), &trusted, NOW),
            1
        );
        let mut both = certs.clone();
        both.push(admit(&b, &exit, NOW + 60));
        assert_eq!(
            admitting_authorities(&both, &exit.public_key(), &trusted, NOW),
            2
        );
        assert_eq!(
            admitting_authorities(&both, &exit.public_key(), &trusted, NOW + 100),
            1,
            "expired ones stop counting"
        );
    }

    #[test]
    fn forged_and_malformed_certificates_are_refused() {
        let a = Identity::generate().expect("a");
        let exit = Identity::generate().expect("e");
        let good = admit(&a, &exit, NOW + 60);
        assert!(AdmissionCertificate::verify(&good).is_ok());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(AdmissionCertificate::verify(&bad).is_err(), "byte {i}");
        }
        assert_eq!(
            AdmissionCertificate::verify(&good[..10]),
            Err(CertificateError::Malformed)
        );
        let cert = AdmissionCertificate::verify(&good).expect("ok");
        assert_eq!(
            cert.admits_exit(&exit.public_key(), NOW + 61),
            Err(CertificateError::Expired {
                not_after: NOW + 60
            })
        );
        assert_eq!(cert.sign(&exit), Err(CertificateError::Sign));
    }
}
