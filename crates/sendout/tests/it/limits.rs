//! The limits that keep one tenant from multiplying a request's work (issue 16, items 1 and
//! 2): quotas on webhooks and distributions, fan-out counted at ingest, rendered payloads
//! bounded at ingest and in preview, templates bounded when saved. The real app on port 0
//! with its SQLite store and a recording receiver on loopback.

use reqwest::Method;
use serde_json::{json, Value};

use crate::distributions::{channel, create, distribution, emit, id, post};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::Receiver;
use crate::helpers::DELIVERY;

/// A template naming `order.id` `times` times, each inside a string.
fn repeating(times: usize) -> String {
    format!("[{}]", vec!["\"{{order.id}}\""; times].join(","))
}

fn custom(template: &str) -> Value {
    json!({"mode": "custom", "template": template})
}

/// Order data whose id is `bytes` long.
fn order(bytes: usize) -> Value {
    json!({"order": {"id": "x".repeat(bytes), "total_amount": 1}, "customer": {"name": "A"}})
}

fn hook(url: &str) -> Value {
    json!({"target_url": url, "events": ["*"], "active": true})
}

#[tokio::test]
async fn one_webhook_or_distribution_past_the_projects_quota_is_refused_with_quota_exceeded() {
    let app = TestApp::spawn_with(|c| {
        c.workers = false;
        c.limits.webhooks_per_project = 2;
        c.limits.distributions_per_project = 1;
    })
    .await;
    app.create_webhook(hook("https://a.example/1")).await;
    app.create_webhook(hook("https://a.example/2")).await;
    let third = app
        .management(
            Method::POST,
            &app.webhooks_path(),
            Some(&hook("https://a.example/3")),
        )
        .await;
    let error = third.expect_error(422, "quota_exceeded");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(details.contains("max_webhooks_per_project"), "{details}");
    assert!(details.contains("2 webhooks"), "{details}");
    assert_eq!(app.webhook_total().await, 2, "nothing was created");

    let simple = |url: &str| {
        distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![channel("Order-paid", url, json!({"mode": "full"}))],
        )
    };
    create(&app, &simple("https://crm.example/1")).await;
    let second = post(&app, &simple("https://crm.example/2")).await;
    let error = second.expect_error(422, "quota_exceeded");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(
        details.contains("max_distributions_per_project"),
        "{details}"
    );
    let listed = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(listed.expect(200)["total"], 1);
}

#[tokio::test]
async fn an_ingest_whose_fan_out_passes_a_limit_is_refused_whole_and_stores_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.workers = false;
        c.limits.fan_out.send_outs_per_event = 3;
        c.limits.fan_out.send_outs_per_request = 4;
    })
    .await;
    for i in 0..3 {
        app.create_webhook(hook(&format!("https://a.example/{i}")))
            .await;
    }
    let one = json!({"type": "voucher.published", "data": {"voucher": {"code": "A"}}});
    assert_eq!(app.ingest(&one).await.expect(202)["send_outs"], 3);

    let batch = json!({"events": [one.clone(), one.clone()]});
    let refused = app.ingest(&batch).await;
    let error = refused.expect_error(422, "too_many_send_outs");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(
        details.contains("6 send outs") && details.contains("at most 4"),
        "{details}"
    );

    app.create_webhook(hook("https://a.example/3")).await;
    let refused = app.ingest(&one).await;
    let error = refused.expect_error(422, "too_many_send_outs");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(
        details.contains("4 send outs") && details.contains("at most 3"),
        "{details}"
    );
    assert_eq!(
        app.send_out_total().await,
        3,
        "refused requests store nothing"
    );
}

#[tokio::test]
async fn a_channel_whose_payload_passes_the_bound_is_failed_unsent_and_cannot_be_retried() {
    let app = TestApp::spawn_with(|c| c.limits.fan_out.rendered_payload_bytes = 2_000).await;
    let receiver = Receiver::start().await;
    let made = create(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![
                channel("Order-big", &receiver.url("/big"), custom(&repeating(100))),
                channel(
                    "Order-small",
                    &receiver.url("/small"),
                    json!({"mode": "full"}),
                ),
            ],
        ),
    )
    .await;
    // 100 copies of a 100-byte id: about 10 KB for the first channel, 150 bytes for the other.
    assert_eq!(emit(&app, "customer.order.paid", &order(100)).await, 2);
    receiver.wait_for(1, DELIVERY).await;
    assert_eq!(receiver.received_on("/small").len(), 1);
    assert!(receiver.received_on("/big").is_empty());

    let log = app
        .send_outs(&format!("?source_id={}&status=FAILED", id(&made)))
        .await;
    let failed = &log["data"][0];
    assert_eq!(log["data"].as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(failed["type"], "Order-big");
    let reason = failed["failure_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("2000 bytes") && reason.contains("max_rendered_payload_bytes"),
        "{reason}"
    );
    let retry = app
        .project_api(
            Method::POST,
            &format!("/v1/webhook-sendouts/{}/retry", id(failed)),
            None,
        )
        .await;
    retry.expect_error(409, "send_out_unsendable");
    assert!(receiver.received_on("/big").is_empty(), "nothing was sent");
}

#[tokio::test]
async fn preview_refuses_a_payload_past_the_bound_and_saving_refuses_too_many_placeholders() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    // The amplification with the default bounds: 500 placeholders of a 3 KB value
    // would render 1.5 MB; the preview stops at 1 MiB and says why.
    let big = json!({
        "trigger": {"event": "customer.order.paid"},
        "channel": channel("Order-paid", "https://crm.example/hooks", custom(&repeating(500))),
        "data": order(3_000),
    });
    let answer = app
        .project_api(Method::POST, "/v1/distributions/preview", Some(&big))
        .await;
    let error = answer.expect_error(422, "rendered_payload_too_large");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(details.starts_with("channel.payload:"), "{details}");
    assert!(details.contains("1048576 bytes"), "{details}");

    let mut small = big.clone();
    small["data"] = order(10);
    app.project_api(Method::POST, "/v1/distributions/preview", Some(&small))
        .await
        .expect(200);

    let mut crowded = small;
    crowded["channel"]["payload"] = custom(&repeating(501));
    let answer = app
        .project_api(Method::POST, "/v1/distributions/preview", Some(&crowded))
        .await;
    let error = answer.expect_error(422, "template_too_large");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(
        details.starts_with("channel.payload.template:"),
        "{details}"
    );

    let saved = post(
        &app,
        &distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            vec![channel(
                "Order-paid",
                "https://crm.example/hooks",
                custom(&repeating(501)),
            )],
        ),
    )
    .await;
    let error = saved.expect_error(422, "template_too_large");
    let details = error["details"].as_str().unwrap_or_default();
    assert!(
        details.starts_with("channels[0].payload.template:") && details.contains("501"),
        "{details}"
    );
}
