//! Voucherify's official management client against the real app: the `voucherify` Python SDK
//! (pinned by `scripts/setup/compat.sh`) runs `tests/compat/voucherify_management.py`, which
//! makes every management call sendout supports through the SDK's typed methods and checks
//! the typed answers. The SDK validates answers with pydantic models generated from
//! Voucherify's spec, so a missing field, a wrong type or a name outside the spec's enum fails
//! the run. The official Node SDK (`@voucherify/sdk` 2.9.0) has no management client, so there
//! is no Node run. Beside it, the rule that lets such a client put back what it read of a
//! webhook for every event.
//!
//! The SDK must be installed: a missing one is a failure that says how to install it, never a
//! silent skip. The script only ever talks to the app on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use crate::helpers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use helpers::app::{TestApp, MANAGEMENT_ID, MANAGEMENT_TOKEN};
use reqwest::Method;
use serde_json::json;

/// An upper bound for one script run, so a hung client fails the test instead of hanging it.
const SCRIPT_BOUND: Duration = Duration::from_secs(180);

fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .expect("the crate lies two levels below the workspace")
        .to_path_buf()
}

/// Runs `interpreter script` with the app's address and management key in its environment;
/// fails the test, showing everything the script printed, unless it exits 0.
async fn run_client(app: &TestApp, interpreter: PathBuf, script: &str) {
    let root = workspace_root();
    assert!(
        interpreter.exists(),
        "{} is missing: run scripts/setup/compat.sh (it installs the pinned Voucherify SDK)",
        interpreter.display()
    );
    let mut command = tokio::process::Command::new(&interpreter);
    command
        .arg(root.join(script))
        .current_dir(&root)
        .env("SENDOUT_URL", &app.base_url)
        .env("SENDOUT_MANAGEMENT_ID", MANAGEMENT_ID)
        .env("SENDOUT_MANAGEMENT_TOKEN", MANAGEMENT_TOKEN)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_BOUND, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_BOUND:?}"))
        .unwrap_or_else(|e| panic!("{} cannot run: {e}", interpreter.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("all management calls passed"),
        "{script} exited 0 without finishing:\n{stdout}"
    );
}

#[tokio::test]
async fn the_official_python_sdk_manages_projects_and_webhooks_unchanged() {
    let app = TestApp::spawn().await;
    let python = workspace_root().join("target/compat-venv/bin/python");
    run_client(&app, python, "tests/compat/voucherify_management.py").await;
    app.shutdown().await;
}

#[tokio::test]
async fn putting_back_what_a_webhook_for_every_event_reads_as_keeps_it_for_every_event() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({"target_url": "https://example.com/all", "events": ["*"]}))
        .await;
    let path = format!(
        "{}/{}",
        app.webhooks_path(),
        webhook["id"].as_str().unwrap()
    );

    let mut read_back = webhook.clone();
    read_back["active"] = json!(false);
    let kept = app.management(Method::PUT, &path, Some(&read_back)).await;
    let kept = kept.expect(200);
    assert_eq!(kept["all_events"], true, "{kept}");
    assert_eq!(kept["events"], webhook["events"]);
    assert_eq!(kept["active"], false);

    let mut narrowed = read_back.clone();
    narrowed["events"].as_array_mut().unwrap().pop();
    let narrowed = app.management(Method::PUT, &path, Some(&narrowed)).await;
    let narrowed = narrowed.expect(200);
    assert_eq!(narrowed["all_events"], false, "{narrowed}");
    assert_eq!(narrowed["events"].as_array().unwrap().len(), 59);
}
