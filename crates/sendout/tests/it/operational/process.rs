//! Operational webhooks from the real binary: each event made once across kill -9 and
//! restarts (the notice is its outbox), an operator URL that keeps failing logged at error
//! level and counted on `/metrics` but never disabled, and a bad operator URL refused at
//! start.

use reqwest::Method;
use serde_json::{json, Value};

use super::{types, verified, OPERATOR_SECRET};
use crate::crash::{client, management_call};
use crate::helpers::process::{refused_start, Sendout};
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::notices::process::{env_with, ingest, told_project, WAIT};

/// Waits until the operator has got an event of each of `kinds` (each further request ends
/// one wait, so nothing sleeps).
async fn wait_for_types(operator: &Receiver, kinds: &[&str]) {
    loop {
        let got = bodies(operator);
        if kinds.iter().all(|k| got.iter().any(|b| b["type"] == *k)) {
            return;
        }
        operator.wait_for(operator.count() + 1, WAIT).await;
    }
}

/// Turns the webhook on again (and retries what failed while it was off).
async fn recover(server: &Sendout, project: &str, webhook: &str) {
    management_call(
        server,
        Method::POST,
        &format!("/management/v1/projects/{project}/webhooks/{webhook}/recover"),
        json!({}),
    )
    .await;
}

/// Every distinct event the operator got so far, each delivery verified.
fn bodies(operator: &Receiver) -> Vec<Value> {
    operator
        .received_on("/operator")
        .iter()
        .map(|r| verified(r, OPERATOR_SECRET))
        .collect()
}

/// A target receiver answering `410`, an operator receiver answering `status`, and the
/// environment that sends operational events to the latter with `schedule`.
async fn receivers(status: u16, schedule: &str) -> (Receiver, Receiver, Vec<(String, String)>) {
    let (targets, operator) = (Receiver::start().await, Receiver::start().await);
    targets.set_default(Behaviour::always(Reply::gone()));
    operator.set_default(Behaviour::always(Reply::status(status)));
    let env = [
        ("SENDOUT_OPERATIONAL_WEBHOOK_URL", operator.url("/operator")),
        (
            "SENDOUT_OPERATIONAL_WEBHOOK_SECRET",
            OPERATOR_SECRET.to_owned(),
        ),
        ("SENDOUT_OPERATIONAL_RETRY_SCHEDULE", schedule.to_owned()),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    (targets, operator, env)
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env_with(
        &env.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn each_operational_event_is_made_once_across_kill_9_and_restarts() {
    let data = tempfile::tempdir().unwrap();
    let (targets, operator, vars) = receivers(503, "100ms,1s,1s,1s,1s,1s,1s,1s,1s,1s").await;
    let env = pairs(&vars);

    // The operator's endpoint is down: the disabling's events are made, and wait.
    let server = Sendout::start(data.path(), &env).await;
    let (project, key, webhook) = told_project(&server, &targets.url("/gone")).await;
    ingest(&server, &key).await;
    server
        .stderr
        .wait_for("operational events made", 1, WAIT)
        .await;
    operator.wait_for(1, WAIT).await;
    server.kill().await;

    // Up again, with the endpoint: both arrive, made once.
    operator.set_default(Behaviour::always(Reply::ok()));
    let server = Sendout::start(data.path(), &env).await;
    wait_for_types(
        &operator,
        &["sendout.webhook.disabled", "sendout.send_out.exhausted"],
    )
    .await;
    let expected = |pairs: &[(&str, usize)]| -> std::collections::BTreeMap<String, usize> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    assert_eq!(
        types(&bodies(&operator)),
        expected(&[
            ("sendout.send_out.exhausted", 1),
            ("sendout.webhook.disabled", 1)
        ])
    );
    server.kill().await;

    // Killed again; the next start makes none of them again. Re-enabling (the target is
    // back, so what failed is delivered) makes its own.
    targets.set_default(Behaviour::always(Reply::ok()));
    let server = Sendout::start(data.path(), &env).await;
    recover(&server, &project, &webhook).await;
    server
        .stderr
        .wait_for("operational events made", 1, WAIT)
        .await;
    wait_for_types(&operator, &["sendout.webhook.enabled"]).await;
    let all = bodies(&operator);
    assert_eq!(
        types(&all),
        expected(&[
            ("sendout.send_out.exhausted", 1),
            ("sendout.webhook.disabled", 1),
            ("sendout.webhook.enabled", 1)
        ]),
        "{all:#?}"
    );
    assert!(all.iter().all(|b| b["project_id"] == project.as_str()));
    server.terminate().await;
}

#[tokio::test]
async fn an_operator_url_that_keeps_failing_is_logged_and_counted_but_never_disabled() {
    let data = tempfile::tempdir().unwrap();
    let (targets, operator, vars) = receivers(500, "50ms").await;
    let env = pairs(&vars);
    let server = Sendout::start(data.path(), &env).await;
    let (project, key, webhook) = told_project(&server, &targets.url("/gone")).await;
    ingest(&server, &key).await;
    // Disabled and exhausted: each tried twice, then given up.
    let given_up = "an operational webhook delivery was given up";
    server.stderr.wait_for(given_up, 2, WAIT).await;
    let lines = server.stderr.lines();
    let logged: Vec<&String> = lines.iter().filter(|l| l.contains(given_up)).collect();
    assert!(
        logged
            .iter()
            .all(|l| l.contains("ERROR") && l.contains("the target answered 500")),
        "{logged:#?}"
    );
    let metrics = client()
        .get(format!("{}/metrics", server.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sendout_operational_given_up_total 2"),
        "{metrics}"
    );
    // Still configured: the next incident is sent there too (signed: `bodies` verifies).
    recover(&server, &project, &webhook).await;
    wait_for_types(&operator, &["sendout.webhook.enabled"]).await;
    server.terminate().await;
}

#[tokio::test]
async fn a_bad_operator_url_or_secret_is_refused_at_start_and_changes_nothing() {
    for (url, secret, named) in [
        (
            "http://169.254.169.254/latest",
            OPERATOR_SECRET,
            "operational_webhook_url",
        ),
        ("not a url", OPERATOR_SECRET, "operational_webhook_url"),
        (
            "https://ops.example/hook",
            "short",
            "operational_webhook_secret",
        ),
        ("https://ops.example/hook", "", "operational_webhook_secret"),
        ("", OPERATOR_SECRET, "operational_webhook_secret"),
    ] {
        let env = [
            ("SENDOUT_OPERATIONAL_WEBHOOK_URL", url),
            ("SENDOUT_OPERATIONAL_WEBHOOK_SECRET", secret),
        ];
        let (stderr, created) = refused_start(&env).await;
        assert!(stderr.contains(named), "{env:?}: {stderr}");
        assert!(!stderr.contains(OPERATOR_SECRET), "{env:?}: {stderr}");
        assert!(created.is_empty(), "{env:?}: {created:?}");
    }
}
