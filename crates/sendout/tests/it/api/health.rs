//! Endpoint health through the API: a real receiver on loopback answers in a known pattern
//! (fast or after 300 ms, 2xx or 5xx), each attempt is made by a manual retry so the order
//! is known, and the figures must match it: counts, success rate, consecutive failures and
//! the last success exactly; percentiles by bucket, computed from the durations the audit
//! log recorded with the documented bounds, never from the clock.

use std::time::Duration;

use reqwest::Method;
use sendout_store::health::LATENCY_BOUNDS_MS;
use serde_json::{json, Value};

use crate::distributions::{channel, create, distribution, emit, example, id};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};

const SLOW: Duration = Duration::from_millis(300);

/// The documented bucket bound of a duration: the first bound above it.
fn bound(duration_ms: u64) -> u64 {
    LATENCY_BOUNDS_MS
        .iter()
        .copied()
        .find(|b| *b > duration_ms)
        .unwrap_or(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1])
}

/// The reported `q`-percentile of `durations`: the bound of the one of rank ⌈q·n⌉.
fn percentile(durations: &[u64], q: f64) -> u64 {
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    bound(sorted[rank.max(1) - 1])
}

/// Makes one attempt of `send_out` now; returns it as the audit log recorded it.
async fn attempt(app: &TestApp, send_out: &str) -> Value {
    let path = format!("/v1/webhook-sendouts/{send_out}/retry");
    let answer = app.project_api(Method::POST, &path, None).await;
    let attempts = answer.expect(200)["send_out"]["attempts"].clone();
    attempts
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("the attempt is recorded")
}

fn durations(attempts: &[Value]) -> Vec<u64> {
    attempts
        .iter()
        .map(|a| a["duration_ms"].as_u64().expect("a duration"))
        .collect()
}

/// Fast 200, slow 200, fast 500, slow 503.
fn pattern() -> Behaviour {
    Behaviour::sequence(vec![
        Reply::ok(),
        Reply::ok().delay(SLOW),
        Reply::status(500),
        Reply::status(503).delay(SLOW),
    ])
}

#[tokio::test]
async fn a_webhooks_health_follows_its_receivers_answers() {
    let receiver = Receiver::start().await;
    receiver.on("/hook", pattern());
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let webhook = app
        .create_webhook(json!({"target_url": receiver.url("/hook"), "events": ["*"]}))
        .await;
    let health_path = format!("{}/health", app.webhook_path(&webhook));

    let empty = app.management(Method::GET, &health_path, None).await;
    let empty = empty.expect(200);
    assert_eq!(empty["object"], "webhook_health");
    assert_eq!(empty["webhook_id"], webhook["id"]);
    assert_eq!(empty["last_day"]["attempts"], 0);
    assert_eq!(empty["last_day"]["success_rate"], Value::Null);
    assert_eq!(empty["last_day"]["p50_ms"], Value::Null);
    assert_eq!(empty["consecutive_failures"], 0);
    assert_eq!(empty["last_success_at"], Value::Null);

    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let send_out = app.send_outs("").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(attempt(&app, &send_out).await);
    }
    assert_eq!(receiver.count(), 4);
    let succeeded: Vec<bool> = made.iter().map(|a| a["succeeded"] == true).collect();
    assert_eq!(succeeded, [true, true, false, false]);
    let took = durations(&made);
    assert!(
        took[1] >= 300 && took[3] >= 300,
        "the slow answers: {took:?}"
    );

    let health = app.management(Method::GET, &health_path, None).await;
    let health = health.expect(200);
    for window in ["last_hour", "last_day"] {
        let figures = &health[window];
        assert_eq!(figures["attempts"], 4, "{window}");
        assert_eq!(figures["succeeded"], 2, "{window}");
        assert_eq!(figures["success_rate"], 0.5, "{window}");
        assert_eq!(figures["p50_ms"], percentile(&took, 0.5), "{window}");
        assert_eq!(figures["p95_ms"], percentile(&took, 0.95), "{window}");
    }
    let p95 = health["last_day"]["p95_ms"].as_u64().unwrap();
    assert!(
        p95 >= 362,
        "a 300 ms answer is in the bucket up to 362 ms or above: {p95}"
    );
    assert_eq!(health["consecutive_failures"], 2);
    assert_eq!(health["last_success_at"], made[1]["started_at"]);
    assert_eq!(health["last_failure_at"], made[3]["started_at"]);
    assert_eq!(health["last_attempt_at"], made[3]["started_at"]);
    let hourly: u64 = health["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(hourly, 4);

    // Unknown ids are 404 in the error shape; another project's webhook is not found.
    let unknown = format!("{}/wh_nope/health", app.webhooks_path());
    app.management(Method::GET, &unknown, None)
        .await
        .expect_error(404, "not_found");
    let other = app.create_project("Other shop").await;
    let foreign = format!(
        "/management/v1/projects/{}/webhooks/{}/health",
        other.id,
        webhook["id"].as_str().unwrap()
    );
    app.management(Method::GET, &foreign, None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn each_channel_of_a_distribution_has_its_own_health() {
    let receiver = Receiver::start().await;
    receiver.on("/slow", Behaviour::always(Reply::ok().delay(SLOW)));
    receiver.on("/down", Behaviour::always(Reply::status(500)));
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let made = create(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![
                channel(
                    "Order-paid",
                    &receiver.url("/slow"),
                    json!({"mode": "full"}),
                ),
                channel(
                    "Order-down",
                    &receiver.url("/down"),
                    json!({"mode": "full"}),
                ),
            ],
        ),
    )
    .await;
    assert_eq!(
        emit(&app, "customer.order.paid", &example("customer.order.paid")).await,
        2
    );
    let listed = app.send_outs("").await;
    let mut by_channel: Vec<(u64, String)> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"]["channel"].as_u64().expect("a channel"),
                s["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    by_channel.sort();
    let slow = attempt(&app, &by_channel[0].1).await;
    let down = [
        attempt(&app, &by_channel[1].1).await,
        attempt(&app, &by_channel[1].1).await,
    ];

    let path = format!("/v1/distributions/{}/health", id(&made));
    let health = app.project_api(Method::GET, &path, None).await;
    let health = health.expect(200);
    assert_eq!(health["object"], "distribution_health");
    assert_eq!(health["distribution_id"], id(&made).as_str());
    let channels = health["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 2);
    let (first, second) = (&channels[0], &channels[1]);
    assert_eq!(first["channel"], 0);
    assert_eq!(first["event_name"], "Order-paid");
    assert_eq!(first["last_hour"]["attempts"], 1);
    assert_eq!(first["last_hour"]["success_rate"], 1.0);
    let took = durations(std::slice::from_ref(&slow));
    assert_eq!(first["last_hour"]["p50_ms"], percentile(&took, 0.5));
    assert!(first["last_hour"]["p50_ms"].as_u64().unwrap() >= 362);
    assert_eq!(first["consecutive_failures"], 0);
    assert_eq!(first["last_success_at"], slow["started_at"]);
    assert_eq!(second["channel"], 1);
    assert_eq!(second["url"], receiver.url("/down"));
    assert_eq!(second["last_hour"]["attempts"], 2);
    assert_eq!(second["last_hour"]["success_rate"], 0.0);
    assert_eq!(second["consecutive_failures"], 2);
    assert_eq!(second["last_success_at"], Value::Null);
    assert_eq!(second["last_failure_at"], down[1]["started_at"]);

    app.project_api(Method::GET, "/v1/distributions/distr_nope/health", None)
        .await
        .expect_error(404, "not_found");
}
