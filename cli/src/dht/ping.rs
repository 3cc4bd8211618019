//! `tokengo dht ping`: one node's id.

use super::{Failure, PingArgs, args};
use anyhow::anyhow;
use std::process::ExitCode;
use tokengo_tokio::Dht;
use tokio::time::Instant;

pub(crate) async fn run(args: PingArgs) -> Result<ExitCode, Failure> {
    let deadline = Instant::now() + args.client.timeout;
    let both = [
        std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
    ];
    let local = if args.client.listen.is_empty() {
        &both[..]
    } else {
        &args.client.listen[..]
    };
    let targets = tokengo_tokio::resolve(std::slice::from_ref(&args.addr), local).await;
    let Some(&addr) = targets.first() else {
        return Err(Failure::Input(anyhow!(
            "`{}` does not resolve to an address of the families of --listen",
            args.addr
        )));
    };
    let config = args::node_config(args.client.network.network, true);
    let listen = super::report::client_listen(&args.client.listen, &[addr]);
    let dht = Dht::bind_all(&listen, config)
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
