//! Measuring relays concurrently and picking the fastest.

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Least time a round waits for more answers after the first one.
pub const MIN_GRACE: Duration = Duration::from_millis(250);

/// When a probe round ends, measured from its start: at `timeout`, or, once the fastest relay
/// answered after `first`, when the others have had [`MIN_GRACE`] or three times that long
/// again. A relay that died still has its announcement in the DHT for a while, and waiting the
/// whole timeout for it would hold every start and every failover.
#[must_use]
pub fn round_length(timeout: Duration, first: Option<Duration>) -> Duration {
    first.map_or(timeout, |first| {
        (first + MIN_GRACE.max(first * 3)).min(timeout)
    })
}

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

/// Runs `probe` against every address at once and returns the results fastest first, failures
/// last; a probe still running when the round ends ([`round_length`]) counts as failed.
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
    probe_round(addrs, |first| round_length(timeout, first), probe).await
}

/// [`probe_all`] with its own rule for when the round ends: `round(first)` is the round's
/// length from its start, `first` the time of its first success (`None` before one).
pub async fn probe_round<R, F, Fut, T, E>(
    addrs: &[SocketAddr],
    round: R,
    probe: F,
) -> Vec<ProbeResult<T>>
where
    R: Fn(Option<Duration>) -> Duration,
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = tokio::time::Instant::now();
    let mut runs: FuturesUnordered<_> = addrs
        .iter()
        .enumerate()
        .map(|(i, &addr)| {
            let attempt = probe(addr);
            async move {
                let result = attempt.await;
                (i, start.elapsed(), result)
            }
        })
        .collect();
    let mut results: Vec<ProbeResult<T>> = addrs
        .iter()
        .map(|&addr| ProbeResult {
            addr,
            latency: None,
            value: None,
        })
        .collect();
    let mut first = None;
    loop {
        let end = start + round(first);
        let Ok(Some((i, latency, result))) = tokio::time::timeout_at(end, runs.next()).await else {
            break;
        };
        match result {
            Ok(value) => {
                first.get_or_insert(latency);
                results[i].latency = Some(latency);
                results[i].value = Some(value);
            }
            Err(e) => tracing::debug!(addr = %addrs[i], "relay probe failed: {e}"),
        }
    }
    for r in results.iter().filter(|r| r.latency.is_none()) {
        tracing::debug!(addr = %r.addr, "relay probe unanswered when the round ended");
    }
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

    #[tokio::test(start_paused = true)]
    async fn a_round_ends_soon_after_the_first_answer_without_waiting_for_the_dead() {
        let addrs: Vec<SocketAddr> = (1..=3)
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect();
        let started = tokio::time::Instant::now();
        let results = probe_all(&addrs, Duration::from_secs(3), |addr| async move {
            let wait = match addr.port() {
                1 => 100,
                2 => 350,
                _ => 60_000,
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, &str>(())
        })
        .await;
        // The round ends 250 ms after the first answer (100 ms + max(250, 300) ms).
        assert_eq!(started.elapsed(), Duration::from_millis(400));
        let answered: Vec<u16> = results
            .iter()
            .filter(|r| r.latency.is_some())
            .map(|r| r.addr.port())
            .collect();
        assert_eq!(answered, [1, 2]);
    }

    #[test]
    fn the_grace_follows_the_fastest_answer_within_the_timeout() {
        let ms = Duration::from_millis;
        let timeout = Duration::from_secs(3);
        assert_eq!(round_length(timeout, None), timeout);
        assert_eq!(round_length(timeout, Some(ms(10))), ms(260));
        assert_eq!(round_length(timeout, Some(ms(200))), ms(800));
        assert_eq!(round_length(timeout, Some(ms(2000))), timeout);
    }
}
