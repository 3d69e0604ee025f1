//! The audit log, manual and bulk retry, and the test webhook.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::DELIVERY;

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_audit_log_filters_and_pages_newest_first() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let vouchers = app
        .create_webhook(json!({"target_url": receiver.url("/v"), "events": ["voucher.created"]}))
        .await;
    let everything = app
        .create_webhook(json!({"target_url": receiver.url("/all"), "events": ["*"]}))
        .await;
    for _ in 0..3 {
        app.ingest(&json!({"type": "voucher.created", "data": {}}))
            .await
            .expect(202);
    }
    app.ingest(&json!({"type": "customer.created", "data": {}}))
        .await
        .expect(202);
    let test_path = format!(
        "{}/{}/test",
        app.webhooks_path(),
        everything["id"].as_str().unwrap()
    );
    app.management(Method::POST, &test_path, None)
        .await
        .expect(200);

    let all = app.send_outs("?limit=100").await;
    assert_eq!(all["total"], 8, "3 × 2 + 1 + the test: {all}");
    let newest_first = ids(&all);
    let mut sorted = newest_first.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, sorted);

    // Pages of three, following the cursor.
    let mut paged = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = app.send_outs(&query).await;
        assert_eq!(page["total"], 8);
        paged.extend(ids(&page));
        if page["has_more"] != true {
            assert!(page.get("more_starting_after").is_none());
            break;
        }
        let cursor = page["more_starting_after"].as_str().unwrap();
        query = format!("?limit=3&starting_after_id={cursor}");
    }
    assert_eq!(paged, newest_first);

    assert_eq!(app_total(&app, "?is_test=true").await, 1);
    assert_eq!(app_total(&app, "?is_test=false&status=PENDING").await, 7);
    assert_eq!(
        app_total(&app, "?status=succeeded").await,
        1,
        "the test went out"
    );
    assert_eq!(app_total(&app, "?type=customer.created").await, 1);
    let by_source = format!("?source_id={}", vouchers["id"].as_str().unwrap());
    assert_eq!(app.send_outs(&by_source).await["total"], 3);
    let by_target = format!("?target_url={}", receiver.url("/all"));
    assert_eq!(app.send_outs(&by_target).await["total"], 5);
    assert_eq!(
        app_total(&app, "?created_after=2999-01-01T00:00:00Z").await,
        0
    );
    assert_eq!(
        app_total(&app, "?created_before=2999-01-01T00:00:00.000Z").await,
        8
    );

    for bad in [
        "?limit=0",
        "?limit=101",
        "?status=LOST",
        "?is_test=yes",
        "?created_after=soon",
        "?starting_after_id=x",
    ] {
        app.project_api(Method::GET, &format!("/v1/webhook-sendouts{bad}"), None)
            .await
            .expect_error(400, "invalid_query_params");
    }
}

async fn app_total(app: &TestApp, query: &str) -> u64 {
    app.send_outs(query).await["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_send_out_shows_everything_the_dashboard_needs() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "http://127.0.0.1:9/h", "events": ["*"],
            "headers": {"Authorization": "Bearer s3cret", "X-Tenant": "acme"},
            "public_headers": ["x-tenant"]
        }))
        .await;
    let accepted = app
        .ingest(&json!({"type": "redemption.succeeded", "data": {"redemption": {"id": "r_1"}}}))
        .await;
    let event_id = accepted.expect(202)["id"].as_str().unwrap().to_owned();
    let listed = app.send_outs("").await;
    let id = listed["data"][0]["id"].as_str().unwrap();

    let detail = app
        .project_api(Method::GET, &format!("/v1/webhook-sendouts/{id}"), None)
        .await;
    let detail = detail.expect(200);
    assert_eq!(detail["object"], "webhook_sendout");
    assert_eq!(detail["type"], "redemption.succeeded");
    assert_eq!(detail["event_id"], event_id.as_str());
    assert_eq!(detail["status"], "PENDING");
    assert_eq!(detail["attempt_count"], 0);
    assert_eq!(detail["is_test"], false);
    assert_eq!(
        detail["source"],
        json!({"id": webhook["id"], "object": "webhook", "target_url": "http://127.0.0.1:9/h"})
    );
    assert_eq!(
        detail["headers"],
        json!({"authorization": "[redacted]", "x-tenant": "acme"})
    );
    assert_eq!(detail["body"]["id"], id);
    assert_eq!(detail["body"]["data"], json!({"redemption": {"id": "r_1"}}));
    assert_eq!(detail["attempts"], json!([]));
    assert!(!detail.to_string().contains("s3cret"));
}

#[tokio::test]
async fn a_manual_retry_sends_the_same_body_again_now_and_records_the_attempt() {
    let receiver = Receiver::start().await;
    receiver.on(
        "/flaky",
        Behaviour::sequence(vec![Reply::status(500).body("boom"), Reply::ok()]),
    );
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    app.create_webhook(json!({"target_url": receiver.url("/flaky"), "events": ["*"]}))
        .await;
    app.ingest(&json!({"type": "voucher.updated", "data": {}}))
        .await
        .expect(202);
    let id = app.send_outs("").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry = format!("/v1/webhook-sendouts/{id}/retry");

    let first = app.project_api(Method::POST, &retry, None).await;
    let first = first.expect(200).clone();
    assert_eq!(first["attempt"]["number"], 1);
    assert_eq!(first["attempt"]["response_status"], 500);
    assert_eq!(first["attempt"]["response_body"], "boom");
    assert_eq!(first["attempt"]["succeeded"], false);
    assert_eq!(first["send_out"]["status"], "RETRYING");

    let second = app.project_api(Method::POST, &retry, None).await;
    let second = second.expect(200).clone();
    assert_eq!(second["attempt"]["number"], 2);
    assert_eq!(second["attempt"]["response_status"], 200);
    assert_eq!(second["send_out"]["status"], "SUCCEEDED");
    assert_eq!(second["send_out"]["attempt_count"], 2);
    assert_eq!(second["send_out"]["attempts"].as_array().unwrap().len(), 2);

    let received = receiver.wait_for(2, DELIVERY).await;
    assert_eq!(
        received[0].body, received[1].body,
        "a retry sends the same bytes"
    );
    assert_eq!(received[0].header("webhook-id"), Some(id.as_str()));
    assert_eq!(received[1].header("webhook-id"), Some(id.as_str()));

    app.project_api(Method::POST, "/v1/webhook-sendouts/whs_nope/retry", None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_bulk_retry_makes_a_targets_failed_send_outs_due_again() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let failing = app
        .create_webhook(json!({"target_url": receiver.url("/down"), "events": ["*"]}))
        .await;
    let failing_id = failing["id"].as_str().unwrap().to_owned();
    app.ingest(&json!({"type": "voucher.deleted", "data": {}}))
        .await
        .expect(202);
    let id = app.send_outs("").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry = format!("/v1/webhook-sendouts/{id}/retry");

    // Delivered once by hand, then failed by hand: a finished send out that fails ends FAILED.
    app.project_api(Method::POST, &retry, None)
        .await
        .expect(200);
    receiver.on("/down", Behaviour::always(Reply::status(503)));
    let failed = app.project_api(Method::POST, &retry, None).await;
    assert_eq!(failed.expect(200)["send_out"]["status"], "FAILED");
    receiver.wait_for(2, DELIVERY).await;

    let since_future = json!({"source_id": failing_id, "since": "2999-01-01T00:00:00Z"});
    let none = app
        .project_api(
            Method::POST,
            "/v1/webhook-sendouts/retry",
            Some(&since_future),
        )
        .await;
    assert_eq!(none.expect(200)["requeued"], 0);
    let bulk = app
        .project_api(
            Method::POST,
            "/v1/webhook-sendouts/retry",
            Some(&json!({"source_id": failing_id})),
        )
        .await;
    assert_eq!(bulk.expect(200)["requeued"], 1);
    let status = app.send_outs("").await["data"][0]["status"].clone();
    assert_eq!(status, "RETRYING");

    app.project_api(
        Method::POST,
        "/v1/webhook-sendouts/retry",
        Some(&json!({"source_id": "nonsense"})),
    )
    .await
    .expect_error(400, "invalid_payload");

    // Workers pick the requeued send out up.
    receiver.on("/down", Behaviour::always(Reply::ok()));
    let _app = app.restart(|c| c.workers = true).await;
    let received = receiver.wait_for(3, DELIVERY).await;
    assert_eq!(received[2].header("webhook-id"), Some(id.as_str()));
}

#[tokio::test]
async fn a_test_webhook_sends_a_catalog_example_once_and_is_logged_as_a_test() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let path = format!("{}/test", app.webhooks_path());
    let body = json!({
        "target_url": receiver.url("/try"),
        "event_type": "redemption.succeeded",
        "headers": {"X-Tenant": "acme"}
    });

    let outcome = app.management(Method::POST, &path, Some(&body)).await;
    let outcome = outcome.expect(200).clone();
    assert_eq!(outcome["status"], "SUCCEEDED");
    assert_eq!(outcome["succeeded"], true);
    assert_eq!(outcome["response_status"], 200);
    assert!(outcome["duration_ms"].is_u64());

    let received = receiver.wait_for(1, DELIVERY).await.remove(0);
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(sent["id"], outcome["send_out_id"]);
    assert_eq!(sent["type"], "redemption.succeeded");
    assert_eq!(sent["source"]["id"], "wh_test");
    assert!(sent["data"].is_object() && !sent["data"].as_object().unwrap().is_empty());
    assert_eq!(received.header("x-tenant"), Some("acme"));

    let tests = app.send_outs("?is_test=true").await;
    assert_eq!(tests["total"], 1);
    assert_eq!(tests["data"][0]["status"], "SUCCEEDED");
    assert_eq!(tests["data"][0]["event_id"], Value::Null);
}

#[tokio::test]
async fn a_failing_test_webhook_reports_the_failure_and_leaves_the_webhook_active() {
    let receiver = Receiver::start().await;
    receiver.on("/gone", Behaviour::always(Reply::gone()));
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({"target_url": receiver.url("/gone"), "events": ["voucher.created"]}))
        .await;
    let webhook_path = format!(
        "{}/{}",
        app.webhooks_path(),
        webhook["id"].as_str().unwrap()
    );

    let outcome = app
        .management(Method::POST, &format!("{webhook_path}/test"), None)
        .await;
    let outcome = outcome.expect(200);
    assert_eq!(outcome["status"], "FAILED");
    assert_eq!(outcome["response_status"], 410);
    assert_eq!(
        outcome["type"], "voucher.created",
        "the webhook's first event"
    );
    receiver.wait_for(1, DELIVERY).await;

    let after = app.management(Method::GET, &webhook_path, None).await;
    assert_eq!(after.expect(200)["active"], true);
    let tests = app.send_outs("?is_test=true").await;
    assert_eq!(tests["data"][0]["status"], "FAILED");

    app.management(
        Method::POST,
        &format!("{webhook_path}/test"),
        Some(&json!({"event_type": "voucher.exploded"})),
    )
    .await
    .expect_error(422, "unknown_event_type");
}

#[tokio::test]
async fn a_test_webhook_sends_the_data_given_and_needs_it_for_a_type_without_an_example() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let path = format!("{}/test", app.webhooks_path());
    let no_example = "campaign.earning_rule.assigned";

    // Without data a type with no example is refused, naming the field; nothing is sent.
    let refused = app
        .management(
            Method::POST,
            &path,
            Some(&json!({"target_url": receiver.url("/try"), "event_type": no_example})),
        )
        .await;
    let body = refused.expect_error(422, "test_data_required");
    assert!(
        body["details"].as_str().unwrap().starts_with("data: "),
        "{body}"
    );
    // Data that is not an object, and a body that is not JSON, are 400s; nothing is sent.
    let not_an_object =
        json!({"target_url": receiver.url("/try"), "event_type": no_example, "data": [1]});
    app.management(Method::POST, &path, Some(&not_an_object))
        .await
        .expect_error(400, "invalid_payload");
    let [id, token] = TestApp::management_key();
    let broken = br#"{"target_url": "x", "data": {"#.to_vec();
    app.raw(
        Method::POST,
        &path,
        &[id, token, ("content-type", "application/json")],
        Some(broken),
    )
    .await
    .expect_error(400, "invalid_json");
    assert_eq!(app.send_outs("?is_test=true").await["total"], 0);

    // With data, the receiver gets exactly that data in the envelope.
    let data =
        json!({"campaign": {"id": "camp_1", "name": "Spring"}, "earning_rule": {"id": "ern_1"}});
    let body = json!({"target_url": receiver.url("/try"), "event_type": no_example, "data": data});
    let outcome = app.management(Method::POST, &path, Some(&body)).await;
    assert_eq!(outcome.expect(200)["status"], "SUCCEEDED");
    let received = receiver.wait_for(1, DELIVERY).await.remove(0);
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(sent["type"], no_example);
    assert_eq!(sent["data"], data);

    // An existing webhook's test takes data too, instead of the example.
    let webhook = app
        .create_webhook(json!({"target_url": receiver.url("/hook"), "events": ["voucher.created"]}))
        .await;
    let webhook_test = format!("{}/test", app.webhook_path(&webhook));
    let mine = json!({"voucher": {"code": "MINE"}});
    app.management(Method::POST, &webhook_test, Some(&json!({"data": mine})))
        .await
        .expect(200);
    let received = receiver.wait_for(2, DELIVERY).await.remove(1);
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(
        (&sent["type"], &sent["data"]),
        (&json!("voucher.created"), &mine)
    );
}
