//! Asynchronous resolution of `HOST:PORT` strings to addresses of the families the node has
//! sockets for.

use std::net::SocketAddr;
use tokengo_runtime_support::push_spoken;

/// Resolves every `HOST:PORT` (or `IP:PORT`, `[IPv6]:PORT`) in `targets` and keeps the IPv4
/// results, in order and without duplicates. Names that fail to resolve are logged and skipped.
pub async fn resolve_ipv4(targets: &[String]) -> Vec<SocketAddr> {
    resolve(targets, &[SocketAddr::from(([0, 0, 0, 0], 0))]).await
}

/// [`resolve_ipv4`] for the families of `local` (the node's sockets): IPv6 results too when
/// it has an IPv6 socket (BEP 32).
pub async fn resolve(targets: &[String], local: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for target in targets {
        if let Ok(addr) = target.parse::<SocketAddr>() {
            push_spoken(&mut out, local, [addr]);
            continue;
        }
        match tokio::net::lookup_host(target.as_str()).await {
            Ok(addrs) => push_spoken(&mut out, local, addrs),
            Err(error) => tracing::warn!(%target, %error, "cannot resolve bootstrap address"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_ipv4_literals_and_localhost_and_skips_garbage() {
        let got = resolve_ipv4(&[
            "127.0.0.1:6881".to_string(),
            "[::1]:6881".to_string(),
            "localhost:7000".to_string(),
            "not a host".to_string(),
            "127.0.0.1:6881".to_string(),
        ])
        .await;
        assert_eq!(got[0], "127.0.0.1:6881".parse::<SocketAddr>().unwrap());
        assert!(got.contains(&"127.0.0.1:7000".parse().unwrap()));
        assert!(got.iter().all(SocketAddr::is_ipv4));
        assert_eq!(got.len(), 2);
    }

    #[tokio::test]
    async fn a_dual_stack_node_keeps_ipv6_literals() {
        let local: Vec<SocketAddr> = vec!["0.0.0.0:0".parse().unwrap(), "[::]:0".parse().unwrap()];
        let got = resolve(
            &["[::1]:6881".to_string(), "127.0.0.1:1".to_string()],
            &local,
        )
        .await;
        assert_eq!(
            got,
            vec![
                "[::1]:6881".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:1".parse().unwrap()
            ]
        );
        let only6 = resolve(&["127.0.0.1:1".to_string()], &local[1..]).await;
        assert!(only6.is_empty());
    }
}
