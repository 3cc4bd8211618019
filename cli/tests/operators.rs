//! What operators look at, on real processes: `--metrics` on relay, exit and client serves
//! OpenMetrics text that Prometheus' own Python parser reads, with the request that went
//! through counted on every hop; `tokengo status` reports the client's relay, exit and models.

mod common;

use std::process::Command;

use common::procs::{BIN, free_tcp, free_udp, spawn, wait_for};

/// The metric families Prometheus' parser reads from the OpenMetrics text at `url`, as
/// `name value` lines per sample (`name{labels} value`).
fn scrape(url: &str) -> Vec<String> {
    let script = r#"
import sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1]).read().decode()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let out = common::python::sdk_python()
        .args(["-c", script, url])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "the parser refused {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The value of the sample named exactly `sample` (with its labels as the parser prints them).
fn value(samples: &[String], sample: &str) -> f64 {
    samples
        .iter()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in {samples:#?}"))
}

#[test]
fn metrics_and_status_show_a_request_on_every_hop() {
    let backend = common::procs::http_server(None);
    let dir = tempfile::tempdir().unwrap();
    let (quic, relay_metrics) = (format!("127.0.0.1:{}", free_udp()), free_tcp());
    let dht = format!("127.0.0.1:{}", free_udp());
    let (_relay, relay_out) = spawn(&[
        "relay",
        "--listen",
        &quic,
        "--dht-listen",
        &dht,
        "--no-default-bootstrap",
        "--metrics",
        &format!("127.0.0.1:{relay_metrics}"),
    ]);
    wait_for(&relay_out, "relay DHT node on");
    let exit_metrics = free_tcp();
    let key = dir.path().join("ohttp.key");
    let (_exit, exit_out) = spawn(&[
        "exit",
        "--relay",
        &quic,
        "--backend",
        &format!("http://{backend}"),
        "--ohttp-key",
        key.to_str().unwrap(),
        "--model",
        "m1",
        "--metrics",
        &format!("127.0.0.1:{exit_metrics}"),
    ]);
    wait_for(&exit_out, "registered with relay");
    let (api, client_metrics) = (free_tcp(), free_tcp());
    let (_client, client_out) = spawn(&[
        "client",
        "--relay",
        &quic,
        "--insecure-any-exit",
        "--listen",
        &format!("127.0.0.1:{api}"),
        "--metrics",
        &format!("127.0.0.1:{client_metrics}"),
    ]);
    wait_for(&client_out, "Ready! Listening on");

    let answer = common::procs::post(api, r#"{"model":"m1","messages":[]}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let unknown = common::procs::post(api, r#"{"model":"nobody","messages":[]}"#);
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");

    let client = scrape(&format!("http://127.0.0.1:{client_metrics}/metrics"));
    assert_eq!(
        value(
            &client,
            "tokengo_client_requests_total{route=/v1/chat/completions,status=200}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &client,
            "tokengo_client_requests_total{route=/v1/chat/completions,status=404}"
        ),
        1.0
    );
    assert!(
        value(
            &client,
            "tokengo_client_body_bytes_total{direction=received}"
        ) > 0.0
    );
    assert_eq!(
        value(&client, "tokengo_client_first_byte_seconds_count{}"),
        1.0
    );
    assert!(value(&client, "tokengo_client_ready_seconds{}") > 0.0);

    let exit = scrape(&format!("http://127.0.0.1:{exit_metrics}/metrics"));
    assert_eq!(
        value(
            &exit,
            "tokengo_exit_requests_total{route=/v1/chat/completions,status=200}"
        ),
        1.0
    );
    assert_eq!(value(&exit, "tokengo_exit_relays{}"), 1.0);

    let relay = scrape(&format!("http://127.0.0.1:{relay_metrics}/metrics"));
    assert_eq!(value(&relay, "tokengo_relay_exits{}"), 1.0);
    assert_eq!(
        value(&relay, "tokengo_relay_requests_total{outcome=forwarded}"),
        1.0
    );
    assert_eq!(value(&relay, "tokengo_relay_connections{role=exit}"), 1.0);
    assert!(
        value(
            &relay,
            "tokengo_relay_payload_bytes_total{direction=to_client}"
        ) > 0.0
    );
    assert!(value(&relay, "tokengo_dht_nodes{state=good}") >= 0.0);

    let status = Command::new(BIN)
        .args(["status", "--listen", &format!("127.0.0.1:{api}"), "--json"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(json["ready"], true, "{json}");
    assert_eq!(json["relay"]["addr"], quic.as_str(), "{json}");
    assert_eq!(json["exit"]["trusted_by"], "insecure", "{json}");
    assert_eq!(json["models"], serde_json::json!(["m1"]), "{json}");
    assert_eq!(json["requests"]["ok"], 1, "{json}");
    assert_eq!(json["requests"]["client_errors"], 1, "{json}");
    let people = Command::new(BIN)
        .args(["status", "--listen", &format!("127.0.0.1:{api}")])
        .output()
        .unwrap();
    let text = String::from_utf8(people.stdout).unwrap();
    assert!(text.contains(", ready\n"), "{text}");
    assert!(text.contains(&format!("relay     {quic}")), "{text}");
    assert!(text.contains("models    m1\n"), "{text}");

    let nobody = Command::new(BIN)
        .args(["status", "--listen", &format!("127.0.0.1:{}", free_tcp())])
        .output()
        .unwrap();
    assert!(!nobody.status.success());
    assert!(
        String::from_utf8_lossy(&nobody.stderr).contains("no tokengo client answers"),
        "{nobody:?}"
    );
}

#[test]
fn log_format_json_writes_one_json_object_per_log_line() {
    let dht = format!("127.0.0.1:{}", free_udp());
    let (_relay, out) = spawn(&[
        "relay",
        "--log-format",
        "json",
        "--listen",
        "127.0.0.1:0",
        "--dht-listen",
        &dht,
        "--no-default-bootstrap",
    ]);
    let mut lines = wait_for(&out, "relay DHT node listening");
    let line = lines.last().expect("a line").clone();
    let event: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
    assert_eq!(event["level"], "INFO", "{event}");
    assert_eq!(event["fields"]["message"], "relay DHT node listening");
    assert_eq!(event["fields"]["addr"], dht.as_str());
    assert!(event["timestamp"].is_string(), "{event}");
    // What a person reads on stdout stays text. Stdout and stderr are read on two threads,
    // so the stdout line may arrive after the log line that followed it.
    let text = |l: &String| l.starts_with("relay listening on");
    if !lines.iter().any(text) {
        lines.extend(wait_for(&out, "relay listening on"));
    }
    assert!(lines.iter().any(text), "{lines:?}");
}
