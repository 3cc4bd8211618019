//! Key files on disk: OHTTP keys and identities loaded, generated and saved safely (secrets
//! 0600, never replacing a file unless asked to). The formats are parsed in
//! [`tokengo_gateway_proto::keys`] and [`tokengo_gateway_proto::identity`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tokengo_gateway_proto::identity::{Identity, IdentityError};
use tokengo_gateway_proto::keys::{KeyError, OhttpKeyPair, PublicKeyConfig};

fn open(path: &Path, force: bool, mode: u32) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            std::io::Error::new(e.kind(), "file exists (use --force to replace it)")
        } else {
            e
        }
    })
}

fn write(path: &Path, content: &[u8], force: bool, mode: u32) -> std::io::Result<()> {
    let mut f = open(path, force, mode)?;
    // A replaced file keeps its old mode; set it explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    f.write_all(content)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Writes a secret file with mode 0600.
pub fn write_secret(path: &Path, content: &[u8], force: bool) -> std::io::Result<()> {
    write(path, content, force, 0o600)
}

/// Writes a public file with mode 0644.
pub fn write_public(path: &Path, content: &[u8], force: bool) -> std::io::Result<()> {
    write(path, content, force, 0o644)
}

/// Loading and saving a key kind from and to files.
pub trait KeyFile: Sized {
    /// Why a file could not be used.
    type Error;
    /// Loads the key at `path`.
    fn load(path: &Path) -> Result<Self, Self::Error>;
    /// Writes the key to `path` (secrets 0600); refuses to replace files unless `force`.
    fn save(&self, path: &Path, force: bool) -> Result<(), Self::Error>;
    /// A fresh key.
    fn generate_new() -> Result<Self, Self::Error>;
    /// Loads `path`, or generates a key and saves it there (parent directories included) when
    /// there is none; says whether it was created.
    fn load_or_generate(path: &Path) -> Result<(Self, bool), Self::Error> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let key = Self::generate_new()?;
        key.save(path, false)?;
        Ok((key, true))
    }
}

fn read_text<E>(path: &Path, err: impl FnOnce(std::io::Error) -> E) -> Result<String, E> {
    std::fs::read_to_string(path).map_err(err)
}

/// Reads a secret key file, refusing one that others may read or write: a key that leaked
/// through its mode is no longer a secret, and using it would hide that.
fn read_secret<E>(path: &Path, err: impl FnOnce(std::io::Error) -> E) -> Result<String, E> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o777,
            Err(e) => return Err(err(e)),
        };
        if mode & 0o077 != 0 {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "secret key file has mode {mode:04o}, readable or writable by others; run chmod 600 on it"
                ),
            )));
        }
    }
    read_text(path, err)
}

fn key_io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<private>.pub`, where an OHTTP key's public config is kept.
pub fn public_path(private: &Path) -> PathBuf {
    let mut p = private.as_os_str().to_os_string();
    p.push(".pub");
    PathBuf::from(p)
}

impl KeyFile for OhttpKeyPair {
    type Error = KeyError;

    /// Loads a private key file; if `<path>.pub` exists it must match.
    fn load(path: &Path) -> Result<Self, KeyError> {
        let pair = OhttpKeyPair::from_private_text(&read_secret(path, key_io(path))?, path)?;
        let pub_path = public_path(path);
        if pub_path.exists() {
            let public = PublicKeyConfig::from_base64(&read_text(&pub_path, key_io(&pub_path))?)?;
            if public != *pair.public() {
                return Err(KeyError::InvalidFile {
                    path: pub_path,
                    reason: "public key config does not match the private key",
                });
            }
        }
        Ok(pair)
    }

    /// Writes `path` (0600) and `<path>.pub` (0644).
    fn save(&self, path: &Path, force: bool) -> Result<(), KeyError> {
        write_secret(path, self.private_text().as_bytes(), force).map_err(key_io(path))?;
        let pub_path = public_path(path);
        write_public(&pub_path, self.public().to_base64().as_bytes(), force)
            .map_err(key_io(&pub_path))
    }

    fn generate_new() -> Result<Self, KeyError> {
        OhttpKeyPair::generate()
    }
}

impl KeyFile for Identity {
    type Error = IdentityError;

    fn load(path: &Path) -> Result<Self, IdentityError> {
        let text = read_secret(path, |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Identity::from_file_text(&text, path)
    }

    fn save(&self, path: &Path, force: bool) -> Result<(), IdentityError> {
        write_secret(path, self.to_file_text().as_bytes(), force).map_err(|source| {
            IdentityError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    fn generate_new() -> Result<Self, IdentityError> {
        Identity::generate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_file_round_trips_and_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/identity.key");
        let (id, created) = Identity::load_or_generate(&path).expect("gen");
        let (again, created_again) = Identity::load_or_generate(&path).expect("load");
        assert!(created && !created_again);
        assert_eq!(id.public_key(), again.public_key());
        assert!(
            Identity::generate()
                .expect("gen")
                .save(&path, false)
                .is_err()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn ohttp_key_files_round_trip_and_a_mismatched_public_file_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k/ohttp.key");
        let (pair, created) = OhttpKeyPair::load_or_generate(&path).expect("gen");
        assert!(created);
        assert_eq!(
            OhttpKeyPair::load(&path).expect("load").public(),
            pair.public()
        );
        let other = OhttpKeyPair::generate().expect("other");
        std::fs::write(public_path(&path), other.public().to_base64()).expect("write");
        assert!(matches!(
            OhttpKeyPair::load(&path),
            Err(KeyError::InvalidFile { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("identity.key");
        Identity::load_or_generate(&path).expect("gen");
        let ohttp = dir.path().join("ohttp.key");
        OhttpKeyPair::load_or_generate(&ohttp).expect("gen");
        for (file, mode) in [(&path, 0o644), (&ohttp, 0o640), (&path, 0o602)] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let refused = if file == &path {
                Identity::load(file).map(drop).map_err(|e| e.to_string())
            } else {
                OhttpKeyPair::load(file)
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            let message = refused.expect_err("a shared secret is refused");
            assert!(message.contains("chmod 600"), "{message}");
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        assert!(Identity::load(&path).is_ok());
        assert!(OhttpKeyPair::load(&ohttp).is_ok());
    }
}
