//! Distributions through the project API, end to end: the real app on port 0 with a fresh
//! SQLite store per test and a real recording receiver on loopback. Waiting is on the
//! receiver's notifications; where a state must be read after deliveries, the app is stopped
//! gracefully first (its in-flight attempts are written back) and read again without workers.
#![allow(clippy::unwrap_used)]

use crate::helpers;

mod crud;
mod delivery;
mod preview;
mod seed;

use helpers::app::{ApiResponse, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// The order confirmation template of seeds/003.
pub const ORDER_CONFIRMATION: &str = r#"{
  "order": {
    "orderId": "{{order.id}}",
    "total": {{order.total_amount}},
    "currency": "USD",
    "message": "Thank you for your order, {{customer.name}}!"
  }
}"#;

/// A webhook channel.
pub fn channel(event_name: &str, url: &str, payload: Value) -> Value {
    json!({"type": "webhook", "event_name": event_name, "url": url, "payload": payload})
}

/// A distribution body on `trigger` with `action` and `channels`.
pub fn distribution(trigger: &str, action: &str, channels: Vec<Value>) -> Value {
    json!({
        "name": format!("{trigger} distribution"),
        "trigger": {"event": trigger},
        "action": action,
        "channels": channels,
    })
}

/// A one-channel distribution sending the full data to `url`.
pub fn simple(trigger: &str, url: &str) -> Value {
    let action = sendout_core::catalog::catalog()
        .get(trigger)
        .expect("a known trigger")
        .purposes()[0]
        .as_str();
    distribution(
        trigger,
        action,
        vec![channel("Test-event", url, json!({"mode": "full"}))],
    )
}

/// The catalog example of a type.
pub fn example(trigger: &str) -> Value {
    sendout_core::catalog::catalog()
        .get(trigger)
        .and_then(|t| t.example_data())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// `POST /v1/distributions` in the default project.
pub async fn post(app: &TestApp, body: &Value) -> ApiResponse {
    app.project_api(Method::POST, "/v1/distributions", Some(body))
        .await
}

/// Creates a distribution; asserts 200 and returns it.
pub async fn create(app: &TestApp, body: &Value) -> Value {
    post(app, body).await.expect(200).clone()
}

/// The id of a resource.
pub fn id(resource: &Value) -> String {
    resource["id"].as_str().expect("an id").to_owned()
}

/// Ingests one event of `event_type` with `data`; asserts 202 and returns how many send outs
/// it made.
pub async fn emit(app: &TestApp, event_type: &str, data: &Value) -> u64 {
    let response = app.ingest(&json!({"type": event_type, "data": data})).await;
    response.expect(202)["send_outs"]
        .as_u64()
        .expect("a send-out count")
}
