//! `sendout backup PATH` while sendout serves: the copy holds every row the store held, and
//! sendout starts on it and serves what was there. Refusals change nothing: an existing
//! destination is left as it was, a missing store is not created, a PostgreSQL store is sent
//! to pg_dump.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use serde_json::json;
use tokio::process::Command;

use crate::helpers::app::TestApp;
use crate::helpers::snapshot;

/// Runs `sendout backup` with only the `SENDOUT_*` variables in `env`.
async fn backup(to: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendout"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SENDOUT_") {
            command.env_remove(name);
        }
    }
    command.arg("backup").arg(to).envs(env.iter().copied());
    command.output().await.expect("the sendout binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_backup_taken_while_serving_holds_everything_and_sendout_starts_on_it() {
    // Workers off, so nothing changes between the copy and the comparison.
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    app.create_webhook(json!({
        "target_url": "http://127.0.0.1:9/hook",
        "events": ["voucher.published"],
    }))
    .await;
    for n in 0..20 {
        let event =
            json!({"type": "voucher.published", "data": {"object": {"id": format!("v_{n}")}}});
        app.ingest(&event).await.expect(202);
    }
    let copy_dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let copy = copy_dir.path().join("sendout.db");
    let data_dir = app.dir.path().to_string_lossy().into_owned();

    let output = backup(&copy, &[("SENDOUT_DATA_DIR", &data_dir)]).await;

    assert!(
        output.status.success(),
        "backup failed: {}",
        stderr(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("backed up to"), "{stdout}");
    let original = snapshot::rows(&app.dir.path().join("sendout.db")).await;
    let copied = snapshot::rows(&copy).await;
    assert!(
        copied
            .iter()
            .filter(|row| row.starts_with("send_outs: "))
            .count()
            == 20,
        "the copy holds the 20 send outs"
    );
    assert_eq!(copied, original, "the copy holds every row, as it was");
    let leftovers: Vec<_> = std::fs::read_dir(copy_dir.path())
        .expect("the folder is read")
        .map(|entry| entry.expect("an entry").file_name())
        .filter(|name| name != "sendout.db")
        .collect();
    assert!(leftovers.is_empty(), "nothing but the copy: {leftovers:?}");

    let restored = app.spawn_beside(copy_dir).await;
    assert_eq!(restored.send_out_total().await, 20);
    assert_eq!(restored.webhook_total().await, 1);
    restored.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_backup_never_overwrites_a_file_and_never_creates_a_store() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let data_dir = app.dir.path().to_string_lossy().into_owned();
    let folder = tempfile::tempdir().expect("a temporary directory");
    let existing = folder.path().join("taken.db");
    std::fs::write(&existing, b"not a backup").expect("a file is written");

    let output = backup(&existing, &[("SENDOUT_DATA_DIR", &data_dir)]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("exists already"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&existing).expect("read"), b"not a backup");

    let empty = tempfile::tempdir().expect("a temporary directory");
    let nowhere = empty.path().join("no-store");
    let to = folder.path().join("copy.db");
    let output = backup(&to, &[("SENDOUT_DATA_DIR", &nowhere.to_string_lossy())]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no embedded store"),
        "{}",
        stderr(&output)
    );
    assert!(!nowhere.exists() && !to.exists(), "nothing was created");

    let missing_folder = folder.path().join("no-such-folder").join("copy.db");
    let output = backup(&missing_folder, &[("SENDOUT_DATA_DIR", &data_dir)]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_postgresql_store_is_backed_up_with_its_own_tools() {
    let folder = tempfile::tempdir().expect("a temporary directory");
    let to = folder.path().join("copy.db");
    let url = "postgres://postgres@127.0.0.1:5432/postgres";

    let output = backup(&to, &[("SENDOUT_DATABASE_URL", url)]).await;

    assert!(!output.status.success());
    assert!(stderr(&output).contains("pg_dump"), "{}", stderr(&output));
    assert!(!to.exists());
}
