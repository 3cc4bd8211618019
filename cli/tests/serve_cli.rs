//! The `tokengo serve` binary against the mock backend, driven by curl and the OpenAI Python SDK.

mod common;

use common::serve_process::{ServeProcess, run};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_works_for_curl_and_the_openai_sdk_and_exits_cleanly() {
    let backend = common::backend_with(false).await;
    let serve = tokio::task::spawn_blocking({
        let url = backend.url.clone();
        move || ServeProcess::start(&url)
    })
    .await
    .expect("start");
    let api = serve.api.clone();

    let plain = tokio::task::spawn_blocking({
        let api = api.clone();
        move || {
            run(Command::new("curl").args([
                "-sS",
                "-X",
                "POST",
                &format!("{api}/chat/completions?trace=1"),
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"model":"curl-model","messages":[]}"#,
            ]))
        }
    })
    .await
    .expect("curl");
    let body: serde_json::Value = serde_json::from_str(&plain).expect("json");
    assert_eq!(body["model"], "curl-model");
    assert_eq!(body["path"], "/v1/chat/completions?trace=1");

    let streamed = tokio::task::spawn_blocking({
        let api = api.clone();
        move || {
            run(Command::new("curl").args([
                "-sSN",
                "-X",
                "POST",
                &format!("{api}/chat/completions"),
                "-d",
                r#"{"model":"m","stream":true}"#,
            ]))
        }
    })
    .await
    .expect("curl stream");
    assert_eq!(streamed.matches("chat.completion.chunk").count(), 4);
    assert!(streamed.ends_with("data: [DONE]\n\n"));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_smoke.py");
    let sdk = tokio::task::spawn_blocking({
        let api = api.clone();
        move || run(common::python::sdk_python().args([script, &api]))
    })
    .await
    .expect("sdk");
    assert_eq!(sdk, "plain:Hello from AI!\nstream:Hello| from| AI!\n");
    let seen = backend.mock.seen.lock().expect("lock").clone();
    assert!(
        seen.iter()
            .all(|s| s.headers["authorization"] == "Bearer sk-exit")
    );

    let status = tokio::task::spawn_blocking(move || serve.interrupt())
        .await
        .expect("join");
    assert_eq!(status.code(), Some(0), "Ctrl-C must exit 0");
}
