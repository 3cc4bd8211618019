//! `tokengo keygen`: OHTTP key pairs for exits and Ed25519 identities for relays.

use std::path::{Path, PathBuf};

use tokengo_gateway::keyfile::{self, KeyFile as _};
use tokengo_gateway_proto::identity::{Identity, IdentityError};
use tokengo_gateway_proto::keys::{KeyError, OhttpKeyPair};

/// File name of the OHTTP private key inside the output directory.
pub const OHTTP_FILE: &str = "ohttp_private.key";
/// File name of the identity key inside the output directory.
pub const IDENTITY_FILE: &str = "identity.key";
/// File name of a network authority's key inside the output directory.
pub const AUTHORITY_FILE: &str = "authority.key";

/// What kind of key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An exit's OHTTP key pair.
    Ohttp,
    /// A node's Ed25519 identity.
    Identity,
    /// A network authority's Ed25519 key, which admits exits.
    Authority,
}

/// Why keygen failed.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// OHTTP key failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Identity failure.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A file exists and `--force` was not given.
    #[error("{0} exists; use --force to replace it")]
    Exists(PathBuf),
}

/// What keygen wrote, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generated {
    /// An OHTTP key pair.
    Ohttp {
        /// Private key file.
        private: PathBuf,
        /// Public key config file.
        public: PathBuf,
        /// KeyConfig, base64.
        key_config: String,
        /// pubKeyHash.
        pub_key_hash: String,
    },
    /// An identity.
    Identity {
        /// Key file.
        path: PathBuf,
        /// The id others pin.
        id: String,
    },
}

/// Generates a key of `kind` into `dir`; never replaces files unless `force`.
pub fn generate(kind: KeyKind, dir: &Path, force: bool) -> Result<Generated, KeygenError> {
    match kind {
        KeyKind::Ohttp => {
            let private = dir.join(OHTTP_FILE);
            let public = keyfile::public_path(&private);
            for p in [&private, &public] {
                if !force && p.exists() {
                    return Err(KeygenError::Exists(p.clone()));
                }
            }
            let pair = OhttpKeyPair::generate()?;
            pair.save(&private, force)?;
            Ok(Generated::Ohttp {
                key_config: pair.public().to_base64(),
                pub_key_hash: pair.public().hash(),
                private,
                public,
            })
        }
        KeyKind::Identity | KeyKind::Authority => {
            let name = if kind == KeyKind::Identity {
                IDENTITY_FILE
            } else {
                AUTHORITY_FILE
            };
            let path = dir.join(name);
            if !force && path.exists() {
                return Err(KeygenError::Exists(path));
            }
            let id = Identity::generate()?;
            id.save(&path, force)?;
            Ok(Generated::Identity { id: id.id(), path })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ohttp_keygen_writes_0600_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tmp");
        let g = generate(KeyKind::Ohttp, dir.path(), false).expect("gen");
        let Generated::Ohttp {
            private,
            pub_key_hash,
            ..
        } = g
        else {
            panic!("kind")
        };
        let before = std::fs::read(&private).expect("read");
        assert!(matches!(
            generate(KeyKind::Ohttp, dir.path(), false),
            Err(KeygenError::Exists(_))
        ));
        assert_eq!(std::fs::read(&private).expect("read"), before);
        let loaded = OhttpKeyPair::load(&private).expect("load");
        assert_eq!(loaded.public().hash(), pub_key_hash);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&private)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = generate(KeyKind::Ohttp, dir.path(), true).expect("force");
        assert_ne!(std::fs::read(&private).expect("read"), before);
        assert!(matches!(again, Generated::Ohttp { .. }));
    }

    #[test]
    fn identity_keygen_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tmp");
        generate(KeyKind::Identity, dir.path(), false).expect("gen");
        assert!(matches!(
            generate(KeyKind::Identity, dir.path(), false),
            Err(KeygenError::Exists(_))
        ));
        generate(KeyKind::Identity, dir.path(), true).expect("force");
    }
}
