//! `GET /metrics` end to end: the real app, a real receiver on loopback.
//!
//! The counters are the process's own (one registry per process), so this binary holds one
//! test, which tells the whole story in order: a backlog made with the workers off shows in
//! the queue gauges; once delivered, it shows in the counters and the latency histogram, and
//! the queue is empty. Counted completions are committed ones, so the test waits for them by
//! restarting the app (a graceful shutdown flushes the completion writer), never by sleeping.
#![allow(clippy::unwrap_used)]

#[path = "it/helpers/mod.rs"]
mod helpers;

use std::time::Duration;

use helpers::app::TestApp;
use helpers::receiver::Receiver;
use reqwest::Method;
use serde_json::json;

/// The value of the sample named exactly `name` (with its labels), or a panic showing all.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

async fn scrape(app: &TestApp) -> String {
    let response = app.raw(Method::GET, "/metrics", &[], None).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert!(response
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
    assert!(response.text.ends_with("# EOF\n"), "{}", response.text);
    response.text
}

#[tokio::test]
async fn metrics_show_the_queue_then_the_deliveries_and_their_latency() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(|config| config.workers = false).await;
    for path in ["/a", "/b"] {
        app.create_webhook(json!({"target_url": receiver.url(path), "events": ["*"]}))
            .await;
    }
    for _ in 0..3 {
        app.ingest(&json!({"type": "voucher.published", "data": {"code": "X"}}))
            .await
            .expect(202);
    }

    let text = scrape(&app).await;
    assert_eq!(sample(&text, "sendout_events_ingested_total"), 3.0);
    assert_eq!(sample(&text, "sendout_send_outs_created_total"), 6.0);
    assert_eq!(sample(&text, "sendout_queue_depth"), 6.0);
    assert_eq!(sample(&text, "sendout_queue_due"), 6.0);
    assert!(sample(&text, "sendout_oldest_due_age_seconds") >= 0.0);
    assert_eq!(sample(&text, "sendout_delivery_latency_seconds_count"), 0.0);

    let app = app.restart(|config| config.workers = true).await;
    receiver.wait_for(6, Duration::from_secs(10)).await;
    let app = app.restart(|_| {}).await;

    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            "sendout_send_outs_completed_total{status=\"SUCCEEDED\"}"
        ),
        6.0
    );
    assert_eq!(
        sample(&text, "sendout_attempts_total{outcome=\"2xx\"}"),
        6.0
    );
    assert_eq!(sample(&text, "sendout_delivery_latency_seconds_count"), 6.0);
    assert!(sample(&text, "sendout_delivery_latency_seconds_sum") > 0.0);
    assert_eq!(sample(&text, "sendout_queue_depth"), 0.0);
    assert_eq!(sample(&text, "sendout_queue_due"), 0.0);
    assert_eq!(sample(&text, "sendout_oldest_due_age_seconds"), 0.0);
    assert_eq!(sample(&text, "sendout_events_ingested_total"), 3.0);
    app.shutdown().await;
}
