//! `tokengo dht ping`: one node's id.

use super::{Failure, PingArgs, args};
use anyhow::anyhow;
use std::process::ExitCode;
use tokengo_tokio::Dht;
use tokio::time::Instant;

pub(crate) async fn run(args: PingArgs) -> Result<ExitCode, Failure> {
    let deadline = Instant::now() + args.client.timeout;
    let targets = tokengo_tokio::resolve_ipv4(std::slice::from_ref(&args.addr)).await;
    let Some(&addr) = targets.first() else {
        return Err(Failure::Input(anyhow!(
            "`{}` does not resolve to an IPv4 address",
            args.addr
        )));
    };
    let config = args::node_config(args.client.network.network, true);
    let dht = Dht::bind(args.client.listen, config)
        .await
        .map_err(|e| Failure::Input(e.into()))?;
    let answer = tokio::time::timeout_at(deadline, dht.ping(addr)).await;
    let _ = dht.shutdown().await;
    match answer {
        Ok(Ok(Some(id))) => {
            crate::say!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(None)) | Err(_) => {
            eprintln!("{addr} did not answer");
            Ok(ExitCode::from(1))
        }
        Ok(Err(error)) => Err(Failure::Runtime(error.into())),
    }
}
