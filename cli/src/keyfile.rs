//! Writing key files safely: secrets 0600, never replacing a file unless asked to.

use std::io::Write as _;
use std::path::Path;

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
