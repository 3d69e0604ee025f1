//! Idempotent ingest over HTTP (issue 17, docs/API.md): `Idempotency-Key` replays, conflicts,
//! refused requests that keep no key, expiry, events' own keys in batches, the key in the
//! audit log, and the OpenAPI document. The store's side, on both backends, is in
//! `sendout-store/tests/story/idempotency.rs`; one scenario here runs on PostgreSQL too.

use std::time::Duration;

use reqwest::Method;
use sendout::config::{Config, Database, Secret};
use serde_json::{json, Value};

use crate::helpers::app::{ApiResponse, TestApp};
use crate::helpers::pg;
use crate::helpers::receiver::Receiver;
use crate::helpers::DELIVERY;

/// `POST /v1/events` of the default project with an `Idempotency-Key`.
async fn ingest_with_key(app: &TestApp, key: &str, body: &Value) -> ApiResponse {
    ingest_text_with_key(app, key, serde_json::to_vec(body).unwrap()).await
}

/// [`ingest_with_key`] of a body as given.
async fn ingest_text_with_key(app: &TestApp, key: &str, body: Vec<u8>) -> ApiResponse {
    let headers = [
        ("x-app-id", app.project.app_id.as_str()),
        ("x-app-token", app.project.app_token.as_str()),
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    app.raw(Method::POST, "/v1/events", &headers, Some(body))
        .await
}

/// Asserts an error answer whose details begin with `prefix` (the field at fault).
#[track_caller]
fn assert_refused(response: &ApiResponse, status: u16, key: &str, prefix: &str) {
    let body = response.expect_error(status, key);
    let details = body["details"].as_str().unwrap();
    assert!(details.starts_with(prefix), "{body}");
}

fn published(code: &str) -> Value {
    json!({"type": "voucher.published", "data": {"voucher": {"code": code}}})
}

/// A retry gets the first answer byte for byte and makes nothing; the receiver gets one
/// delivery, and the send out's detail shows the key.
async fn a_retry_is_answered_as_the_first_request_and_delivered_once(app: &TestApp) {
    let receiver = Receiver::start().await;
    app.create_webhook(json!({"target_url": receiver.url("/hook"), "events": ["*"]}))
        .await;
    let body = json!({"events": [published("A"), published("B")]});
    let first = ingest_with_key(app, "order-1001", &body).await;
    first.expect(202);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let retry = ingest_with_key(app, "order-1001", &body).await;
    retry.expect(202);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.text, first.text, "byte for byte the first answer");
    assert_eq!(app.send_out_total().await, 2, "the retry made nothing");

    let received = receiver.wait_for(2, DELIVERY).await;
    let ids: Vec<&str> = first.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for delivery in &received {
        let event: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert!(ids.contains(&event["event"]["id"].as_str().unwrap()));
    }
    let listed = app.send_outs("").await;
    let id = listed["data"][0]["id"].as_str().unwrap();
    let detail = app
        .project_api(Method::GET, &format!("/v1/webhook-sendouts/{id}"), None)
        .await;
    assert_eq!(detail.expect(200)["idempotency_key"], "order-1001");
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_makes_nothing() {
    let app = TestApp::spawn().await;
    a_retry_is_answered_as_the_first_request_and_delivered_once(&app).await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_on_postgres() {
    let database = pg::TestDatabase::create().await;
    let url = database.url().to_owned();
    let app = TestApp::spawn_with(|config: &mut Config| {
        config.database = Database::Postgres(Secret::new(url));
    })
    .await;
    a_retry_is_answered_as_the_first_request_and_delivered_once(&app).await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict_and_creates_nothing() {
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .await;
    ingest_with_key(&app, "order-1002", &published("A"))
        .await
        .expect(202);
    let other = ingest_with_key(&app, "order-1002", &published("B")).await;
    let error = other.expect_error(409, "idempotency_key_reused");
    assert!(
        error["details"]
            .as_str()
            .unwrap()
            .contains("different body"),
        "{error}"
    );
    assert_eq!(app.send_out_total().await, 1);
    // Whitespace is not a different body.
    let spaced = serde_json::to_vec_pretty(&published("A")).unwrap();
    let replayed = ingest_text_with_key(&app, "order-1002", spaced).await;
    replayed.expect(202);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_refused_request_keeps_no_key_so_its_fixed_retry_is_processed() {
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .await;
    let unknown = json!({"type": "voucher.nonsense", "data": {}});
    ingest_with_key(&app, "order-1003", &unknown)
        .await
        .expect(422);
    let fixed = ingest_with_key(&app, "order-1003", &published("A")).await;
    fixed.expect(202);
    assert_eq!(fixed.header("idempotent-replayed"), None);
    assert_eq!(app.send_out_total().await, 1);
}

#[tokio::test]
async fn invalid_keys_are_refused_naming_them_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .await;
    let long = "k".repeat(256);
    let error = ingest_with_key(&app, &long, &published("A")).await;
    assert_refused(&error, 400, "invalid_payload", "Idempotency-Key:");
    ingest_with_key(&app, &"k".repeat(255), &published("A"))
        .await
        .expect(202);
    let repeated = json!({"events": [
        {"type": "voucher.published", "data": {}, "idempotency_key": "e1"},
        {"type": "voucher.published", "data": {}, "idempotency_key": "e1"},
    ]});
    let error = app.ingest(&repeated).await;
    assert_refused(&error, 400, "invalid_payload", "events[1].idempotency_key:");
    assert_eq!(app.send_out_total().await, 1);
}

#[tokio::test]
async fn events_own_keys_make_each_event_of_a_resent_batch_once() {
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .await;
    let keyed = |code: &str| {
        json!({"type": "voucher.published", "data": {"voucher": {"code": code}},
               "idempotency_key": format!("voucher-{code}")})
    };
    let first = app
        .ingest(&json!({"events": [keyed("A"), keyed("B")]}))
        .await;
    let first = first.expect(202).clone();
    let again = app
        .ingest(&json!({"events": [keyed("A"), keyed("B"), keyed("C")]}))
        .await;
    let again = again.expect(202);
    assert_eq!(again["data"][0], first["data"][0]);
    assert_eq!(again["data"][1], first["data"][1]);
    assert_ne!(again["data"][2]["id"], first["data"][0]["id"]);
    assert_eq!(again["total"], 3);
    assert_eq!(app.send_out_total().await, 3, "each event once");

    let changed = json!({"type": "voucher.published", "data": {"voucher": {"code": "other"}},
                         "idempotency_key": "voucher-B"});
    let refused = app.ingest(&json!({"events": [keyed("D"), changed]})).await;
    assert_refused(
        &refused,
        409,
        "idempotency_key_reused",
        "events[1].idempotency_key",
    );
    assert_eq!(
        app.send_out_total().await,
        3,
        "the refused batch made nothing"
    );
}

#[tokio::test]
async fn a_key_is_new_again_once_its_time_is_over() {
    let app = TestApp::spawn_with(|config: &mut Config| {
        config.idempotency_ttl = Duration::from_millis(1);
    })
    .await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .await;
    let first = ingest_with_key(&app, "order-1004", &published("A")).await;
    first.expect(202);
    // Past the key's millisecond (the store's clock counts milliseconds).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let later = ingest_with_key(&app, "order-1004", &published("A")).await;
    later.expect(202);
    assert_eq!(later.header("idempotent-replayed"), None);
    assert_ne!(later.json["id"], first.json["id"]);
    assert_eq!(app.send_out_total().await, 2);
}

#[tokio::test]
async fn the_openapi_document_lists_the_idempotency_key_header() {
    let app = TestApp::spawn().await;
    let document = app.raw(Method::GET, "/openapi.json", &[], None).await;
    let post = &document.expect(200)["paths"]["/v1/events"]["post"];
    let parameters = post["parameters"].as_array().expect("parameters");
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
        "{parameters:?}"
    );
    assert!(post["responses"]["409"].is_object());
    assert!(post["responses"]["202"]["headers"]["Idempotent-Replayed"].is_object());
}
