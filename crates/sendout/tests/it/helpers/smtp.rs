//! A real SMTP server on loopback for the notice tests: aiosmtpd, run by `tests/smtp/peer.py`
//! from the virtualenv `scripts/setup/smtp.sh` installs (`target/smtp-venv`; the tests fail,
//! never skip, without it). It keeps each accepted message in a folder, decoded, and prints
//! a line for it: waiting is driven by that output (a watch channel of the count), never by
//! polling. The folder outlives the peer, so a peer started again on it goes on counting.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long the peer may take to start listening.
const START: Duration = Duration::from_secs(30);

/// One message the peer accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub subject: String,
    /// The text body, decoded from its transfer encoding.
    pub body: String,
    /// The message as it was received.
    pub raw: String,
}

impl Mail {
    /// A header's value (the first of that name, any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running SMTP server on 127.0.0.1.
#[derive(Debug)]
pub struct SmtpPeer {
    child: Child,
    pub port: u16,
    folder: PathBuf,
    received: watch::Receiver<usize>,
}

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/smtp-venv/bin/python")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/peer.py")
}

impl SmtpPeer {
    /// Starts the peer on `folder` (made if missing), on `port` (0: any free one).
    pub async fn start_on(folder: &Path, port: u16) -> Self {
        std::fs::create_dir_all(folder).expect("the mail folder is made");
        let already = mails_in(folder).len();
        let mut child = Command::new(python())
            .arg(script())
            .arg(folder)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP peer starts (run scripts/setup/smtp.sh)");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = tokio::time::timeout(START, lines.next_line())
            .await
            .expect("the SMTP peer listens in time")
            .expect("its output reads")
            .expect("it says where it listens");
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line of the SMTP peer: {first}"));
        let (count, received) = watch::channel(already);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("mail ") {
                    count.send_modify(|n| *n += 1);
                }
            }
        });
        Self {
            child,
            port,
            folder: folder.to_owned(),
            received,
        }
    }

    /// `smtp://127.0.0.1:PORT`, for `SENDOUT_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far (by this peer and earlier ones on its folder), in order.
    pub fn mails(&self) -> Vec<Mail> {
        mails_in(&self.folder)
    }

    /// Waits until `count` messages in all were accepted; fails after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Mail> {
        let mut received = self.received.clone();
        let reached = tokio::time::timeout(timeout, received.wait_for(|n| *n >= count)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "{count} mails expected within {timeout:?}, got {:?}",
            self.mails()
        );
        self.mails()
    }

    /// Stops the peer (its folder stays).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn mails_in(folder: &Path) -> Vec<Mail> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a kept mail reads");
            serde_json::from_str(&text).expect("a kept mail parses")
        })
        .collect()
}
