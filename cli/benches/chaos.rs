//! Chaos as real processes on loopback: three relays, two exits registered with all three, a
//! zero-configuration client (it believes an exit whose descriptor two relays hand out alike,
//! so a network that loses one relay must have three), and a backend whose streams never end. With 50 streaming requests
//! in flight, the client's relay is killed (SIGKILL, no goodbye), then, with 50 more, the exit
//! it uses. For each failure: how long each open stream took to end after the kill and how it
//! ended, and, from a request sent every 100 ms meanwhile, when the first one succeeded again
//! and how many failed. Finally every process's output is searched for a panic.
//!
//! `cargo bench -p tokengo --bench chaos` (env: `STREAMS`, default 50; `AFTER`, seconds of
//! requests after each kill, default 20).

#[allow(dead_code)]
#[path = "../tests/common/procs.rs"]
mod procs;
mod support;

use std::convert::Infallible;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt as _;
use procs::{Proc, free_tcp, free_udp, spawn, wait_for};
use support::{ms, percentile};

const MODEL: &str = "chaos";
/// How long a stream may take to end before it counts as hung.
const CAP: Duration = Duration::from_secs(30);

/// Chat completions that stream an event every 100 ms until the caller goes away, and a model
/// list, so both exits serve [`MODEL`].
async fn backend() -> std::net::SocketAddr {
    async fn chat(body: Bytes) -> Response {
        let streaming =
            serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["stream"] == true);
        if !streaming {
            let answer = serde_json::json!({
                "id": "chatcmpl-chaos", "object": "chat.completion", "model": MODEL,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok"}}]
            });
            return Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(answer.to_string()))
                .expect("response");
        }
        let events = futures_util::stream::unfold(0u64, |i| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let event = format!("data: {{\"i\":{i}}}\n\n");
            Some((Ok::<_, Infallible>(Bytes::from(event)), i + 1))
        });
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(events))
            .expect("response")
    }
    async fn models() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({
            "object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "chaos"}]
        }))
    }
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .route("/v1/models", axum::routing::get(models));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("backend");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A process of the network and everything it printed so far.
struct Member {
    proc: Option<Proc>,
    out: mpsc::Receiver<String>,
    lines: Vec<String>,
}

impl Member {
    fn start(args: &[&str], ready: &str) -> Member {
        let (proc, out) = spawn(args);
        let lines = wait_for(&out, ready);
        Member {
            proc: Some(proc),
            out,
            lines,
        }
    }

    fn wait_for(&mut self, needle: &str) {
        let lines = wait_for(&self.out, needle);
        self.lines.extend(lines);
    }

    fn kill(&mut self) {
        let mut proc = self.proc.take().expect("alive");
        proc.0.kill().expect("kill");
        proc.0.wait().expect("wait");
    }

    /// Whether it is still running (a killed member counts as expected to be gone).
    fn running_or_killed(&mut self) -> bool {
        self.proc
            .as_mut()
            .is_none_or(|p| p.0.try_wait().expect("status").is_none())
    }

    fn panicked(&mut self) -> bool {
        self.lines.extend(self.out.try_iter());
        self.lines.iter().any(|l| l.contains("panicked"))
    }
}

fn chat_body(stream: bool) -> String {
    format!(
        r#"{{"model":"{MODEL}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

/// The client's status page, once it names a relay and an exit.
async fn status(http: &reqwest::Client, api: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: serde_json::Value = http
            .get(format!("{api}/tokengo/status"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json");
        if status["relay"].is_object() && status["exit"].is_object() {
            return status;
        }
        assert!(Instant::now() < deadline, "no relay and exit: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How a stream open at the kill ended.
enum End {
    Error(Duration),
    Clean(Duration),
    Hung,
}

/// Opens `n` streams and returns them once each has delivered its first event.
async fn open_streams(
    http: &reqwest::Client,
    api: &str,
    n: usize,
) -> Vec<impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin + Send + 'static> {
    let opened = (0..n).map(|_| async {
        let resp = http
            .post(format!("{api}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(chat_body(true))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "a stream was refused");
        let mut body = resp.bytes_stream();
        let first = tokio::time::timeout(CAP, body.next()).await;
        assert!(
            matches!(first, Ok(Some(Ok(_)))),
            "a stream gave no first event"
        );
        body
    });
    futures_util::future::join_all(opened).await
}

/// What one failure did to the open streams and to the requests sent after it.
struct Outcome {
    ends: Vec<End>,
    /// Each request's send and answer time after the kill, and its status (`None`: no answer
    /// within 10 s, or the connection failed).
    answers: Vec<(Duration, Duration, Option<u16>)>,
}

/// Kills what `kill` kills with `streams` streams open, then follows them and sends a request
/// every 100 ms for `after`.
async fn fail(
    http: &reqwest::Client,
    api: &str,
    streams: usize,
    after: Duration,
    kill: impl FnOnce(),
) -> Outcome {
    let bodies = open_streams(http, api, streams).await;
    let killed = Instant::now();
    kill();
    let followed: Vec<_> = bodies
        .into_iter()
        .map(|mut body| {
            tokio::spawn(async move {
                let end = tokio::time::timeout(CAP, async {
                    loop {
                        match body.next().await {
                            Some(Ok(_)) => continue,
                            Some(Err(_)) => return End::Error(killed.elapsed()),
                            None => return End::Clean(killed.elapsed()),
                        }
                    }
                })
                .await;
                end.unwrap_or(End::Hung)
            })
        })
        .collect();
    let mut requests = Vec::new();
    while killed.elapsed() < after {
        let (http, url) = (http.clone(), format!("{api}/v1/chat/completions"));
        requests.push(tokio::spawn(async move {
            let sent = killed.elapsed();
            let answer = tokio::time::timeout(
                Duration::from_secs(10),
                http.post(url)
                    .header("content-type", "application/json")
                    .body(chat_body(false))
                    .send(),
            )
            .await;
            let status = match answer {
                Ok(Ok(r)) => Some(r.status().as_u16()),
                Ok(Err(_)) | Err(_) => None,
            };
            (sent, killed.elapsed(), status)
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ends = Vec::new();
    for f in followed {
        ends.push(f.await.expect("join"));
    }
    let mut answers = Vec::new();
    for r in requests {
        answers.push(r.await.expect("join"));
    }
    Outcome { ends, answers }
}

/// The client under test and how hard each failure is driven.
struct Client<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    streams: usize,
    after: Duration,
}

impl Client<'_> {
    /// Kills the member named by the status page's field at `pointer` (a JSON pointer: the
    /// relay's address, the exit's id) while streams are open, and follows what happens.
    async fn kill_what_it_uses(&self, pointer: &str, members: &mut [(String, Member)]) -> Outcome {
        let status = status(self.http, self.api).await;
        let used = status
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no {pointer} in {status}"))
            .to_owned();
        fail(self.http, self.api, self.streams, self.after, || {
            members
                .iter_mut()
                .find(|(name, _)| *name == used)
                .unwrap_or_else(|| panic!("{used} is none of ours"))
                .1
                .kill();
        })
        .await
    }
}

fn row(what: &str, o: &Outcome) {
    let mut times: Vec<Duration> = o
        .ends
        .iter()
        .filter_map(|e| match e {
            End::Error(d) | End::Clean(d) => Some(*d),
            End::Hung => None,
        })
        .collect();
    times.sort();
    let errors = o.ends.iter().filter(|e| matches!(e, End::Error(_))).count();
    let clean = o.ends.iter().filter(|e| matches!(e, End::Clean(_))).count();
    let hung = o.ends.len() - errors - clean;
    let within_10s = times
        .iter()
        .filter(|d| **d <= Duration::from_secs(10))
        .count();
    let ok: Vec<_> = o.answers.iter().filter(|a| a.2 == Some(200)).collect();
    let first_ok = ok.iter().map(|a| a.1).min();
    let refused = o
        .answers
        .iter()
        .filter(|a| a.2.is_some_and(|s| s != 200))
        .count();
    let unanswered = o.answers.iter().filter(|a| a.2.is_none()).count();
    println!(
        "| {what} | {within_10s}/{} | {:.0} / {:.0} / {:.0} ms | {errors} / {clean} / {hung} | {} | {} / {refused} / {unanswered} of {} |",
        o.ends.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
        first_ok.map_or("none".to_owned(), |d| format!("{:.0} ms", ms(d))),
        ok.len(),
        o.answers.len(),
    );
}

fn main() {
    tokengo_gateway::transport::install_crypto_provider();
    let streams = support::env("STREAMS", 50) as usize;
    let after = Duration::from_secs(support::env("AFTER", 20));
    let rt = support::runtime();
    let backend = rt.block_on(backend());
    let dir = tempfile::tempdir().expect("dir");

    let seed_dht = format!("127.0.0.1:{}", free_udp());
    let mut relays = Vec::new();
    for i in 0..3 {
        let quic = format!("127.0.0.1:{}", free_udp());
        let dht = if i == 0 {
            seed_dht.clone()
        } else {
            format!("127.0.0.1:{}", free_udp())
        };
        let mut args = vec![
            "relay",
            "--listen",
            &quic,
            "--dht-listen",
            &dht,
            "--no-default-bootstrap",
        ];
        if i > 0 {
            args.extend(["--bootstrap-peer", &seed_dht]);
        }
        relays.push((quic.clone(), Member::start(&args, "relay DHT node on")));
    }
    let backend_url = format!("http://{backend}");
    let mut exits = Vec::new();
    for i in 0..2 {
        let key = dir.path().join(format!("exit{i}.key"));
        let mut exit = Member::start(
            &[
                "exit",
                "--backend",
                &backend_url,
                "--ohttp-key",
                key.to_str().expect("path"),
                "--no-default-bootstrap",
                "--bootstrap-peer",
                &seed_dht,
            ],
            "exit id:",
        );
        let id = exit
            .lines
            .iter()
            .find_map(|l| l.split("exit id:").nth(1))
            .expect("exit id")
            .trim()
            .to_owned();
        for _ in 0..3 {
            exit.wait_for("registered with relay");
        }
        exits.push((id, exit));
    }
    let api_port = free_tcp();
    let listen = format!("127.0.0.1:{api_port}");
    let mut client = Member::start(
        &[
            "client",
            "--listen",
            &listen,
            "--no-default-bootstrap",
            "--bootstrap-peer",
            &seed_dht,
        ],
        "Listening on",
    );
    let api = format!("http://{listen}");
    let http = reqwest::Client::new();

    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = http
                .post(format!("{api}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(chat_body(false))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "the network never served");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    println!(
        "chaos: {streams} streams open at each kill, a request every 100 ms for {} s after it",
        after.as_secs()
    );
    println!();
    println!(
        "| killed | streams ended within 10 s | end after the kill p50 / p99 / max | ended by error / clean end / still open at 30 s | first success answered after the kill | requests: 200 / error status / no answer in 10 s |"
    );
    println!("|---|---|---|---|---|---|");

    let client_in = Client {
        http: &http,
        api: &api,
        streams,
        after,
    };
    let outcome = rt.block_on(client_in.kill_what_it_uses("/relay/addr", &mut relays));
    row("the client's relay (SIGKILL)", &outcome);
    let outcome = rt.block_on(client_in.kill_what_it_uses("/exit/id", &mut exits));
    row("then the client's exit (SIGKILL)", &outcome);

    let members = relays
        .iter_mut()
        .chain(exits.iter_mut())
        .map(|(_, m)| m)
        .chain(std::iter::once(&mut client));
    let (mut alive, mut panics) = (true, 0);
    for m in members {
        alive &= m.running_or_killed();
        panics += usize::from(m.panicked());
    }
    println!();
    println!(
        "processes still running (apart from the two killed): {}; processes that printed a panic: {panics}",
        if alive { "all" } else { "NOT ALL" }
    );
}
