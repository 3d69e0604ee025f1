//! The real `sendout` binary as a child process, for the tests that must kill it or read its
//! output (`crash.rs`, `secrets_in_logs.rs`).
//!
//! The child listens on a loopback port chosen here, keeps its store in the given data
//! directory, and has nothing of this process's `SENDOUT_*` environment but what the test
//! passes. Readiness is the log line `sendout is listening` (awaited on the stderr reader,
//! never polled; a `RUST_LOG` given must let `sendout::cli=info` through); stdout and stderr are read to the end by background tasks, so a chatty
//! child never blocks on a full pipe, and both are kept for the test to search.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long the binary may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The management key every child is started with (set, so no generated one is printed).
pub const MANAGEMENT_ID: &str = "M-process-test-management";
pub const MANAGEMENT_TOKEN: &str = "process-test-management-token-5f0c1d2e3a4b";

/// Everything a stream of the child printed, line by line, with a count of lines to wait on.
#[derive(Debug, Clone)]
pub struct Output(Arc<Mutex<Vec<String>>>, Arc<watch::Sender<usize>>);

impl Default for Output {
    fn default() -> Self {
        Self(Arc::default(), Arc::new(watch::channel(0).0))
    }
}

impl Output {
    /// All lines so far, joined.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// All lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// How many lines so far contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(text)).count()
    }

    /// Waits until `count` lines contain `text` (woken by each new line, never polling);
    /// fails after `timeout`.
    pub async fn wait_for(&self, text: &str, count: usize, timeout: Duration) {
        let mut lines = self.1.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            while self.count(text) < count {
                if lines.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            reached.is_ok() && self.count(text) >= count,
            "{count} lines with {text:?} expected within {timeout:?}:\n{}",
            self.text()
        );
    }

    fn push(&self, line: String) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line);
        self.1.send_modify(|n| *n += 1);
    }
}

/// Runs `sendout serve` on a fresh data directory with `env` (and a valid management key),
/// expecting it to refuse to start: returns its stderr and what it left in the data
/// directory.
pub async fn refused_start(env: &[(&str, &str)]) -> (String, Vec<std::path::PathBuf>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendout"));
    command.arg("serve");
    for (var, _) in std::env::vars() {
        if var.starts_with("SENDOUT_") {
            command.env_remove(var);
        }
    }
    let output = command
        .env("SENDOUT_LISTEN", "127.0.0.1:0")
        .env("SENDOUT_DATA_DIR", dir.path())
        .env("SENDOUT_MANAGEMENT_ID", "M-refused")
        .env(
            "SENDOUT_MANAGEMENT_TOKEN",
            "a-management-token-long-enough-0123",
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .expect("sendout exits at once")
        .expect("the sendout binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{env:?} started: {stderr}");
    let created = std::fs::read_dir(dir.path())
        .expect("the data directory reads")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    (stderr, created)
}

/// A running `sendout serve`.
#[derive(Debug)]
pub struct Sendout {
    child: Child,
    pub base_url: String,
    pub stdout: Output,
    pub stderr: Output,
    /// Resolves when both streams reached their end (the process is gone).
    closed: watch::Receiver<usize>,
}

/// Removes terminal colour sequences (`ESC [ … m`), so log lines can be matched as text.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn read_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    output: Output,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
    closed: Arc<watch::Sender<usize>>,
) {
    tokio::spawn(async move {
        let mut ready = ready;
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let plain = strip_ansi(&line);
            if plain.contains("sendout is listening") {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
            }
            output.push(plain);
        }
        closed.send_modify(|n| *n += 1);
    });
}

impl Sendout {
    /// Starts `sendout serve` on `data_dir` with the management key above, the given
    /// environment (`SENDOUT_*`, `RUST_LOG`), and waits until it listens.
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sendout"));
        command.arg("serve");
        for (name, _) in std::env::vars() {
            if name.starts_with("SENDOUT_") || name == "RUST_LOG" || name == "NO_COLOR" {
                command.env_remove(name);
            }
        }
        command
            .env("SENDOUT_LISTEN", format!("127.0.0.1:{port}"))
            .env("SENDOUT_DATA_DIR", data_dir)
            .env("SENDOUT_MANAGEMENT_ID", MANAGEMENT_ID)
            .env("SENDOUT_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the sendout binary starts");

        let (stdout, stderr) = (Output::default(), Output::default());
        let (closed_tx, closed) = watch::channel(0);
        let closed_tx = Arc::new(closed_tx);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        read_lines(out, stdout.clone(), None, closed_tx.clone());
        read_lines(err, stderr.clone(), Some(ready_tx), closed_tx);

        match tokio::time::timeout(START_TIMEOUT, ready).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "sendout did not start listening:\n{}\n{}",
                stdout.text(),
                stderr.text()
            ),
        }
        Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            stdout,
            stderr,
            closed,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the child is running")
    }

    /// `kill -9`: no shutdown of any kind. Returns once the process is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL is sent");
        self.child.wait().await.expect("the killed child is reaped");
    }

    /// `SIGTERM`, then waits for the graceful shutdown to finish and both streams to close.
    pub async fn terminate(mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "SIGTERM could not be sent");
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("sendout stops within 30 s of SIGTERM")
            .expect("the child is reaped");
        assert!(exit.success(), "sendout exited with {exit}");
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.closed.wait_for(|n| *n == 2)).await;
    }
}
