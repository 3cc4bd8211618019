//! `tokengo dht get`: looks a BEP 44 item up and prints its value (a string value as its text,
//! any other value as bencode).

use super::item_key::hex_of;
use super::report;
use super::{Failure, GetArgs};
use anyhow::anyhow;
use serde::Serialize;
use std::process::ExitCode;
use tokengo_core::item::Item;
use tokengo_tokio::ItemRequest;
use tokio::time::Instant;

#[derive(Serialize)]
struct GetJson {
    target: String,
    found: bool,
    /// The value's text, when it is a UTF-8 string.
    value: Option<String>,
    /// The value as bencoded on the wire, in hex.
    bencoded_hex: Option<String>,
    /// Mutable items only.
    seq: Option<i64>,
    public_key: Option<String>,
    signature: Option<String>,
    stats: report::StatsJson,
}

pub(crate) async fn run(args: GetArgs) -> Result<ExitCode, Failure> {
    let salt = args.salt.clone().unwrap_or_default().into_bytes();
    let request = match (&args.target, &args.public_key) {
        (Some(target), None) if args.salt.is_none() => ItemRequest::Immutable(*target),
        (None, Some(key)) => ItemRequest::Mutable { key: *key, salt },
        (Some(_), None) => {
            return Err(Failure::Input(anyhow!(
                "--salt applies to mutable items (--public-key)"
            )));
        }
        _ => {
            return Err(Failure::Input(anyhow!(
                "give either TARGET (an immutable item) or --public-key HEX (a mutable one)"
            )));
        }
    };
    if let ItemRequest::Mutable { salt, .. } = &request
        && salt.len() > tokengo_core::item::MAX_SALT_LEN
    {
        return Err(Failure::Input(anyhow!("--salt is longer than 64 bytes")));
    }
    let deadline = Instant::now() + args.client.timeout;
    let dht = report::start_client(&args.client, true, deadline).await?;
    let report = tokio::time::timeout_at(deadline, dht.get(request))
        .await
        .map_err(|_| Failure::Runtime(anyhow!("the get timed out")))?
        .map_err(anyhow::Error::from)?;
    let _ = dht.shutdown().await;
    let item = report.item;
    if args.json {
        let json = GetJson {
            target: report.target.to_string(),
            found: item.is_some(),
            value: item.as_ref().and_then(|i| {
                i.value()
                    .as_string()
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .map(str::to_string)
            }),
            bencoded_hex: item.as_ref().map(|i| hex_of(i.value().as_bytes())),
            seq: item.as_ref().and_then(Item::seq),
            public_key: match &item {
                Some(Item::Mutable(m)) => Some(hex_of(m.key())),
                _ => None,
            },
            signature: match &item {
                Some(Item::Mutable(m)) => Some(hex_of(m.signature())),
                _ => None,
            },
            stats: report.stats.into(),
        };
        crate::say!(
            "{}",
            serde_json::to_string(&json).map_err(anyhow::Error::from)?
        );
    } else if let Some(item) = &item {
        let value = item.value();
        let text = match value.as_string() {
            Some(s) => String::from_utf8_lossy(s).into_owned(),
            None => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
        crate::say!("{text}");
        if let Some(seq) = item.seq() {
            eprintln!("seq {seq}");
        }
    }
    if item.is_none() {
        eprintln!(
            "no item under {} ({} of {} nodes answered)",
            report.target, report.stats.answered, report.stats.queried
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
