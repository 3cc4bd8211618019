//! `tokengo status`: asks a running client proxy what it holds (`GET /tokengo/status`) and
//! prints it for people, or as the proxy's JSON with `--json`.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::commands::StatusArgs;

/// Fetches and prints the status; fails when no proxy answers at the address.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let addr = crate::config::parse_local_listen(&args.listen)?;
    let url = format!(
        "http://{addr}{}",
        tokengo_gateway::client::proxy::STATUS_PATH
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let resp = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no tokengo client answers at {addr}"))?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    let status: Value = resp.json().await.context("reading the status")?;
    if args.json {
        println!("{status}");
    } else {
        print!("{}", render(&status));
    }
    Ok(())
}

/// The status for people, one fact per line.
pub fn render(s: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let uptime = s["uptime_seconds"].as_u64().unwrap_or(0);
    let _ = writeln!(
        out,
        "tokengo {} client, up {}h{:02}m{:02}s, {}",
        text(&s["version"]),
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60,
        if s["ready"] == true {
            "ready"
        } else {
            "not ready: no relay with a usable exit yet"
        }
    );
    match s["relay"].as_object() {
        Some(relay) => {
            let _ = writeln!(
                out,
                "relay     {} (id {}), round trip {:.1} ms",
                text(&relay["addr"]),
                text(&relay["id"]),
                relay["rtt_ms"].as_f64().unwrap_or(0.0)
            );
        }
        None => out.push_str("relay     none\n"),
    }
    match s["exit"].as_object() {
        Some(exit) => {
            let _ = writeln!(
                out,
                "exit      {} (trusted: {})",
                text(&exit["id"]),
                text(&exit["trusted_by"])
            );
        }
        None => out.push_str("exit      none\n"),
    }
    let exits = s["exits"].as_array().map_or(0, Vec::len);
    let models: Vec<String> = s["models"]
        .as_array()
        .map(|m| m.iter().map(text).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "exits     {exits} usable");
    let _ = writeln!(
        out,
        "models    {}",
        if models.is_empty() {
            "none listed (requests go to any exit)".to_owned()
        } else {
            models.join(", ")
        }
    );
    let r = &s["requests"];
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let _ = writeln!(
        out,
        "requests  {} ({} ok, {} client errors, {} server errors)",
        n("total"),
        n("ok"),
        n("client_errors"),
        n("server_errors")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_without_relay_says_it_is_not_ready() {
        let s = serde_json::json!({
            "version": "0.1.0", "uptime_seconds": 3725, "ready": false, "relay": null,
            "exit": null, "exits": [], "models": [],
            "requests": {"total": 2, "ok": 0, "client_errors": 0, "server_errors": 2}
        });
        let text = render(&s);
        assert!(
            text.starts_with("tokengo 0.1.0 client, up 1h02m05s, not ready"),
            "{text}"
        );
        assert!(text.contains("relay     none\n"), "{text}");
        assert!(
            text.contains("requests  2 (0 ok, 0 client errors, 2 server errors)"),
            "{text}"
        );
    }
}
