//! Bad input gets a clear error in the documented shape and changes nothing.

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::TestApp;

/// What a test checks stays unchanged: how many webhooks and send outs the project has.
async fn counts(app: &TestApp) -> (u64, u64) {
    (app.webhook_total().await, app.send_out_total().await)
}

fn details(body: &serde_json::Value) -> &str {
    body["details"].as_str().unwrap()
}

/// A project with one webhook taking every event (workers off: nothing is sent anyway).
pub(crate) async fn app_with_a_webhook() -> TestApp {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/h", "events": ["*"]}))
        .await;
    app.ingest(&json!({"type": "voucher.created", "data": {}}))
        .await
        .expect(202);
    app
}

#[tokio::test]
async fn malformed_json_is_a_400_and_changes_nothing() {
    let app = app_with_a_webhook().await;
    let before = counts(&app).await;
    let json = ("content-type", "application/json");
    let [id, token] = TestApp::management_key();
    let broken = b"{\"target_url\": \"https://x.example\", \"events\": [".to_vec();
    app.raw(
        Method::POST,
        &app.webhooks_path(),
        &[id, token, json],
        Some(broken.clone()),
    )
    .await
    .expect_error(400, "invalid_json");

    let app_id = ("x-app-id", app.project.app_id.as_str());
    let app_token = ("x-app-token", app.project.app_token.as_str());
    app.raw(
        Method::POST,
        "/v1/events",
        &[app_id, app_token, json],
        Some(broken),
    )
    .await
    .expect_error(400, "invalid_json");
    app.raw(
        Method::POST,
        "/v1/events",
        &[app_id, app_token, json],
        Some(b"\"text\"".to_vec()),
    )
    .await
    .expect_error(400, "invalid_payload");

    // Not declared as JSON at all.
    let body = br#"{"type":"voucher.created","data":{}}"#.to_vec();
    app.raw(Method::POST, "/v1/events", &[app_id, app_token], Some(body))
        .await
        .expect_error(415, "unsupported_media_type");

    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn an_unknown_event_type_is_a_422_naming_it_and_a_bad_batch_stores_nothing() {
    let app = app_with_a_webhook().await;
    let before = counts(&app).await;

    let refused = app
        .ingest(&json!({"type": "voucher.exploded", "data": {}}))
        .await;
    let body = refused.expect_error(422, "unknown_event_type");
    assert!(details(body).contains("voucher.exploded"), "{body}");

    let batch = json!({"events": [
        {"type": "voucher.created", "data": {}},
        {"type": "voucher.created", "data": []}
    ]});
    let refused = app.ingest(&batch).await;
    let body = refused.expect_error(400, "invalid_payload");
    assert!(details(body).contains("events[1].data"), "{body}");

    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn event_fields_are_checked_one_by_one_and_named() {
    let app = app_with_a_webhook().await;
    let before = counts(&app).await;
    for (event, field) in [
        (json!({"type": "voucher.created", "data": "x"}), "data"),
        (json!({"type": "voucher.created"}), "data"),
        (json!({"data": {}}), "type"),
        (json!({"type": 7, "data": {}}), "type"),
        (
            json!({"type": "voucher.created", "data": {}, "group_id": "g1"}),
            "group_id",
        ),
        (
            json!({"type": "voucher.created", "data": {}, "created_at": "yesterday"}),
            "created_at",
        ),
        (
            json!({"type": "voucher.created", "data": {}, "event_source": 1}),
            "event_source",
        ),
        (
            json!({"type": "voucher.created", "data": {}, "entity": "v_1"}),
            "entity",
        ),
    ] {
        let refused = app.ingest(&event).await;
        let body = refused.expect_error(400, "invalid_payload");
        assert!(details(body).starts_with(field), "{field}: {body}");
    }
    let too_many: Vec<_> = (0..1001)
        .map(|_| json!({"type": "voucher.created", "data": {}}))
        .collect();
    app.ingest(&json!({ "events": too_many }))
        .await
        .expect_error(400, "invalid_payload");
    app.ingest(&json!({ "events": [] }))
        .await
        .expect_error(400, "invalid_payload");
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn invalid_webhooks_are_refused_naming_the_field_and_change_nothing() {
    let app = app_with_a_webhook().await;
    let before = counts(&app).await;
    let path = app.webhooks_path();

    for (body, key, needle) in [
        (
            json!({"target_url": "ftp://x.example/h", "events": ["*"]}),
            "invalid_payload",
            "target_url",
        ),
        (
            json!({"target_url": "not a url", "events": ["*"]}),
            "invalid_payload",
            "target_url",
        ),
        (json!({"events": ["*"]}), "invalid_payload", "target_url"),
        (
            json!({"target_url": "https://x.example", "events": []}),
            "invalid_payload",
            "events",
        ),
        (
            json!({"target_url": "https://x.example", "events": ["*", "voucher.created"]}),
            "invalid_payload",
            "events",
        ),
        (
            json!({"target_url": "https://x.example", "events": ["voucher.exploded"]}),
            "unknown_event_type",
            "voucher.exploded",
        ),
        (
            json!({"target_url": "https://x.example", "events": ["customer.segment.entered"]}),
            "event_type_not_for_webhooks",
            "customer.segment.entered",
        ),
        (
            json!({"target_url": "https://x.example", "events": ["*"], "headers": {"X-Voucherify-Signature": "x"}}),
            "invalid_payload",
            "x-voucherify-signature",
        ),
        (
            json!({"target_url": "https://x.example", "events": ["*"], "headers": {"Content-Type": "text/plain"}}),
            "invalid_payload",
            "content-type",
        ),
    ] {
        let refused = app.management(Method::POST, &path, Some(&body)).await;
        let status = if key == "invalid_payload" { 400 } else { 422 };
        let error = refused.expect_error(status, key);
        assert!(details(error).contains(needle), "{needle}: {error}");
    }
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn an_oversized_body_is_a_413_in_the_error_shape_and_changes_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.workers = false;
        c.max_body_bytes = 16 * 1024;
    })
    .await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/h", "events": ["*"]}))
        .await;
    let before = counts(&app).await;

    let big = json!({"type": "voucher.created", "data": {"blob": "x".repeat(32 * 1024)}});
    app.ingest(&big)
        .await
        .expect_error(413, "payload_too_large");
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    app.project_api(Method::GET, "/v1/nothing-here", None)
        .await
        .expect_error(404, "route_not_found");
    app.management(Method::PATCH, "/management/v1/projects", None)
        .await
        .expect_error(405, "method_not_allowed");
}
