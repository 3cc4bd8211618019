//! `tokengo dht put`: stores a BEP 44 item. Immutable: prints the target. Mutable: signs the
//! value with the key in `--key`, with `--seq` or, by default, one more than the highest
//! sequence number found in the DHT, and prints the public key and the sequence number.

use super::item_key::{self, hex_of};
use super::report;
use super::{Failure, PutArgs};
use anyhow::anyhow;
use serde::Serialize;
use std::process::ExitCode;
use tokengo_core::item::{MutableItem, Value};
use tokio::time::Instant;

#[derive(Serialize)]
struct PutJson {
    target: String,
    /// Mutable items only.
    public_key: Option<String>,
    salt: Option<String>,
    seq: Option<i64>,
    accepted: usize,
    /// KRPC error codes of the nodes that refused the item (302: older sequence number).
    refused: Vec<i64>,
}

pub(crate) async fn run(args: PutArgs) -> Result<ExitCode, Failure> {
    let value = Value::string(args.value.as_bytes())
        .map_err(|e| Failure::Input(anyhow!("the value cannot be stored: {e}")))?;
    let salt = args.salt.clone().unwrap_or_default().into_bytes();
    if salt.len() > tokengo_core::item::MAX_SALT_LEN {
        return Err(Failure::Input(anyhow!("--salt is longer than 64 bytes")));
    }
    let key = match &args.key {
        Some(path) if args.mutable => {
            let (key, created) = item_key::load_or_create(path).map_err(Failure::Input)?;
            if created {
                eprintln!("created a new key in {}", path.display());
            }
            Some(key)
        }
        _ => None,
    };
    let deadline = Instant::now() + args.client.timeout;
    let dht = report::start_client(&args.client, true, deadline).await?;
    let within = |what: &'static str| move |_| Failure::Runtime(anyhow!("{what} timed out"));
    let (report, mutable) = match key {
        None => {
            let put = tokio::time::timeout_at(deadline, dht.put_immutable(value))
                .await
                .map_err(within("the put"))?
                .map_err(anyhow::Error::from)?;
            (put, None)
        }
        Some(key) => {
            let seq = match args.seq {
                Some(seq) => seq,
                None => {
                    let found =
                        tokio::time::timeout_at(deadline, dht.get_mutable(key.public_key(), &salt))
                            .await
                            .map_err(within("reading the current sequence number"))?
                            .map_err(anyhow::Error::from)?;
                    found
                        .item
                        .and_then(|i| i.seq())
                        .map_or(1, |s| s.saturating_add(1))
                }
            };
            let item = MutableItem::sign(&key, &salt, seq, value)
                .map_err(|e| Failure::Input(anyhow!("{e}")))?;
            let put = tokio::time::timeout_at(deadline, dht.put_mutable(item, args.cas))
                .await
                .map_err(within("the put"))?
                .map_err(anyhow::Error::from)?;
            (put, Some((key.public_key(), seq)))
        }
    };
    let _ = dht.shutdown().await;
    eprintln!(
        "stored on {} nodes{}",
        report.accepted,
        if report.refused.is_empty() {
            String::new()
        } else {
            format!(
                ", refused by {} (codes {:?})",
                report.refused.len(),
                report.refused
            )
        }
    );
    if args.json {
        let json = PutJson {
            target: report.target.to_string(),
            public_key: mutable.map(|(k, _)| hex_of(&k)),
            salt: args.salt.clone().filter(|_| mutable.is_some()),
            seq: mutable.map(|(_, s)| s),
            accepted: report.accepted,
            refused: report.refused.clone(),
        };
        crate::say!(
            "{}",
            serde_json::to_string(&json).map_err(anyhow::Error::from)?
        );
    } else {
        match mutable {
            None => crate::say!("{}", report.target),
            Some((key, seq)) => crate::say!("{} {seq}", hex_of(&key)),
        }
    }
    Ok(if report.accepted > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
