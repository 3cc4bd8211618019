//! Asynchronous resolution of `HOST:PORT` strings to the IPv4 addresses the node serves.

use std::net::SocketAddr;
use tokengo_runtime_support::push_ipv4;

/// Resolves every `HOST:PORT` (or `IP:PORT`) in `targets` and keeps the IPv4 results, in order
/// and without duplicates. Names that fail to resolve are logged and skipped.
pub async fn resolve_ipv4(targets: &[String]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for target in targets {
        if let Ok(addr) = target.parse::<SocketAddr>() {
            push_ipv4(&mut out, [addr]);
            continue;
        }
        match tokio::net::lookup_host(target.as_str()).await {
            Ok(addrs) => push_ipv4(&mut out, addrs),
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
}
