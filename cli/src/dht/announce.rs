//! `tokengo dht announce`: announce a port for an info hash, once or every `--every` seconds.

use super::report::{self, StopSignals};
use super::{AnnounceArgs, Failure};
use std::process::ExitCode;
use tokio::time::Instant;

pub(crate) async fn run(args: AnnounceArgs) -> Result<ExitCode, Failure> {
    // Read-only (BEP 43) like every one-shot command: nodes still accept our announce_peer,
    // but do not put a process that is about to exit into their routing tables.
    let mut signals = report::StopSignals::install()?;
    let dht =
        report::start_client(&args.client, true, Instant::now() + args.client.timeout).await?;
    let accepted = round(&dht, &args).await?;
    if args.keep {
        eprintln!(
            "re-announcing every {} s until SIGINT or SIGTERM",
            args.every.as_secs()
        );
        keep_announcing(&dht, &args, &mut signals).await?;
    }
    let _ = dht.shutdown().await;
    Ok(if accepted > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One announce round, reported on stdout; the number of nodes that accepted it.
///
/// The rounds are driven from here rather than by the node's own re-announce timer so that
/// each one is reported.
async fn round(dht: &tokengo_tokio::Dht, args: &AnnounceArgs) -> Result<usize, Failure> {
    let port = if args.implied_port { None } else { args.port };
    let announced = tokio::time::timeout(
        args.client.timeout,
        dht.announce(args.info_hash, port, false),
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
        None => format!("{} (implied)", dht.local_addr().port()),
    };
    crate::say!(
        "{} port {port_text}: accepted by {accepted} nodes",
        args.info_hash
    );
    Ok(accepted)
}

async fn keep_announcing(
    dht: &tokengo_tokio::Dht,
    args: &AnnounceArgs,
    signals: &mut StopSignals,
) -> Result<(), Failure> {
    loop {
        let next = async {
            tokio::time::sleep(args.every).await;
            round(dht, args).await
        };
        tokio::select! {
            () = signals.recv() => return Ok(()),
            r = next => { r?; }
        }
    }
}
