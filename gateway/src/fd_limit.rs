//! The process's open-file limit: raised to its hard maximum at start, and a reserve kept so
//! that a flood of connections makes the proxy accept fewer, rather than fail everyone when
//! descriptors run out (a service's usual soft limit is 1,024).

/// Descriptors kept free for what is not a proxy connection: sockets to the relay and the
/// backend, key and state files, the runtime's own.
pub const RESERVED: u64 = 128;

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force
/// (`None` where it cannot be read, or when it is unlimited).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let now = getrlimit(Resource::Nofile);
        if now.current.is_some() && now.current != now.maximum {
            let raised = Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::debug!("cannot raise the open-file limit: {e}");
            }
        }
    }
    open_file_limit()
}

/// The soft open-file limit in force (`None` where it cannot be read, or when unlimited).
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many proxy connections fit under a soft limit of `limit` descriptors, at most `wanted`.
#[must_use]
pub fn connections_within(limit: Option<u64>, wanted: usize) -> usize {
    match limit {
        Some(limit) => {
            let room = usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
            wanted.min(room.max(1))
        }
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_kept_below_any_limit() {
        assert_eq!(connections_within(Some(1024), 512), 512);
        assert_eq!(connections_within(Some(256), 512), 128);
        assert_eq!(connections_within(Some(64), 512), 1);
        assert_eq!(connections_within(None, 512), 512);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        use rustix::process::{Resource, getrlimit};
        let soft = raise_open_file_limit();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(soft, now.current);
        assert_eq!(now.current, now.maximum);
    }
}
