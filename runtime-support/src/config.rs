//! The configuration a node gets once its adapter has bound its sockets.

use std::net::SocketAddr;
use tokengo_core::Config;

/// Tells the node the families it has sockets for (BEP 32: one socket per family) and the
/// IPv4 address it is bound to, unless the caller configured one.
pub fn with_bound_addrs(mut config: Config, local_addrs: &[SocketAddr]) -> Config {
    config.ipv4 = local_addrs.iter().any(SocketAddr::is_ipv4);
    config.ipv6 = local_addrs.iter().any(SocketAddr::is_ipv6);
    if config.external_addr.is_none()
        && let Some(SocketAddr::V4(bound)) = local_addrs.iter().find(|a| a.is_ipv4())
    {
        config.external_addr = Some(*bound);
    }
    config
}

/// The addresses to bind: one per family at most, at least one.
pub fn check_listen(listen: &[SocketAddr]) -> Result<(), crate::Error> {
    let v4 = listen.iter().filter(|a| a.is_ipv4()).count();
    let v6 = listen.len() - v4;
    if listen.is_empty() || v4 > 1 || v6 > 1 {
        return Err(crate::Error::Listen {
            given: listen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_sockets() {
        let v4: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let v6: SocketAddr = "[::1]:6881".parse().unwrap();
        let only4 = with_bound_addrs(Config::default(), &[v4]);
        assert!(only4.ipv4 && !only4.ipv6);
        assert_eq!(only4.external_addr.map(SocketAddr::V4), Some(v4));
        let only6 = with_bound_addrs(Config::default(), &[v6]);
        assert!(!only6.ipv4 && only6.ipv6 && only6.external_addr.is_none());
        let both = with_bound_addrs(Config::default(), &[v6, v4]);
        assert!(both.ipv4 && both.ipv6);
        assert!(check_listen(&[v4, v6]).is_ok());
        assert!(check_listen(&[v4, v4]).is_err());
        assert!(check_listen(&[]).is_err());
    }
}
