//! A Python script run as a child process: command lines in on its stdin, one report per line
//! out of its stdout, read on a thread. Told to `quit` and killed when dropped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct ScriptChild<T> {
    child: Child,
    stdin: ChildStdin,
    reports: mpsc::Receiver<T>,
}

impl<T: Send + 'static> ScriptChild<T> {
    /// Runs `command` (its stderr goes to ours) and reads each line of its stdout through
    /// `parse`; lines it returns `None` for are dropped.
    pub(crate) fn spawn(
        command: &mut Command,
        parse: fn(String) -> Option<T>,
    ) -> Result<ScriptChild<T>, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", command.get_program().display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (sender, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Some(report) = parse(line) else { continue };
                if sender.send(report).is_err() {
                    break;
                }
            }
        });
        Ok(ScriptChild {
            child,
            stdin,
            reports,
        })
    }
}

impl<T> ScriptChild<T> {
    /// Sends one command line.
    pub(crate) fn command(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| e.to_string())
    }

    /// Waits up to `limit` for a report `pick` accepts; other reports are dropped.
    pub(crate) fn wait_for<R>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&T) -> Option<R>,
    ) -> Option<R> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let report = self.reports.recv_timeout(left).ok()?;
            if let Some(found) = pick(&report) {
                return Some(found);
            }
        }
    }

    /// How the script ended, if it has.
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl<T> Drop for ScriptChild<T> {
    fn drop(&mut self) {
        let _ = self.command("quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
