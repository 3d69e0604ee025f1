//! `POST /v1/distributions/preview`: a channel's headers and exact body, from given data or the
//! catalog example, with the same errors as saving.

use reqwest::Method;
use sendout::ops::preview::PREVIEW_SIGNING_SECRET;
use sendout_core::signature::{verify_standard, verify_voucherify, StandardSecret};
use serde_json::{json, Value};

use crate::distributions::{channel, example, ORDER_CONFIRMATION};
use crate::helpers::app::{ApiResponse, TestApp};

async fn preview(app: &TestApp, body: &Value) -> ApiResponse {
    app.project_api(Method::POST, "/v1/distributions/preview", Some(body))
        .await
}

fn custom(template: &str) -> Value {
    json!({"mode": "custom", "template": template})
}

#[tokio::test]
async fn a_preview_renders_the_catalog_example_inside_the_envelope_with_placeholder_ids() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let mut order = channel(
        "Order-paid",
        "https://crm.example/hooks",
        custom(ORDER_CONFIRMATION),
    );
    order["headers"] = json!({"x-crm-key": "abc"});
    let request = json!({"trigger": {"event": "customer.order.paid"}, "channel": order});
    let answer = preview(&app, &request).await;
    let answer = answer.expect(200);
    let body_text = answer["body"].as_str().unwrap();
    let body: Value = serde_json::from_str(body_text).unwrap();
    let data = example("customer.order.paid");

    assert_eq!(body["id"], "whs_00000000000000000000000000");
    assert_eq!(body["project_id"], app.project.id.as_str());
    assert_eq!(body["type"], "Order-paid");
    assert_eq!(
        body["source"],
        json!({"id": "distr_00000000000000000000000000", "object": "distribution",
               "target_url": "https://crm.example/hooks"})
    );
    assert_eq!(body["event"]["id"], "evcus_00000000000000000000000000");
    assert_eq!(body["event"]["type"], "customer.order.paid");
    assert_eq!(
        body["event"]["event_source"],
        json!({"channel": "INTERNAL"})
    );
    assert_eq!(
        body["data"]["order"]["total"], data["order"]["total_amount"],
        "an unquoted placeholder keeps the number"
    );
    assert_eq!(body["data"]["order"]["currency"], "USD");
    assert!(!body_text.contains('\n'), "the body is compact");
    assert_eq!(answer["matches"], true);

    let headers = &answer["headers"];
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers["user-agent"]
        .as_str()
        .unwrap()
        .starts_with("sendout/"));
    assert_eq!(headers["x-crm-key"], "abc");
    assert_eq!(headers["webhook-id"], "whs_00000000000000000000000000");
    // Signed over this body with the published preview key, never with the project's
    // secret: the caller chose the body, so a real signature would make preview a signing
    // oracle (issue 16).
    let signature = headers["x-voucherify-signature"].as_str().unwrap();
    let timestamp = headers["webhook-timestamp"].as_str().unwrap();
    let standard = headers["webhook-signature"].as_str().unwrap();
    let verifies_with = |token: &str| {
        let secret =
            StandardSecret::parse(&StandardSecret::from_webhook_token(token).to_whsec()).unwrap();
        let now: i64 = timestamp.parse().unwrap();
        let standard = verify_standard(
            &secret,
            "whs_00000000000000000000000000",
            timestamp,
            standard,
            body_text.as_bytes(),
            now,
        );
        (
            verify_voucherify(token, body_text.as_bytes(), signature),
            standard == Ok(()),
        )
    };
    assert_eq!(verifies_with(PREVIEW_SIGNING_SECRET), (true, true));
    assert_eq!(
        verifies_with(&app.project.webhook_token),
        (false, false),
        "the project's secret never signs a preview"
    );
}

#[tokio::test]
async fn a_raw_payload_preview_is_the_designed_value_alone_from_the_given_data() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let mut payload = custom(r#"{"to": "{{customer.email}}", "total": {{order.total_amount}}}"#);
    payload["raw"] = json!(true);
    let request = json!({
        "trigger": {"event": "customer.order.paid"},
        "channel": channel("Order-paid", "https://crm.example/hooks", payload),
        "data": {"customer": {"email": "a\"b@example.com"}, "order": {"total_amount": 4198}},
    });
    let answer = preview(&app, &request).await;
    assert_eq!(
        answer.expect(200)["body"],
        r#"{"to":"a\"b@example.com","total":4198}"#
    );
}

#[tokio::test]
async fn full_mode_previews_the_data_exactly_as_given_only_compacted() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let request_text = r#"{"trigger": {"event": "customer.segment.entered"},
        "channel": {"event_name": "Entered", "url": "https://crm.example/hooks",
                    "payload": {"mode": "full", "raw": true}},
        "data": {"z": 1.50, "a": [1, 2], "segment": {"id": "seg_1"}}}"#;
    let headers = [
        ("x-app-id", app.project.app_id.as_str()),
        ("x-app-token", app.project.app_token.as_str()),
        ("content-type", "application/json"),
    ];
    let answer = app
        .raw(
            Method::POST,
            "/v1/distributions/preview",
            &headers,
            Some(request_text.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(
        answer.expect(200)["body"],
        r#"{"z":1.50,"a":[1,2],"segment":{"id":"seg_1"}}"#,
        "key order and number spelling are kept"
    );
}

#[tokio::test]
async fn a_preview_says_whether_the_data_matches_the_condition() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let mut request = json!({
        "trigger": {"event": "customer.segment.entered", "condition": {"segment_id": "seg_vip"}},
        "channel": channel("Entered", "https://crm.example/hooks", json!({"mode": "full"})),
        "data": {"segment": {"id": "seg_vip"}},
    });
    assert_eq!(preview(&app, &request).await.expect(200)["matches"], true);
    request["data"]["segment"]["id"] = json!("seg_other");
    assert_eq!(preview(&app, &request).await.expect(200)["matches"], false);
}

#[tokio::test]
async fn a_preview_refuses_what_saving_refuses() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let url = "https://crm.example/hooks";
    let unknown = json!({
        "trigger": {"event": "customer.segment.entered"},
        "channel": channel("Entered", url, custom(r#"{"when": "{{redemption.date}}"}"#)),
    });
    let error = preview(&app, &unknown).await;
    let details = error.expect_error(422, "unknown_template_path")["details"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(details.starts_with("channel.payload.template"), "{details}");
    assert!(details.contains("`redemption.date`"), "{details}");

    let typo = json!({
        "trigger": {"event": "customer.order.paid"},
        "channel": channel("Paid", url, custom(r#"{"total": {{order.total_amout}}}"#)),
    });
    let error = preview(&app, &typo).await;
    let details = error.expect_error(422, "unknown_template_path")["details"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        details.contains("did you mean `order.total_amount`"),
        "{details}"
    );

    let broken = json!({
        "trigger": {"event": "customer.order.paid"},
        "channel": channel("Paid", url, custom("{\"a\": \"{{order.id}\"}")),
    });
    let error = preview(&app, &broken).await;
    let details = error.expect_error(422, "invalid_template")["details"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(details.contains("line 1, column"), "{details}");

    let not_a_trigger = json!({
        "trigger": {"event": "voucher.created"},
        "channel": channel("Created", url, json!({"mode": "full"})),
    });
    preview(&app, &not_a_trigger)
        .await
        .expect_error(422, "unknown_trigger");

    let not_an_object = json!({
        "trigger": {"event": "customer.order.paid"},
        "channel": channel("Paid", url, json!({"mode": "full"})),
        "data": [1, 2],
    });
    preview(&app, &not_an_object)
        .await
        .expect_error(400, "invalid_payload");
}

#[tokio::test]
async fn customer_referred_previews_without_data_from_the_example_sendout_built() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let built = example("customer.referred");
    let request = json!({
        "trigger": {"event": "customer.referred"},
        "channel": channel("Customer-referred", "https://crm.example/hooks",
            json!({"mode": "custom", "raw": true,
                   "template": r#"{"referred": "{{customer.name}}", "by": "{{referrer.name}}", "campaign": "{{campaign.id}}"}"#})),
    });
    let answer = preview(&app, &request).await;
    let body: Value = serde_json::from_str(answer.expect(200)["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"referred": built["customer"]["name"], "by": built["referrer"]["name"],
               "campaign": built["campaign"]["id"]})
    );
    for value in body.as_object().unwrap().values() {
        assert!(!value.as_str().unwrap().is_empty(), "a value in {body}");
    }

    let described = app
        .project_api(Method::GET, "/v1/event-types/customer.referred", None)
        .await;
    let described = described.expect(200);
    assert_eq!(described["example_source"], "built");
    assert_eq!(described["example"], built);
    assert!(described["note"]
        .as_str()
        .unwrap()
        .contains("built by sendout from its documented keys"));
    let published = app
        .project_api(Method::GET, "/v1/event-types/voucher.published", None)
        .await;
    assert_eq!(published.expect(200)["example_source"], "voucherify");
}
