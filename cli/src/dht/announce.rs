//! `tokengo dht announce`: announce a port for an info hash.

use super::report;
use super::{AnnounceArgs, Failure};
use std::process::ExitCode;
use tokio::time::Instant;

pub(crate) async fn run(args: AnnounceArgs) -> Result<ExitCode, Failure> {
    let deadline = Instant::now() + args.client.timeout;
    // Read-only (BEP 43) like every one-shot command: nodes still accept our announce_peer,
    // but do not put a process that is about to exit into their routing tables.
    let mut signals = report::StopSignals::install()?;
    let client = report::start_client(&args.client, true, deadline).await?;
    let port = if args.implied_port { None } else { args.port };
    let announced = tokio::time::timeout_at(
        deadline,
        client.dht.announce(args.info_hash, port, args.keep),
    )
    .await;
    let accepted = match announced {
        Ok(result) => result.map_err(anyhow::Error::from)?.accepted,
        Err(_) => {
            eprintln!("announce {}: timed out", args.info_hash);
            0
        }
    };
    let port_text = match port {
        Some(port) => port.to_string(),
        None => format!("{} (implied)", client.dht.local_addr().port()),
    };
    crate::say!(
        "{} port {port_text}: accepted by {accepted} nodes",
        args.info_hash
    );
    if args.keep {
        eprintln!("re-announcing until SIGINT or SIGTERM");
        signals.recv().await;
        let _ = client.dht.stop_announce(args.info_hash).await;
    }
    let _ = client.dht.shutdown().await;
    Ok(if accepted > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
