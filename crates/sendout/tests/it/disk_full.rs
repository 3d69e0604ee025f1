//! The embedded store on a disk that fills (issue 16 item 10, docs/OPERATIONS.md "When the
//! disk fills"): the real binary keeps its data directory on a tmpfs of a few MiB that the
//! test mounts, and the test fills it with a file of its own, as another program would.
//!
//! - Below `min_free_disk_bytes` ingest answers `503 storage_full` with `Retry-After`, stores
//!   nothing, and what was stored before is still delivered (the room left is theirs).
//! - With no room at all (the reserve set to 0, so SQLite's own writes fail) every write is
//!   a `503 storage_full`, never a `202` for something not durable, and never a `500`.
//! - Once space is freed, ingest and delivery resume by themselves, without a restart.
//! - A start on a full disk stops, naming the cause; the store is never damaged (SQLite's
//!   integrity check after each run), and every acknowledged event is delivered.
//!
//! Mounting needs root, which the test suite has on its machines (CI runs as root); without
//! it these tests fail, saying so, rather than pass without having run.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::crash::client;
use crate::helpers::process::{Sendout, MANAGEMENT_ID, MANAGEMENT_TOKEN};
use crate::helpers::receiver::{Behaviour, Receiver, Reply};

const MIB: u64 = 1024 * 1024;
/// How long deliveries and the resumption after space returns may take.
const SETTLE: Duration = Duration::from_secs(30);

const ENV: &[(&str, &str)] = &[
    ("SENDOUT_ALLOWED_TARGET_RANGES", "127.0.0.0/8"),
    ("SENDOUT_RETRY_SCHEDULE", "200ms,300ms,500ms,1s,1s,2s,2s,3s"),
    ("SENDOUT_DELIVERY_TIMEOUT", "3s"),
    ("RUST_LOG", "warn,sendout::cli=info"),
];

/// A tmpfs of a fixed size, mounted for the test and unmounted after it.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8) runs");
        assert!(
            mounted.status.success(),
            "these tests mount a small tmpfs and need root for it: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Bytes free on the file system, as `df` says.
    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.path())
            .output()
            .expect("df runs");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }

    /// Grows the filler file until `leave` bytes are free (or none, with 0).
    fn fill_leaving(&self, leave: u64) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            let free = self.free();
            if free <= leave {
                break;
            }
            let room = usize::try_from(free - leave).unwrap_or(usize::MAX);
            let n = room.min(chunk.len());
            if file
                .write_all(&chunk[..n])
                .and_then(|()| file.flush())
                .is_err()
            {
                break;
            }
        }
    }

    fn empty(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The project API's key and the client to use it with.
struct Project {
    base_url: String,
    app_id: String,
    app_token: String,
    client: reqwest::Client,
}

/// An answer: status, `Retry-After`, body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn management(server: &Sendout, path: &str, body: &Value) -> Answer {
    send(
        client()
            .post(format!("{}{path}", server.base_url))
            .header("x-management-id", MANAGEMENT_ID)
            .header("x-management-token", MANAGEMENT_TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// A project with one webhook to `url` for every event type.
async fn project_with_webhook(server: &Sendout, url: &str) -> Project {
    let project = management(server, "/management/v1/projects", &json!({"name": "Disk"})).await;
    assert_eq!(project.status, 200, "{}", project.body);
    let id = project.body["id"].as_str().unwrap();
    let hooks = format!("/management/v1/projects/{id}/webhooks");
    let webhook = management(server, &hooks, &json!({"target_url": url, "events": ["*"]})).await;
    assert_eq!(webhook.status, 200, "{}", webhook.body);
    Project {
        base_url: server.base_url.clone(),
        app_id: project.body["server_side_key"]["app_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        app_token: project.body["server_side_key"]["app_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        client: client(),
    }
}

impl Project {
    async fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .header("x-app-id", &self.app_id)
            .header("x-app-token", &self.app_token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        send(request).await
    }

    async fn ingest(&self, code: &str) -> Answer {
        let event = json!({"type": "voucher.published", "data": {"voucher": {"code": code}}});
        self.request(reqwest::Method::POST, "/v1/events", Some(&event))
            .await
    }

    /// Ingests one event, which must be accepted; its id.
    async fn accepted(&self, code: &str) -> String {
        let answer = self.ingest(code).await;
        assert_eq!(answer.status, 202, "{code}: {}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// The status of every send out, by its event's id.
    async fn statuses(&self) -> Vec<(String, String)> {
        let list = self
            .request(reqwest::Method::GET, "/v1/webhook-sendouts?limit=100", None)
            .await;
        assert_eq!(list.status, 200, "{}", list.body);
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["event_id"].as_str().unwrap_or_default().to_owned(),
                    s["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Waits until the send outs of exactly `events` exist and all succeeded.
    async fn wait_delivered(&self, events: &HashSet<String>) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let statuses = self.statuses().await;
            let of: HashSet<String> = statuses.iter().map(|(e, _)| e.clone()).collect();
            let done = statuses.iter().all(|(_, s)| s == "SUCCEEDED");
            if &of == events && done && statuses.len() == events.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not all delivered within {SETTLE:?}: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Asserts a write was refused as the docs say: 503 `storage_full`, `Retry-After: 30`.
fn assert_storage_full(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 503, "{what}: {}", answer.body);
    assert_eq!(
        answer.body["key"], "storage_full",
        "{what}: {}",
        answer.body
    );
    assert_eq!(answer.retry_after.as_deref(), Some("30"), "{what}");
}

/// Ingest refused until it is accepted, as a platform retrying after `Retry-After` would
/// (faster here); the id of the event.
async fn accepted_once_there_is_room(project: &Project, code: &str) -> String {
    let deadline = Instant::now() + SETTLE;
    loop {
        let answer = project.ingest(code).await;
        if answer.status == 202 {
            return answer.body["id"].as_str().unwrap().to_owned();
        }
        assert_storage_full(&answer, "while room comes back");
        assert!(Instant::now() < deadline, "ingest never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SQLite's own check of the stopped server's store.
async fn integrity(data_dir: &Path) -> String {
    let mut conn = SqliteConnectOptions::new()
        .filename(data_dir.join("sendout.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_reserve_ingest_is_refused_while_stored_events_are_still_delivered() {
    let disk = SmallDisk::mount(32 * MIB);
    let env: Vec<(&str, &str)> = ENV
        .iter()
        .copied()
        .chain([("SENDOUT_MIN_FREE_DISK_BYTES", "8388608")])
        .collect();
    let server = Sendout::start(disk.path(), &env).await;
    let receiver = Receiver::start().await;
    receiver.on("/hook", Behaviour::always(Reply::status(503)));
    let project = project_with_webhook(&server, &receiver.url("/hook")).await;

    // Stored while there is room; not delivered yet (the receiver fails for now).
    let mut events = HashSet::new();
    for i in 0..10 {
        events.insert(project.accepted(&format!("BEFORE-{i}")).await);
    }

    // Another program takes the disk down to less than the reserve (8 MiB).
    disk.fill_leaving(3 * MIB);
    let refused = project.ingest("WHILE-LOW").await;
    assert_storage_full(&refused, "ingest below the reserve");
    let details = refused.body["details"].as_str().unwrap();
    assert!(details.contains("storage is full"), "{details}");
    let health = client()
        .get(format!("{}/health", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server still answers");

    // The receiver recovers: what was stored is delivered in the room kept for it.
    receiver.on("/hook", Behaviour::always(Reply::ok()));
    project.wait_delivered(&events).await;
    assert!(disk.free() > 0, "deliveries fit in the reserve");

    // Space comes back: ingest resumes by itself, and the new event is delivered too.
    disk.empty();
    events.insert(accepted_once_there_is_room(&project, "AFTER").await);
    project.wait_delivered(&events).await;

    server.terminate().await;
    assert_eq!(integrity(disk.path()).await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_with_no_room_at_all_refuses_every_write_and_recovers_once_space_is_freed() {
    let disk = SmallDisk::mount(32 * MIB);
    // No reserve: SQLite itself meets the full disk.
    let env: Vec<(&str, &str)> = ENV
        .iter()
        .copied()
        .chain([("SENDOUT_MIN_FREE_DISK_BYTES", "0")])
        .collect();
    let server = Sendout::start(disk.path(), &env).await;
    let receiver = Receiver::start().await;
    let project = project_with_webhook(&server, &receiver.url("/hook")).await;
    let mut events = HashSet::new();
    for i in 0..5 {
        events.insert(project.accepted(&format!("BEFORE-{i}")).await);
    }
    project.wait_delivered(&events).await;

    disk.fill_leaving(0);
    // Writes that need room are refused the same way: no 202 and no 500. (A small write may
    // still find a free page in the database file; a batch of many events cannot.)
    let batch: Vec<Value> = (0..200)
        .map(|i| json!({"type": "voucher.published", "data": {"voucher": {"code": format!("FULL-{i}"), "pad": "x".repeat(2000)}}}))
        .collect();
    let refused = project
        .request(
            reqwest::Method::POST,
            "/v1/events",
            Some(&json!({ "events": batch })),
        )
        .await;
    assert_storage_full(&refused, "a batch on a full disk");
    let statuses = project.statuses().await;
    assert_eq!(statuses.len(), events.len(), "nothing of the batch stored");

    disk.empty();
    events.insert(accepted_once_there_is_room(&project, "AFTER").await);
    project.wait_delivered(&events).await;
    server.terminate().await;

    // A stopped server closes its store, so it leaves only its database file (no log, no
    // shared memory): a process that exited with connections open would leave both, and a
    // start could then run in them on a full disk.
    let left: Vec<String> = std::fs::read_dir(disk.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("sendout.db"))
        .collect();
    assert_eq!(left, ["sendout.db"], "what the stopped server left");
    // A start on a full disk stops at once, naming the cause (the shared-memory file SQLite
    // needs cannot be made); after space returns, the same store starts and still holds
    // everything.
    disk.fill_leaving(0);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sendout"));
    for (var, _) in std::env::vars() {
        if var.starts_with("SENDOUT_") {
            command.env_remove(var);
        }
    }
    let output = command
        .arg("serve")
        .env("SENDOUT_LISTEN", "127.0.0.1:0")
        .env("SENDOUT_DATA_DIR", disk.path())
        .env("SENDOUT_MANAGEMENT_ID", MANAGEMENT_ID)
        .env("SENDOUT_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
        .env("SENDOUT_MIN_FREE_DISK_BYTES", "0")
        .stdin(std::process::Stdio::null())
        .output();
    let output = tokio::time::timeout(SETTLE, output)
        .await
        .expect("a start on a full disk ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started on a full disk: {stderr}");
    assert!(stderr.contains("storage full"), "{stderr}");
    assert!(stderr.contains("no room left"), "{stderr}");
    assert_eq!(
        stderr.matches("storage full").count(),
        1,
        "the cause is said once: {stderr}"
    );

    disk.empty();
    let again = Sendout::start(disk.path(), &env).await;
    let project = Project {
        base_url: again.base_url.clone(),
        ..project
    };
    let statuses = project.statuses().await;
    assert_eq!(statuses.len(), events.len(), "{statuses:?}");
    assert!(
        statuses.iter().all(|(_, s)| s == "SUCCEEDED"),
        "{statuses:?}"
    );
    again.terminate().await;
    assert_eq!(integrity(disk.path()).await, "ok");
}
