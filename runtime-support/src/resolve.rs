//! What resolving bootstrap addresses means, whichever way an adapter resolves names.

use crate::error::Error;
use std::net::SocketAddr;

/// Appends the IPv4 addresses among `addrs` to `out`, in order, skipping those it holds.
pub fn push_ipv4(out: &mut Vec<SocketAddr>, addrs: impl IntoIterator<Item = SocketAddr>) {
    for addr in addrs.into_iter().filter(SocketAddr::is_ipv4) {
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
}

/// Appends the addresses among `addrs` of the families the node has sockets for (`local`)
/// to `out`, in order, skipping those it holds.
pub fn push_spoken(
    out: &mut Vec<SocketAddr>,
    local: &[SocketAddr],
    addrs: impl IntoIterator<Item = SocketAddr>,
) {
    for addr in addrs {
        let spoken = local.iter().any(|l| l.is_ipv4() == addr.is_ipv4());
        if spoken && !out.contains(&addr) {
            out.push(addr);
        }
    }
}

/// The addresses `routers` resolved to, or [`Error::NoBootstrapAddress`] when there were
/// routers and none of them resolved.
pub fn require_bootstrap_addrs(
    routers: &[String],
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Error> {
    if resolved.is_empty() && !routers.is_empty() {
        return Err(Error::NoBootstrapAddress {
            tried: routers.join(", "),
        });
    }
    Ok(resolved)
}
