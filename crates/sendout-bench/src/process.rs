//! The benchmark's child processes, on loopback only: the receiver (this binary again, as
//! `sendout-bench receiver`) and the engine (`sendout serve` on a fresh data directory, from
//! the `sendout` binary the bench was given).
//!
//! Invariants: every child is started with `kill_on_drop`, so a bench that fails or is
//! interrupted leaves nothing running; the engine is stopped with SIGTERM (a graceful
//! shutdown, as an operator stops it) and its peak memory is read from `/proc` just before.
//! The engine's log goes to a pipe that is always drained (a full pipe would stall it); its
//! last lines are kept to explain a failed start.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::measure::{cpu_seconds, peak_rss_bytes};
use crate::receiver::{Listening, Receipt, Stats};

/// The management key every engine the bench starts is given.
pub const MANAGEMENT_ID: &str = "M-bench";
pub const MANAGEMENT_TOKEN: &str = "bench-management-token-not-secret";

/// How long a child may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn this_binary() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_exe().context("cannot find the sendout-bench binary to start its receiver")
}

/// A running `sendout-bench receiver`.
#[derive(Debug)]
pub struct ReceiverProcess {
    child: Child,
    pid: u32,
    pub addrs: Vec<SocketAddr>,
    client: reqwest::Client,
}

impl ReceiverProcess {
    /// Starts a receiver on `ports` loopback ports, failing `fail_percent` % of requests.
    pub async fn start(
        ports: usize,
        fail_percent: f64,
        record_events: bool,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(this_binary()?);
        command
            .arg("receiver")
            .arg("--ports")
            .arg(ports.to_string())
            .arg("--fail-percent")
            .arg(fail_percent.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if record_events {
            command.arg("--record-events");
        }
        let mut child = command.spawn().context("starting the receiver")?;
        let pid = child.id().context("the receiver's process id")?;
        let stdout = child.stdout.take().context("the receiver's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .context("the receiver did not start in time")??
            .context("the receiver ended before listening")?;
        let listening: Listening =
            serde_json::from_str(&line).with_context(|| format!("receiver said `{line}`"))?;
        Ok(Self {
            child,
            pid,
            addrs: listening.addrs,
            client: reqwest::Client::new(),
        })
    }

    /// CPU time the receiver has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.pid)
    }

    /// The URL webhook `i` posts to (one port per webhook, round robin).
    pub fn url(&self, i: usize) -> String {
        format!("http://{}/hook/{i}", self.addrs[i % self.addrs.len()])
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("http://{}{path}", self.addrs[0]);
        let response = self.client.get(url).send().await?.error_for_status()?;
        Ok(serde_json::from_slice(&response.bytes().await?)?)
    }

    /// What the receiver has seen so far.
    pub async fn stats(&self) -> anyhow::Result<Stats> {
        self.get("/_bench/stats").await
    }

    /// Every accepted event's receipt (only with `record_events`).
    pub async fn receipts(&self) -> anyhow::Result<Vec<Receipt>> {
        self.get("/_bench/receipts").await
    }

    /// Stops it (closing its stdin ends it; killed if it lingers).
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// A running `sendout serve` started by the bench.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
}

/// How many of the engine's last log lines are kept.
const LOG_TAIL: usize = 40;

impl ServerProcess {
    /// Starts `binary serve` storing in `data_dir`, with loopback targets allowed, the
    /// bench's management key, the given extra `SENDOUT_*` settings and log filter.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        settings: &[(&str, String)],
        log_filter: &str,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("SENDOUT_LISTEN", "127.0.0.1:0")
            .env("SENDOUT_DATA_DIR", data_dir)
            .env_remove("SENDOUT_DATABASE_URL")
            .env_remove("SENDOUT_CONFIG")
            .env("SENDOUT_MANAGEMENT_ID", MANAGEMENT_ID)
            .env("SENDOUT_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
            .env("SENDOUT_ALLOWED_TARGET_RANGES", "127.0.0.0/8")
            .env("SENDOUT_LOG_FORMAT", "json")
            .env("RUST_LOG", format!("{log_filter},sendout::cli::serve=info"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in settings {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let pid = child.id().context("the engine's process id")?;
        let stderr = child.stderr.take().context("the engine's stderr")?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let (listening, addr) = oneshot::channel();
        tokio::spawn(drain_log(stderr, log.clone(), listening));
        let addr = match tokio::time::timeout(START_TIMEOUT, addr).await {
            Ok(Ok(addr)) => addr,
            _ => {
                let _ = child.start_kill();
                bail!(
                    "sendout serve did not start; its last log lines:\n{}",
                    tail(&log)
                );
            }
        };
        Ok(Self {
            child,
            pid,
            addr,
            log,
        })
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        peak_rss_bytes(self.pid)
    }

    /// CPU time used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.pid)
    }

    /// Stops it gracefully (SIGTERM) and returns its peak resident memory.
    pub async fn stop(mut self) -> anyhow::Result<Option<u64>> {
        let peak = self.peak_rss();
        let signalled = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if !signalled.is_ok_and(|s| s.success()) {
            let _ = self.child.start_kill();
        }
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(peak),
            Ok(Ok(status)) => Err(anyhow!(
                "sendout serve ended with {status}; its last log lines:\n{}",
                tail(&self.log)
            )),
            _ => {
                let _ = self.child.start_kill();
                bail!("sendout serve did not stop within 60 s of SIGTERM")
            }
        }
    }
}

/// Keeps reading the engine's JSON log lines: reports the listening address once, keeps the
/// last lines.
async fn drain_log(
    stderr: tokio::process::ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
    listening: oneshot::Sender<SocketAddr>,
) {
    let mut listening = Some(listening);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if listening.is_some() {
            if let Some(addr) = listening_addr(&line) {
                if let Some(tx) = listening.take() {
                    let _ = tx.send(addr);
                }
            }
        }
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == LOG_TAIL {
            log.pop_front();
        }
        log.push_back(line);
    }
}

/// The address in serve's "sendout is listening" JSON log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    (fields.get("message")?.as_str()? == "sendout is listening")
        .then(|| fields.get("addr")?.as_str()?.parse().ok())
        .flatten()
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap_or_else(PoisonError::into_inner);
    log.iter().cloned().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_address_is_read_from_serves_json_log() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"sendout is listening","addr":"127.0.0.1:4321"},"target":"sendout::cli::serve"}"#;
        assert_eq!(
            listening_addr(line),
            Some("127.0.0.1:4321".parse().expect("addr"))
        );
        assert_eq!(listening_addr(r#"{"fields":{"message":"other"}}"#), None);
        assert_eq!(listening_addr("not json"), None);
    }
}
