//! Ingest: fan-out, the exact envelope, signatures, batches, secret rotation.

use std::collections::BTreeSet;

use reqwest::Method;
use sendout_core::ids::GroupId;
use sendout_core::signature::{verify_standard, verify_voucherify, StandardSecret};
use sendout_core::time::Timestamp;
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Received, Receiver};
use crate::helpers::DELIVERY;

/// Asserts that both signatures of a delivery verify under `secret`.
#[track_caller]
fn assert_signed_with(received: &Received, secret: &str) {
    let id = received.header("webhook-id").expect("webhook-id");
    let timestamp = received
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let signature = received
        .header("webhook-signature")
        .expect("webhook-signature");
    verify_standard(
        &StandardSecret::from_webhook_token(secret),
        id,
        timestamp,
        signature,
        &received.body,
        Timestamp::now().as_secs(),
    )
    .expect("the Standard Webhooks signature verifies");
}

#[tokio::test]
async fn an_event_fans_out_to_each_subscribed_active_webhook_and_to_no_other() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let subscribed = app
        .create_webhook(json!({"target_url": receiver.url("/a"), "events": ["voucher.published"]}))
        .await;
    let everything = app
        .create_webhook(json!({"target_url": receiver.url("/b"), "events": ["*"]}))
        .await;
    app.create_webhook(
        json!({"target_url": receiver.url("/c"), "events": ["redemption.succeeded"]}),
    )
    .await;
    app.create_webhook(json!({
        "target_url": receiver.url("/d"), "events": ["voucher.published"], "active": false
    }))
    .await;

    let accepted = app
        .ingest(&json!({"type": "voucher.published", "data": {"voucher": {"code": "A"}}}))
        .await;
    let accepted = accepted.expect(202);
    assert_eq!(accepted["object"], "event");
    assert!(accepted["id"].as_str().unwrap().starts_with("evvou_"));
    assert_eq!(accepted["send_outs"], 2);

    let received = receiver.wait_for(2, DELIVERY).await;
    let paths: BTreeSet<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["/a", "/b"]));

    let log = app.send_outs("").await;
    assert_eq!(log["total"], 2, "no send out for the others: {log}");
    let sources: BTreeSet<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"]["id"].as_str().unwrap())
        .collect();
    let expected = BTreeSet::from([
        subscribed["id"].as_str().unwrap(),
        everything["id"].as_str().unwrap(),
    ]);
    assert_eq!(sources, expected);
}

#[tokio::test]
async fn the_receiver_gets_the_documented_envelope_signed_both_ways() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let url = receiver.url("/hook");
    let webhook = app
        .create_webhook(json!({
            "target_url": url, "events": ["voucher.published"], "headers": {"X-Tenant": "acme"}
        }))
        .await;
    let group = GroupId::new();
    // Written by hand: spacing and `1.10` must not survive, key order and digits must.
    let request = format!(
        r#"{{ "type": "voucher.published",
             "data": {{ "voucher": {{ "code": "A 1", "amount": 1.10 }}, "z": [1, 2] }},
             "entity_id": "v_123", "group_id": "{group}",
             "created_at": "2024-01-01T11:11:11.111Z",
             "event_source": {{ "channel": "USER_PORTAL", "user": {{ "id": "user_1" }} }} }}"#
    );
    let accepted = app
        .raw(
            Method::POST,
            "/v1/events",
            &[
                ("x-app-id", &app.project.app_id),
                ("x-app-token", &app.project.app_token),
                ("content-type", "application/json"),
            ],
            Some(request.into_bytes()),
        )
        .await;
    let event_id = accepted.expect(202)["id"].as_str().unwrap().to_owned();

    let received = receiver.wait_for(1, DELIVERY).await.remove(0);
    let send_out_id = received.header("webhook-id").unwrap().to_owned();
    let detail = app
        .project_api(
            Method::GET,
            &format!("/v1/webhook-sendouts/{send_out_id}"),
            None,
        )
        .await;
    let detail = detail.expect(200).clone();
    let expected = format!(
        concat!(
            r#"{{"id":"{id}","project_id":"{project}","created_at":"{created_at}","#,
            r#""type":"voucher.published","data":{{"voucher":{{"code":"A 1","amount":1.10}},"z":[1,2]}},"#,
            r#""source":{{"id":"{webhook}","object":"webhook","target_url":"{url}"}},"#,
            r#""event":{{"id":"{event}","type":"voucher.published","created_at":"2024-01-01T11:11:11.111Z","#,
            r#""entity_id":"v_123","group_id":"{group}","#,
            r#""event_source":{{"channel":"USER_PORTAL","user":{{"id":"user_1"}}}}}}}}"#
        ),
        id = send_out_id,
        project = app.project.id,
        created_at = detail["created_at"].as_str().unwrap(),
        webhook = webhook["id"].as_str().unwrap(),
        url = url,
        event = event_id,
        group = group,
    );
    assert_eq!(received.body_text(), expected);

    assert_eq!(received.method, "POST");
    assert_eq!(received.header("content-type"), Some("application/json"));
    assert!(received
        .header("user-agent")
        .unwrap()
        .starts_with("sendout/"));
    assert_eq!(received.header("x-tenant"), Some("acme"));
    let token = &app.project.webhook_token;
    assert!(verify_voucherify(
        token,
        &received.body,
        received.header("x-voucherify-signature").unwrap()
    ));
    assert_signed_with(&received, token);

    // The audit log shows the very bytes that were sent.
    assert_eq!(detail["event_id"], event_id.as_str());
    assert_eq!(detail["group_id"], group.as_str());
    // Sent as given, but the webhook marks no header public: the audit log hides its value.
    assert_eq!(detail["headers"], json!({"x-tenant": "[redacted]"}));
    let log_text = app
        .project_api(
            Method::GET,
            &format!("/v1/webhook-sendouts/{send_out_id}"),
            None,
        )
        .await
        .text;
    assert!(log_text.contains(&expected));
}

#[tokio::test]
async fn events_without_a_group_share_the_request_id_and_get_the_default_source() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": receiver.url("/h"), "events": ["*"]}))
        .await;

    let batch = json!({"events": [
        {"type": "customer.created", "data": {"customer": {"id": "cust_1"}}},
        {"type": "voucher.gift.balance_aded", "data": {}, "entity_id": "v_1"}
    ]});
    let accepted = app.ingest(&batch).await;
    let list = accepted.expect(202);
    assert_eq!(list["object"], "list");
    assert_eq!(list["total"], 2);
    let request_id = accepted.header("x-request-id").unwrap();
    for event in list["data"].as_array().unwrap() {
        assert_eq!(event["group_id"], request_id);
        assert_eq!(event["send_outs"], 1);
    }
    assert_eq!(list["data"][1]["type"], "voucher.gift.balance_added");

    let received = receiver.wait_for(2, DELIVERY).await;
    for delivery in &received {
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(body["event"]["group_id"], request_id);
        assert_eq!(
            body["event"]["event_source"],
            json!({"channel": "API", "api_key": {"name": "Server-side key", "app_id": app.project.app_id}})
        );
        assert!(body["event"]["created_at"].as_str().unwrap().ends_with('Z'));
    }

    // A bare array is a batch too.
    let array = json!([{"type": "campaign.created", "data": {}}]);
    let accepted = app.ingest(&array).await;
    assert_eq!(accepted.expect(202)["total"], 1);
}

/// docs/API.md: a group id is `v-` and 1–64 ASCII letters, digits, `_` or `-`, the forms of
/// Voucherify and of sendout; anything else is refused, naming the field and the form.
#[tokio::test]
async fn a_group_id_is_taken_in_the_documented_form_and_refused_otherwise() {
    let app = TestApp::spawn().await;
    let ulid_like = "v-01hzx3r8k2m4n6p8q0s2t4v6w8";
    let longest = format!("v-{}", "a".repeat(64));
    for taken in [
        "v-1f36113948e50fc4ge",
        ulid_like,
        "v-Group_1-a",
        longest.as_str(),
    ] {
        let event = json!({"type": "voucher.created", "data": {}, "group_id": taken});
        let accepted = app.ingest(&event).await;
        assert_eq!(accepted.expect(202)["group_id"], taken, "{taken}");
    }
    let too_long = format!("v-{}", "a".repeat(65));
    for refused in [
        "",
        "v-",
        "g-1f36113948e50fc4ge",
        "v-has space",
        "v-ą",
        too_long.as_str(),
    ] {
        let event = json!({"type": "voucher.created", "data": {}, "group_id": refused});
        let answer = app.ingest(&event).await;
        let body = answer.expect_error(400, "invalid_payload");
        let details = body["details"].as_str().unwrap();
        assert!(details.contains("group_id"), "{refused}: {details}");
        assert!(details.contains("1 to 64"), "{refused}: {details}");
    }
}

#[tokio::test]
async fn a_rotated_secret_keeps_signing_during_the_grace_period() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": receiver.url("/h"), "events": ["*"]}))
        .await;
    let old = app.project.webhook_token.clone();

    let rotated = app
        .management(
            Method::POST,
            &format!(
                "/management/v1/projects/{}/webhook-token/rotate",
                app.project.id
            ),
            None,
        )
        .await;
    let rotated = rotated.expect(200);
    let new = rotated["webhook_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_webhook_token_expires_at"]
        .as_str()
        .is_some());

    app.ingest(&json!({"type": "voucher.created", "data": {}}))
        .await
        .expect(202);
    let received = receiver.wait_for(1, DELIVERY).await.remove(0);
    assert_signed_with(&received, &new);
    assert_signed_with(&received, &old);
    assert!(verify_voucherify(
        &new,
        &received.body,
        received.header("x-voucherify-signature").unwrap()
    ));
    assert!(verify_voucherify(
        &old,
        &received.body,
        received.header("x-voucherify-signature-previous").unwrap()
    ));
}

#[tokio::test]
async fn the_catalog_lists_event_types_by_channel_with_examples() {
    let app = TestApp::spawn().await;
    let all = app.project_api(Method::GET, "/v1/event-types", None).await;
    let all = all.expect(200);
    assert_eq!(all["object"], "list");
    assert!(all["total"].as_u64().unwrap() >= 88);

    let webhooks = app
        .project_api(
            Method::GET,
            "/v1/event-types?channel=project_settings",
            None,
        )
        .await;
    let webhooks = webhooks.expect(200);
    assert_eq!(webhooks["total"], 63);
    assert!(webhooks["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["channels"]
            .as_array()
            .unwrap()
            .contains(&json!("project_settings"))));

    let one = app
        .project_api(Method::GET, "/v1/event-types/voucher.published", None)
        .await;
    let one = one.expect(200);
    assert_eq!(one["name"], "voucher.published");
    assert!(one["example"].is_object());
    assert!(!one["paths"].as_array().unwrap().is_empty());

    app.project_api(Method::GET, "/v1/event-types/voucher.nope", None)
        .await
        .expect_error(404, "not_found");
    app.project_api(Method::GET, "/v1/event-types?channel=email", None)
        .await
        .expect_error(400, "invalid_query_params");
}
