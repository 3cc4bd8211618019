//! What the local proxy lets out and whom it serves, over real HTTP, QUIC and a real backend:
//! the app's credentials and fingerprints never reach the exit, only this machine's callers are
//! served, idle and slow connections are closed, the connection count is capped, and the exit
//! passes only AI API paths to its backend.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokengo_gateway::client::proxy::{HeaderPolicy, ProxyOptions};

/// One raw HTTP/1.1 exchange with `head` (request line and headers, no blank line) and `body`.
fn raw(url: &str, head: &str, body: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "{head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_fingerprints_never_reach_the_exit() {
    let net = common::net().await;
    let resp = common::http()
        .post(format!("{}/v1/chat/completions", net.url))
        .header("authorization", "Bearer sk-the-users-own-key")
        .header("x-api-key", "sk-ant-the-users-own-key")
        .header("cookie", "session=secret")
        .header("user-agent", "OpenAI/Python 1.40.0")
        .header("x-stainless-lang", "python")
        .header("x-stainless-os", "Linux")
        .header("x-forwarded-for", "192.0.2.7")
        .header("anthropic-version", "2023-06-01")
        .body(r#"{"model":"m"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let seen = net
        .backend
        .mock
        .seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("seen");
    for gone in [
        "authorization",
        "x-api-key",
        "cookie",
        "x-stainless-lang",
        "x-stainless-os",
        "x-forwarded-for",
    ] {
        assert!(
            seen.headers.get(gone).is_none(),
            "{gone} reached the backend"
        );
    }
    let agent = seen
        .headers
        .get("user-agent")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    assert_ne!(
        agent.as_deref(),
        Some("OpenAI/Python 1.40.0"),
        "the app's user agent leaked"
    );
    assert_eq!(
        seen.headers.get("anthropic-version").map(|v| v.as_bytes()),
        Some(&b"2023-06-01"[..]),
        "API headers still pass"
    );

    // Bring-your-own-key: the user asks to keep the credentials.
    let byok = ProxyOptions {
        headers: HeaderPolicy {
            forward_credentials: true,
            forward: vec!["user-agent".into()],
        },
        ..ProxyOptions::default()
    };
    let url = common::proxy_with(net.client.clone(), byok).await;
    let resp = common::http()
        .post(format!("{url}/v1/chat/completions"))
        .header("authorization", "Bearer sk-byok")
        .header("user-agent", "kept/1.0")
        .body(r#"{"model":"m"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let seen = net
        .backend
        .mock
        .seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("seen");
    assert_eq!(
        seen.headers.get("authorization").map(|v| v.as_bytes()),
        Some(&b"Bearer sk-byok"[..])
    );
    assert_eq!(
        seen.headers.get("user-agent").map(|v| v.as_bytes()),
        Some(&b"kept/1.0"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_hosts_other_than_this_machine_are_refused() {
    let net = common::net().await;
    let count = || net.backend.mock.count.load(Ordering::SeqCst);
    let chat = "POST /v1/chat/completions HTTP/1.1";
    let body = r#"{"model":"m"}"#;
    let before = count();
    for head in [
        // DNS rebinding: the page's own name resolves to 127.0.0.1.
        format!("{chat}\r\nhost: rebind.evil.example:8080"),
        // Any page can make the browser POST here; its Origin gives it away.
        format!("{chat}\r\nhost: 127.0.0.1\r\norigin: https://evil.example"),
        format!("{chat}\r\nhost: localhost\r\norigin: null"),
    ] {
        let url = net.url.clone();
        let answer = blocking(move || raw(&url, &head, body)).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains("forbidden"), "{answer}");
    }
    assert_eq!(count(), before, "nothing refused reached the backend");
    for head in [
        format!("{chat}\r\nhost: localhost:8080"),
        format!("{chat}\r\nhost: 127.0.0.1\r\norigin: http://localhost:3000"),
    ] {
        let url = net.url.clone();
        let answer = blocking(move || raw(&url, &head, body)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_surplus_connections_are_closed() {
    let net = common::net().await;
    let options = ProxyOptions {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        max_connections: 4,
        ..ProxyOptions::default()
    };
    let url = common::proxy_with(net.client.clone(), options).await;
    let addr = url.trim_start_matches("http://").to_owned();
    let closed_by_server = |mut s: TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        // The server closes (0 bytes, or a 408 then the close); a read timing out means it
        // held the connection.
        let mut answered = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(String::from_utf8_lossy(&answered).into_owned()),
                Ok(n) => answered.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Err("held open");
                }
                Err(_) => return Ok(String::from_utf8_lossy(&answered).into_owned()),
            }
        }
    };
    let a = addr.clone();
    blocking(move || {
        // Headers that never finish (slowloris).
        let mut partial = TcpStream::connect(&a).expect("connect");
        partial.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: local").expect("write");
        assert!(closed_by_server(partial).is_ok(), "a partial header was held");
        // A body that never finishes.
        let mut trickle = TcpStream::connect(&a).expect("connect");
        write!(
            trickle,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-length: 1000\r\n\r\n{{"
        )
        .expect("write");
        let answer = closed_by_server(trickle).expect("a trickled body was held");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        // Four slots: four idle connections fill them, and the fifth is closed at once.
        let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&a).expect("c")).collect();
        std::thread::sleep(Duration::from_millis(100));
        let surplus = TcpStream::connect(&a).expect("connect");
        assert!(closed_by_server(surplus).is_ok(), "a fifth connection was served");
        drop(held);
    })
    .await;
    // Once the idle ones are gone (closed by the header timeout), requests are served again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost".to_owned();
    let answer = blocking(move || raw(&url, &head, r#"{"model":"m"}"#)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_passes_only_ai_api_paths_to_its_backend() {
    let net = common::net().await;
    let count = || net.backend.mock.count.load(Ordering::SeqCst);
    let before = count();
    for path in ["/api/delete", "/api/pull", "/v1/../api/delete", "/admin"] {
        let resp = common::http()
            .post(format!("{}{path}", net.url))
            .body("{}")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 403, "{path}");
        let text = resp.text().await.expect("body");
        assert!(text.contains("does not serve that path"), "{text}");
    }
    assert_eq!(count(), before, "no refused path reached the backend");
    for path in ["/api/tags", "/v1/models"] {
        let resp = common::http()
            .get(format!("{}{path}", net.url))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "{path}");
    }
    assert_eq!(count(), before + 2);
}
