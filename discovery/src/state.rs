//! Persistence of a node's identity and contacts (`--state FILE`).
//!
//! The file is JSON: `{"version":1,"network":"tokengo","id":HEX,"contacts":[{"id":HEX,
//! "addr":"IP:PORT"}]}`. It is written atomically: to a temporary file in the same directory,
//! flushed to disk, then renamed over the old one, so a crash leaves the old or the new state,
//! never half of one. Restored contacts start as questionable in the node.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokengo_core::{Id, NodeInfo};

/// Bound: the largest state file read (a full table of 160 buckets of 8 is about 20 KiB).
pub const MAX_STATE_BYTES: u64 = 1 << 20;
/// Bound: contacts restored from a state file.
pub const MAX_CONTACTS: usize = 2048;
const VERSION: u32 = 1;

/// What is kept between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The network's name (`tokengo`, `mainline`): a state is only valid on its network.
    pub network: String,
    /// The node id.
    pub id: Id,
    /// The contacts of its routing table.
    pub contacts: Vec<NodeInfo>,
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read.
    #[error("cannot read the state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is over [`MAX_STATE_BYTES`].
    #[error("the state file {path} is larger than {MAX_STATE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a node state.
    #[error("the state file {path} is not a valid node state: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be written.
    #[error("cannot write the state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    network: String,
    id: String,
    contacts: Vec<ContactEntry>,
}

#[derive(Serialize, Deserialize)]
struct ContactEntry {
    id: String,
    addr: SocketAddr,
}

/// Reads the state at `path`; `Ok(None)` when there is no file yet.
pub fn load(path: &Path) -> Result<Option<NodeState>, StateError> {
    let read_error = |source| StateError::Read {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |reason: String| StateError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(read_error(error)),
    };
    if file.metadata().map_err(read_error)?.len() > MAX_STATE_BYTES {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let parsed: StateFile =
        serde_json::from_reader(io::BufReader::new(file)).map_err(|e| invalid(e.to_string()))?;
    if parsed.version != VERSION {
        return Err(invalid(format!("unsupported version {}", parsed.version)));
    }
    let id = Id::from_hex(&parsed.id).ok_or_else(|| invalid("bad node id".to_string()))?;
    let mut contacts = Vec::new();
    for entry in parsed.contacts.into_iter().take(MAX_CONTACTS) {
        match Id::from_hex(&entry.id) {
            Some(id) => contacts.push(NodeInfo {
                id,
                addr: entry.addr,
            }),
            None => tracing::warn!(id = %entry.id, "skipping a contact with a bad id"),
        }
    }
    Ok(Some(NodeState {
        network: parsed.network,
        id,
        contacts,
    }))
}

/// Writes `state` to `path` atomically (temporary file, then rename), readable by the owner
/// only.
pub fn save(path: &Path, state: &NodeState) -> Result<(), StateError> {
    let write_error = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = StateFile {
        version: VERSION,
        network: state.network.clone(),
        id: state.id.to_string(),
        contacts: state
            .contacts
            .iter()
            .take(MAX_CONTACTS)
            .map(|c| ContactEntry {
                id: c.id.to_string(),
                addr: c.addr,
            })
            .collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| write_error(e.into()))?;
    bytes.push(b'\n');
    let temporary = temporary_path(path);
    let result = write_private(&temporary, &bytes).and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(write_error)
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeState {
        NodeState {
            network: "tokengo".into(),
            id: Id([0xab; 20]),
            contacts: vec![
                NodeInfo {
                    id: Id([1; 20]),
                    addr: "127.0.0.1:4000".parse().unwrap(),
                },
                NodeInfo {
                    id: Id([2; 20]),
                    addr: "10.1.2.3:6881".parse().unwrap(),
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        assert_eq!(load(&path).unwrap(), None);
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(sample()));
        // Overwriting keeps one file and no temporary leftovers.
        let mut next = sample();
        next.contacts.pop();
        save(&path, &next).unwrap();
        assert_eq!(load(&path).unwrap(), Some(next));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rejects_garbage_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
        fs::write(
            &path,
            br#"{"version":1,"network":"x","id":"zz","contacts":[]}"#,
        )
        .unwrap();
        assert!(matches!(load(&path), Err(StateError::Invalid { .. })));
        fs::write(&path, vec![b' '; MAX_STATE_BYTES as usize + 1]).unwrap();
        assert!(matches!(load(&path), Err(StateError::TooLarge { .. })));
    }

    #[test]
    fn skips_bad_contacts_and_bounds_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        let mut contacts = vec![r#"{"id":"nothex","addr":"1.2.3.4:5"}"#.to_string()];
        let good = format!(r#"{{"id":"{}","addr":"1.2.3.4:5"}}"#, Id([3; 20]));
        contacts.extend(std::iter::repeat_n(good, MAX_CONTACTS + 5));
        let text = format!(
            r#"{{"version":1,"network":"tokengo","id":"{}","contacts":[{}]}}"#,
            Id([9; 20]),
            contacts.join(",")
        );
        fs::write(&path, text).unwrap();
        let state = load(&path).unwrap().unwrap();
        assert_eq!(state.contacts.len(), MAX_CONTACTS - 1);
    }
}
