//! Restart durability, the OpenAPI document, health, request ids.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::receiver::Receiver;
use crate::helpers::DELIVERY;

#[tokio::test]
async fn pending_send_outs_survive_a_restart_and_are_delivered_after_it() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    app.create_webhook(json!({"target_url": receiver.url("/later"), "events": ["*"]}))
        .await;
    let accepted = app
        .ingest(&json!({"type": "voucher.enabled", "data": {"voucher": {"code": "R"}}}))
        .await;
    let event_id = accepted.expect(202)["id"].as_str().unwrap().to_owned();
    assert_eq!(app.send_outs("").await["data"][0]["status"], "PENDING");
    assert_eq!(receiver.count(), 0);

    let app = app.restart(|c| c.workers = true).await;
    let received = receiver.wait_for(1, DELIVERY).await.remove(0);
    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(body["event"]["id"], event_id.as_str());
    assert_eq!(body["data"], json!({"voucher": {"code": "R"}}));
    app.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_parses_and_lists_every_route() {
    let app = TestApp::spawn().await;
    let response = app.raw(Method::GET, "/openapi.json", &[], None).await;
    let document = response.expect(200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths: BTreeSet<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/management/v1/projects",
        "/management/v1/projects/{projectId}",
        "/management/v1/projects/{projectId}/webhook-token/rotate",
        "/management/v1/projects/{projectId}/webhooks",
        "/management/v1/projects/{projectId}/webhooks/test",
        "/management/v1/projects/{projectId}/webhooks/{webhookId}",
        "/management/v1/projects/{projectId}/webhooks/{webhookId}/test",
        "/v1/events",
        "/v1/event-types",
        "/v1/event-types/{name}",
        "/v1/webhook-sendouts",
        "/v1/webhook-sendouts/retry",
        "/v1/webhook-sendouts/{sendOutId}",
        "/v1/webhook-sendouts/{sendOutId}/retry",
        "/health",
    ] {
        assert!(paths.contains(route), "{route} missing from {paths:?}");
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["management_token"]["name"], "X-Management-Token");
    assert_eq!(schemes["app_token"]["name"], "X-App-Token");
}

#[tokio::test]
async fn health_reports_the_store_and_the_workers() {
    let app = TestApp::spawn().await;
    let health = app.raw(Method::GET, "/health", &[], None).await;
    assert_eq!(
        health.expect(200),
        &json!({"status": "ok", "store": "ok", "workers": "running"})
    );

    let api_only = TestApp::spawn_with(|c| c.workers = false).await;
    let health = api_only.raw(Method::GET, "/health", &[], None).await;
    assert_eq!(health.expect(200)["workers"], "disabled");
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let app = TestApp::spawn().await;
    let first = app.raw(Method::GET, "/health", &[], None).await;
    let second = app
        .raw(
            Method::GET,
            "/health",
            &[("x-request-id", "client-chosen")],
            None,
        )
        .await;
    let (first, second) = (
        first.header("x-request-id").unwrap().to_owned(),
        second.header("x-request-id").unwrap().to_owned(),
    );
    assert!(first.starts_with("v-") && second.starts_with("v-"));
    assert_ne!(first, second);
}
