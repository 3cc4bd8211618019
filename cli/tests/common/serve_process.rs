//! `tokengo serve --backend URL` run as a process, as a user runs it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

/// The API key `tokengo serve` is told to send to the backend.
pub const EXIT_KEY: &str = "sk-exit";

/// A running `tokengo serve`.
pub struct ServeProcess {
    pub child: Child,
    /// The proxy's OpenAI base URL, `http://127.0.0.1:PORT/v1`.
    pub api: String,
}

impl ServeProcess {
    /// Starts `tokengo serve` in front of `backend` and waits for its ready line.
    pub fn start(backend: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokengo"))
            .args([
                "serve",
                "--backend",
                backend,
                "--listen",
                "127.0.0.1:0",
                "--api-key",
                EXIT_KEY,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tokengo serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("banner");
        let api = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Self { child, api }
    }

    /// The proxy's root URL, `http://127.0.0.1:PORT` (what Anthropic's and Ollama's clients take).
    pub fn root(&self) -> String {
        self.api.trim_end_matches("/v1").to_owned()
    }

    /// Stops it with Ctrl-C and returns how it exited.
    pub fn interrupt(mut self) -> ExitStatus {
        super::procs::interrupt(&self.child);
        self.child.wait().expect("wait")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd`, asserting success, and returns its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}
