//! Operational webhooks (issue 18 item 4): sendout's events about its own targets reach the
//! operator's URL (signed with its own secret) and a project's URL (signed with the project's
//! `webhook_token`), both schemes verifying on every one; each incident makes one event of
//! its type; they are listed in the audit log as their own source; bad URLs are refused and
//! change nothing. Across kill -9 and restarts, and the operator's URL that keeps failing,
//! from the real binary: `operational/process.rs`.
#![allow(clippy::unwrap_used)]

mod process;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use sendout::config::{Config, OperatorEndpoint, Secret};
use sendout_core::input::TargetUrl;
use sendout_core::retry::RetryPolicy;
use sendout_core::signature::{verify_standard, verify_voucherify, StandardSecret};
use serde_json::{json, Value};

use crate::distributions::{create, emit, example, id, simple};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Received, Receiver, Reply};
use crate::helpers::DELIVERY;

/// The operator's signing secret in these tests.
pub const OPERATOR_SECRET: &str = "operator-secret-0123456789abcdef";

/// Checks both signatures of an operational delivery against `secret` and returns its body.
pub fn verified(received: &Received, secret: &str) -> Value {
    let body = &received.body;
    let voucherify = received.header("x-voucherify-signature").unwrap();
    assert!(
        verify_voucherify(secret, body, voucherify),
        "x-voucherify-signature does not verify: {}",
        received.body_text()
    );
    let standard = StandardSecret::from_webhook_token(secret);
    let (id, timestamp, signature) = (
        received.header("webhook-id").unwrap(),
        received.header("webhook-timestamp").unwrap(),
        received.header("webhook-signature").unwrap(),
    );
    let now: i64 = timestamp.parse().unwrap();
    assert!(
        verify_standard(&standard, id, timestamp, signature, body, now).is_ok(),
        "webhook-signature does not verify: {}",
        received.body_text()
    );
    serde_json::from_slice(body).unwrap()
}

/// How many distinct events of each type arrived (a redelivery has the same `id`).
pub fn types(bodies: &[Value]) -> BTreeMap<String, usize> {
    let mut seen = std::collections::HashSet::new();
    let mut types = BTreeMap::new();
    for body in bodies {
        if seen.insert(body["id"].as_str().unwrap().to_owned()) {
            *types
                .entry(body["type"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    types
}

fn configure(config: &mut Config, operator: &Receiver) {
    config.notices.interval = Duration::from_millis(50);
    // Warned after two attempts; the second retry waits an hour, so the warning is taken
    // while the send out is still open.
    config.notices.failing_attempts = Some(2);
    config.retry = RetryPolicy::parse_schedule("50ms,1h")
        .and_then(|p| p.with_jitter(0.0))
        .unwrap();
    config.operational.operator = Some(OperatorEndpoint {
        url: TargetUrl::parse(&operator.url("/operator")).unwrap(),
        secret: Secret::new(OPERATOR_SECRET),
    });
    config.operational.retry = RetryPolicy::parse_schedule("50ms")
        .and_then(|p| p.with_jitter(0.0))
        .unwrap();
}

#[tokio::test]
async fn every_incident_reaches_the_operator_and_the_project_once_signed_by_each() {
    let (targets, operator, own) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    targets.on("/gone", Behaviour::always(Reply::gone()));
    targets.on("/channel", Behaviour::always(Reply::gone()));
    targets.on("/failing", Behaviour::always(Reply::status(500)));
    let app = TestApp::spawn_with(|c| configure(c, &operator)).await;
    let project_path = format!("/management/v1/projects/{}", app.project.id);
    let project = app
        .management(
            Method::PUT,
            &project_path,
            Some(&json!({"operational_webhook_url": own.url("/ops")})),
        )
        .await;
    assert_eq!(
        project.expect(200)["operational_webhook_url"],
        own.url("/ops")
    );
    let gone = app
        .create_webhook(
            json!({"target_url": targets.url("/gone"), "events": ["voucher.published"]}),
        )
        .await;
    let failing = app
        .create_webhook(
            json!({"target_url": targets.url("/failing"), "events": ["voucher.published"]}),
        )
        .await;
    let distribution = create(
        &app,
        &simple("customer.rewarded.loyalty_points", &targets.url("/channel")),
    )
    .await;
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let trigger = "customer.rewarded.loyalty_points";
    assert_eq!(emit(&app, trigger, &example(trigger)).await, 1);

    // Disabled and exhausted (the 410), failing (the 500s), paused and exhausted (the channel).
    operator.wait_for(5, DELIVERY).await;
    own.wait_for(5, DELIVERY).await;
    let mut on = gone.clone();
    on["active"] = json!(true);
    for key in [
        "id",
        "object",
        "created_at",
        "updated_at",
        "disabled_reason",
        "disabled_at",
    ] {
        on.as_object_mut().unwrap().remove(key);
    }
    app.management(Method::PUT, &app.webhook_path(&gone), Some(&on))
        .await
        .expect(200);
    app.project_api(
        Method::POST,
        &format!("/v1/distributions/{}/live", id(&distribution)),
        None,
    )
    .await
    .expect(200);
    let to_operator = operator.wait_for(7, DELIVERY).await;
    let to_project = own.wait_for(7, DELIVERY).await;

    let operator_bodies: Vec<Value> = to_operator
        .iter()
        .map(|r| verified(r, OPERATOR_SECRET))
        .collect();
    let project_bodies: Vec<Value> = to_project
        .iter()
        .map(|r| verified(r, &app.project.webhook_token))
        .collect();
    let expected = BTreeMap::from([
        ("sendout.distribution.live".to_owned(), 1),
        ("sendout.distribution.paused".to_owned(), 1),
        ("sendout.send_out.exhausted".to_owned(), 2),
        ("sendout.webhook.disabled".to_owned(), 1),
        ("sendout.webhook.enabled".to_owned(), 1),
        ("sendout.webhook.failing".to_owned(), 1),
    ]);
    assert_eq!(types(&operator_bodies), expected);
    assert_eq!(types(&project_bodies), expected);
    // One event, two destinations: the same id and body.
    let mut operator_ids: Vec<&str> = operator_bodies
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let mut project_ids: Vec<&str> = project_bodies
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    operator_ids.sort_unstable();
    project_ids.sort_unstable();
    assert_eq!(operator_ids, project_ids);

    let of = |kind: &str| {
        operator_bodies
            .iter()
            .find(|b| b["type"] == kind)
            .unwrap()
            .clone()
    };
    let disabled = of("sendout.webhook.disabled");
    assert!(disabled["id"].as_str().unwrap().starts_with("evsen_"));
    assert_eq!(disabled["object"], "event");
    assert_eq!(disabled["project_id"], app.project.id.as_str());
    assert_eq!(disabled["data"]["target"]["object"], "webhook");
    assert_eq!(disabled["data"]["target"]["id"], gone["id"]);
    assert_eq!(disabled["data"]["target"]["url"], targets.url("/gone"));
    assert_eq!(disabled["data"]["reason"], "the target answered 410 Gone");
    assert_eq!(disabled["data"]["last_response"]["status"], 410);
    assert!(disabled["data"]["since"].is_string());
    assert!(disabled["data"]["send_out"]["id"]
        .as_str()
        .unwrap()
        .starts_with("whs_"));
    let links = &disabled["data"]["links"];
    assert!(links["send_outs"].as_str().unwrap().ends_with(&format!(
        "/v1/webhook-sendouts?source_id={}&status=FAILED",
        gone["id"].as_str().unwrap()
    )));
    assert_eq!(
        of("sendout.webhook.failing")["data"]["target"]["id"],
        failing["id"]
    );
    assert_eq!(
        of("sendout.webhook.failing")["data"]["last_response"]["status"],
        500
    );
    let paused = of("sendout.distribution.paused");
    assert_eq!(paused["data"]["target"]["object"], "distribution");
    assert_eq!(paused["data"]["target"]["channel"], 0);
    assert_eq!(
        of("sendout.webhook.enabled")["data"]["send_out"],
        Value::Null
    );
    let exhausted: Vec<&Value> = operator_bodies
        .iter()
        .filter(|b| b["type"] == "sendout.send_out.exhausted")
        .collect();
    let mut exhausted_targets: Vec<&str> = exhausted
        .iter()
        .map(|b| b["data"]["target"]["id"].as_str().unwrap())
        .collect();
    exhausted_targets.sort_unstable();
    let mut expected_targets = vec![
        gone["id"].as_str().unwrap(),
        distribution["id"].as_str().unwrap(),
    ];
    expected_targets.sort_unstable();
    assert_eq!(exhausted_targets, expected_targets);

    // The audit log lists them as their own source, the operator's and the project's (a
    // graceful restart writes the outcomes of the last attempts).
    let app = app.restart(|_| {}).await;
    for (source, url) in [
        ("ops_operator", operator.url("/operator")),
        ("ops_project", own.url("/ops")),
    ] {
        let listed = app.send_outs(&format!("?source_id={source}")).await;
        let items = listed["data"].as_array().unwrap();
        assert_eq!(items.len(), 7, "{listed}");
        for item in items {
            assert_eq!(item["source"]["object"], "operational");
            assert_eq!(item["source"]["id"], source);
            assert_eq!(item["source"]["target_url"], url);
            assert_eq!(item["status"], "SUCCEEDED");
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_bad_operational_url_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let project_path = format!("/management/v1/projects/{}", app.project.id);
    let before = app
        .management(Method::GET, &project_path, None)
        .await
        .expect(200)
        .clone();
    assert_eq!(before["operational_webhook_url"], Value::Null);
    for (url, says) in [
        ("not a url", "operational_webhook_url"),
        ("ftp://ops.example/hook", "operational_webhook_url"),
        (
            "http://169.254.169.254/latest/meta-data",
            "not a safe target",
        ),
        ("http://10.0.0.7/hook", "not a safe target"),
    ] {
        let response = app
            .management(
                Method::PUT,
                &project_path,
                Some(&json!({"operational_webhook_url": url, "name": "Renamed"})),
            )
            .await;
        let error = response.expect_error(400, "invalid_payload");
        assert!(error.to_string().contains(says), "{url}: {error}");
        let created = app
            .management(
                Method::POST,
                "/management/v1/projects",
                Some(&json!({"name": "Other", "operational_webhook_url": url})),
            )
            .await;
        created.expect_error(400, "invalid_payload");
    }
    let after = app
        .management(Method::GET, &project_path, None)
        .await
        .expect(200)
        .clone();
    assert_eq!(after["name"], before["name"]);
    assert_eq!(after["updated_at"], before["updated_at"]);
    let projects = app
        .management(Method::GET, "/management/v1/projects", None)
        .await
        .expect(200)["total"]
        .clone();
    assert_eq!(projects, 1, "no project was created");

    // Set, then removed with null.
    let set = app
        .management(
            Method::PUT,
            &project_path,
            Some(&json!({"operational_webhook_url": "https://ops.example/sendout"})),
        )
        .await;
    assert_eq!(
        set.expect(200)["operational_webhook_url"],
        "https://ops.example/sendout"
    );
    let removed = app
        .management(
            Method::PUT,
            &project_path,
            Some(&json!({"operational_webhook_url": null})),
        )
        .await;
    assert_eq!(removed.expect(200)["operational_webhook_url"], Value::Null);
    app.shutdown().await;
}
