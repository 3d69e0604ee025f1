//! sendout nodes as separate OS processes of the real binary, on one PostgreSQL database, and
//! the few API calls the multi-node tests make.
//!
//! A node listens on `127.0.0.1:0` and logs JSON; its address is read from its "sendout is
//! listening" line. A thread keeps reading each node's log (so the pipe never fills) and keeps
//! its last lines to show when a test fails. Dropping a node kills it, and so does the end of
//! the test process, however it ends (see `tether.rs`).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::multinode::tether::Tether;

pub const MANAGEMENT_ID: &str = "M-multinode";
pub const MANAGEMENT_TOKEN: &str = "multinode-management-token-0123456789";
/// How many log lines of each node are kept for a failure message.
const LOG_TAIL: usize = 200;

/// How every node of a test is configured, besides its database.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub database_url: String,
    /// `SENDOUT_*` variables on top of the common ones (`LEASE`, …), without the prefix.
    pub extra: Vec<(&'static str, String)>,
}

/// One running `sendout serve`.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub base_url: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    _tether: Tether,
}

impl Node {
    /// Starts `sendout serve` and waits until it listens.
    pub async fn start(name: &str, config: &NodeConfig, data_dir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sendout"));
        // The test's own SENDOUT_* variables (say, SENDOUT_TEST_DATABASE_URL) are not the node's.
        for (key, _) in std::env::vars() {
            if key.starts_with("SENDOUT_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .env("SENDOUT_DATABASE_URL", &config.database_url)
            .env("SENDOUT_DATA_DIR", data_dir)
            .env("SENDOUT_LISTEN", "127.0.0.1:0")
            .env("SENDOUT_MANAGEMENT_ID", MANAGEMENT_ID)
            .env("SENDOUT_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
            .env("SENDOUT_ALLOWED_TARGET_RANGES", "127.0.0.0/8")
            .env("SENDOUT_RETRY_SCHEDULE", "100ms,200ms,500ms,1s,2s,5s")
            .env("SENDOUT_DATABASE_POOL_SIZE", "8")
            .env("SENDOUT_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in &config.extra {
            command.env(format!("SENDOUT_{key}"), value);
        }
        let mut child = command.spawn().expect("the sendout binary starts");
        let tether = Tether::new(child.id(), "KILL");
        let stderr = child.stderr.take().expect("a piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let tail = log.clone();
        std::thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    if let Some(tx) = addr_tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut node = Self {
            name: name.to_owned(),
            base_url: String::new(),
            child,
            log,
            _tether: tether,
        };
        match tokio::time::timeout(Duration::from_secs(60), addr_rx).await {
            Ok(Ok(addr)) => node.base_url = format!("http://{addr}"),
            _ => panic!("node {name} did not start listening:\n{}", node.log_tail()),
        }
        node
    }

    /// The last lines the node logged.
    pub fn log_tail(&self) -> String {
        let tail = self.log.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGKILL: the node dies at once, holding whatever it claimed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the graceful shutdown to end.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "SIGTERM sent to {}",
            self.name
        );
        let waited = tokio::task::spawn_blocking(move || {
            let status = self.child.wait();
            (self, status)
        })
        .await
        .expect("waiting ran");
        let (node, status) = waited;
        status.unwrap_or_else(|e| panic!("{} did not stop: {e}", node.name))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

fn listening_addr(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    let fields = &value["fields"];
    (fields["message"] == "sendout is listening")
        .then(|| fields["addr"].as_str().map(str::to_owned))
        .flatten()
}

/// An HTTP client for the nodes' APIs, with a project's keys once [`Api::setup`] made them.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub app_id: String,
    pub app_token: String,
}

/// The outcome of one ingest request.
#[derive(Debug)]
pub enum Ingested {
    /// 202: the event ids and how many send outs each made.
    Accepted(Vec<(String, u32)>),
    /// Any other status, with the body.
    Refused(u16, String),
    /// No answer (connection refused or reset, timeout).
    Failed(String),
}

impl Api {
    /// Creates a project and `webhooks` webhooks for all events, pointing at `urls`, through
    /// `node`'s management API.
    pub async fn setup(node: &Node, urls: &[String]) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        let management = |path: &str| {
            client
                .post(format!("{}{path}", node.base_url))
                .header("X-Management-Id", MANAGEMENT_ID)
                .header("X-Management-Token", MANAGEMENT_TOKEN)
        };
        let project: Value = management("/management/v1/projects")
            .header("content-type", "application/json")
            .body(json!({"name": "Multi-node", "timezone": "Europe/Warsaw"}).to_string())
            .send()
            .await
            .expect("the management API answers")
            .bytes()
            .await
            .map(|body| serde_json::from_slice(&body))
            .expect("an answer")
            .expect("a project");
        let project_id = project["id"].as_str().expect("a project id");
        for url in urls {
            let status = management(&format!("/management/v1/projects/{project_id}/webhooks"))
                .header("content-type", "application/json")
                .body(json!({"target_url": url, "events": ["*"], "active": true}).to_string())
                .send()
                .await
                .expect("the management API answers")
                .status();
            assert!(status.is_success(), "webhook created: {status}");
        }
        let key = &project["server_side_key"];
        Self {
            client,
            app_id: key["app_id"].as_str().expect("an app id").to_owned(),
            app_token: key["app_token"].as_str().expect("an app token").to_owned(),
        }
    }

    /// Ingests `count` `voucher.published` events (numbered from `first`) in one request.
    pub async fn ingest(&self, base_url: &str, first: usize, count: usize) -> Ingested {
        let events: Vec<Value> = (first..first + count)
            .map(|n| {
                json!({"type": "voucher.published",
                       "data": {"voucher": {"code": format!("MULTI-{n}")}},
                       "entity_id": format!("v_{n}")})
            })
            .collect();
        let sent = self
            .client
            .post(format!("{base_url}/v1/events"))
            .header("X-App-Id", &self.app_id)
            .header("X-App-Token", &self.app_token)
            .header("content-type", "application/json")
            .body(json!({ "events": events }).to_string())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Ingested::Failed(e.to_string()),
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => return Ingested::Failed(e.to_string()),
        };
        if status != 202 {
            return Ingested::Refused(status, text);
        }
        let body: Value = serde_json::from_str(&text).expect("a JSON answer");
        let accepted = body["data"]
            .as_array()
            .expect("a list of accepted events")
            .iter()
            .map(|e| {
                let id = e["id"].as_str().expect("an event id").to_owned();
                let send_outs = e["send_outs"].as_u64().expect("a count");
                (id, u32::try_from(send_outs).expect("a small count"))
            })
            .collect();
        Ingested::Accepted(accepted)
    }
}

/// Every acknowledged event with the number of send outs it made.
pub type Acknowledged = HashMap<String, u32>;
