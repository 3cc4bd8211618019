//! Measuring relays concurrently and picking the fastest.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One relay's measurement, with what the probe learned (a relay's identity key, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeResult<T> {
    /// The address probed.
    pub addr: SocketAddr,
    /// Time the probe took; `None` when it failed or timed out.
    pub latency: Option<Duration>,
    /// What a successful probe returned.
    pub value: Option<T>,
}

/// Runs `probe` against every address at once (each bounded by `timeout`) and returns the
/// results fastest first, failures last.
pub async fn probe_all<F, Fut, T, E>(
    addrs: &[SocketAddr],
    timeout: Duration,
    probe: F,
) -> Vec<ProbeResult<T>>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let runs = addrs.iter().map(|&addr| {
        let attempt = probe(addr);
        async move {
            let start = Instant::now();
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(value)) => ProbeResult {
                    addr,
                    latency: Some(start.elapsed()),
                    value: Some(value),
                },
                Ok(Err(e)) => {
                    tracing::debug!(%addr, "relay probe failed: {e}");
                    ProbeResult {
                        addr,
                        latency: None,
                        value: None,
                    }
                }
                Err(_) => {
                    tracing::debug!(%addr, "relay probe timed out");
                    ProbeResult {
                        addr,
                        latency: None,
                        value: None,
                    }
                }
            }
        }
    });
    let mut results = futures_util::future::join_all(runs).await;
    results.sort_by_key(|r| (r.latency.is_none(), r.latency));
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fastest_first_failures_last() {
        let addrs: Vec<SocketAddr> = (1..=4)
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect();
        let results = probe_all(&addrs, Duration::from_secs(2), |addr| async move {
            match addr.port() {
                1 => tokio::time::sleep(Duration::from_millis(300)).await,
                2 => tokio::time::sleep(Duration::from_millis(100)).await,
                3 => return Err("refused"),
                _ => tokio::time::sleep(Duration::from_secs(10)).await,
            }
            Ok(addr.port() * 10)
        })
        .await;
        let order: Vec<u16> = results.iter().map(|r| r.addr.port()).collect();
        assert_eq!(&order[..2], &[2, 1]);
        assert_eq!((results[0].value, results[1].value), (Some(20), Some(10)));
        assert!(results[2].latency.is_none() && results[3].latency.is_none());
        assert!(results[2].value.is_none());
        assert!(results[0].latency.unwrap() < results[1].latency.unwrap());
    }
}
