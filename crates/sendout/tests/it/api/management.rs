//! The management API: projects, webhooks, keys and isolation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::app::{TestApp, MANAGEMENT_ID};

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn creating_a_webhook_answers_200_with_the_voucherify_shape() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "https://example.com/hooks",
            "events": ["voucher.published", "voucher.loyalty_card.points_aded"],
            "active": true
        }))
        .await;

    assert_eq!(
        keys(&webhook),
        [
            "id",
            "object",
            "created_at",
            "target_url",
            "events",
            "active",
            "all_events",
            "headers",
            "public_headers",
            "description",
            "disabled_reason",
            "disabled_at",
            "updated_at"
        ]
    );
    assert!(webhook["id"].as_str().unwrap().starts_with("wh_"));
    assert_eq!(webhook["object"], "webhook");
    assert!(webhook["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(webhook["target_url"], "https://example.com/hooks");
    assert_eq!(
        webhook["events"],
        json!(["voucher.published", "voucher.loyalty_card.points_aded"]),
        "names read in the spelling of Voucherify's management spec"
    );
    assert_eq!(webhook["active"], true);
    assert_eq!(webhook["all_events"], false);
    assert_eq!(webhook["headers"], json!({}));
    assert_eq!(webhook["disabled_reason"], Value::Null);

    let path = format!(
        "{}/{}",
        app.webhooks_path(),
        webhook["id"].as_str().unwrap()
    );
    let read = app.management(Method::GET, &path, None).await;
    assert_eq!(read.expect(200), &webhook);
}

#[tokio::test]
async fn a_webhook_is_active_by_default_and_star_means_every_event() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({"target_url": "http://127.0.0.1:9/x", "events": ["*"]}))
        .await;
    assert_eq!(webhook["active"], true);
    assert_eq!(webhook["all_events"], true);
    let events = webhook["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        60,
        "the management spec's whole list: {events:?}"
    );
    assert!(events.contains(&json!("campaign.vouchers.aded")));
}

#[tokio::test]
async fn listing_webhooks_uses_the_voucherify_list_shape() {
    let app = TestApp::spawn().await;
    let first = app
        .create_webhook(json!({"target_url": "https://a.example/h", "events": ["voucher.created"]}))
        .await;
    let second = app
        .create_webhook(json!({"target_url": "https://b.example/h", "events": ["*"]}))
        .await;

    let list = app
        .management(Method::GET, &app.webhooks_path(), None)
        .await;
    let list = list.expect(200);
    assert_eq!(keys(list), ["object", "data_ref", "data", "total"]);
    assert_eq!(list["object"], "list");
    assert_eq!(list["data_ref"], "data");
    assert_eq!(list["total"], 2);
    let ids: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["id"])
        .collect();
    assert!(ids.contains(&&first["id"]) && ids.contains(&&second["id"]));
}

#[tokio::test]
async fn put_replaces_events_and_keeps_what_it_does_not_mention() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "https://example.com/hooks",
            "events": ["voucher.published", "voucher.created"],
            "active": false,
            "headers": {"X-Tenant": "acme"},
            "description": "CRM"
        }))
        .await;
    assert_eq!(webhook["headers"], json!({"x-tenant": "acme"}));
    let path = format!(
        "{}/{}",
        app.webhooks_path(),
        webhook["id"].as_str().unwrap()
    );

    let updated = app
        .management(
            Method::PUT,
            &path,
            Some(&json!({"target_url": "https://example.com/v2", "events": ["redemption.succeeded"]})),
        )
        .await;
    let updated = updated.expect(200);
    assert_eq!(updated["events"], json!(["redemption.succeeded"]));
    assert_eq!(updated["target_url"], "https://example.com/v2");
    assert_eq!(updated["active"], false, "absent `active` keeps the state");
    assert_eq!(updated["headers"], json!({"x-tenant": "acme"}));
    assert_eq!(updated["description"], "CRM");
    assert_eq!(updated["id"], webhook["id"]);
    assert_eq!(updated["created_at"], webhook["created_at"]);

    // A client may PUT back what it read, read-only fields included.
    let mut round_trip = updated.clone();
    round_trip["active"] = json!(true);
    round_trip["headers"] = json!({});
    let again = app.management(Method::PUT, &path, Some(&round_trip)).await;
    let again = again.expect(200);
    assert_eq!(again["active"], true);
    assert_eq!(again["headers"], json!({}));

    // Anything else unknown is refused, naming it.
    let typo = json!({"target_url": "https://example.com/v2", "events": ["*"], "evnts": []});
    let refused = app.management(Method::PUT, &path, Some(&typo)).await;
    let body = refused.expect_error(400, "invalid_payload");
    assert!(
        body["details"].as_str().unwrap().contains("evnts"),
        "{body}"
    );
}

#[tokio::test]
async fn deleting_a_webhook_answers_204_and_then_it_is_gone() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({"target_url": "https://example.com/h", "events": ["*"]}))
        .await;
    let path = format!(
        "{}/{}",
        app.webhooks_path(),
        webhook["id"].as_str().unwrap()
    );

    let deleted = app.management(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    let body = app.management(Method::GET, &path, None).await;
    let body = body.expect_error(404, "not_found");
    assert_eq!(body["resource_type"], "webhook");
    app.management(Method::DELETE, &path, None)
        .await
        .expect_error(404, "not_found");
    assert_eq!(app.webhook_total().await, 0);
}

#[tokio::test]
async fn creating_a_project_shows_its_app_token_once() {
    let app = TestApp::spawn().await;
    // Voucherify's own create body, with fields sendout has no use for.
    let body = json!({
        "name": "Shop",
        "description": "EU shop",
        "timezone": "Europe/Warsaw",
        "currency": "EUR",
        "case_sensitive_codes": true,
        "cluster_id": "eu1",
        "users": [{"login": "a@example.com", "role": "ADMIN"}],
        "webhook_version": "v2024-01-01"
    });
    let created = app
        .management(Method::POST, "/management/v1/projects", Some(&body))
        .await;
    let created = created.expect(200).clone();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("proj_"));
    assert_eq!(created["name"], "Shop");
    assert_eq!(created["timezone"], "Europe/Warsaw");
    assert_eq!(created["webhook_version"], "v2024-01-01");
    assert!(created["webhook_token"].as_str().unwrap().len() >= 32);
    let app_id = created["server_side_key"]["app_id"].as_str().unwrap();
    let app_token = created["server_side_key"]["app_token"].as_str().unwrap();
    assert!(app_token.len() >= 32);

    let read = app
        .management(Method::GET, &format!("/management/v1/projects/{id}"), None)
        .await;
    let read = read.expect(200);
    assert_eq!(read["server_side_key"], json!({"app_id": app_id}));
    assert_eq!(read["webhook_token"], created["webhook_token"]);
    let list = app
        .management(Method::GET, "/management/v1/projects", None)
        .await;
    assert!(
        !list.text.contains(app_token),
        "the app token is never shown again"
    );
    assert_eq!(list.json["object"], "list");
    assert_eq!(list.json["total"], 2, "the default project and this one");

    let keys = [("x-app-id", app_id), ("x-app-token", app_token)];
    let catalog = app.send(Method::GET, "/v1/event-types", &keys, None).await;
    catalog.expect(200);
}

#[tokio::test]
async fn updating_a_project_changes_only_the_fields_given_and_deleting_revokes_its_key() {
    let app = TestApp::spawn().await;
    let other = app.create_project("Other").await;
    let path = format!("/management/v1/projects/{}", other.id);

    let updated = app
        .management(
            Method::PUT,
            &path,
            Some(&json!({"description": "renamed", "currency": "PLN"})),
        )
        .await;
    let updated = updated.expect(200);
    assert_eq!(updated["name"], "Other");
    assert_eq!(updated["description"], "renamed");

    app.management(
        Method::PUT,
        &path,
        Some(&json!({"webhook_version": "v2018-08-01"})),
    )
    .await
    .expect_error(400, "invalid_payload");
    // A time zone is one the IANA database names; an unknown one changes nothing.
    let before = app.management(Method::GET, &path, None).await.json["timezone"].clone();
    assert!(before.is_string(), "{before}");
    let unknown = app
        .management(
            Method::PUT,
            &path,
            Some(&json!({"timezone": "Mars/Olympus"})),
        )
        .await;
    let unknown = unknown.expect_error(400, "invalid_payload");
    assert!(unknown.to_string().contains("timezone"), "{unknown}");
    let kept = app.management(Method::GET, &path, None).await;
    assert_eq!(kept.expect(200)["timezone"], before);

    // Used once, so this process remembers the key's project (`app_key_cache`): deleting
    // must make it forget it at once.
    app.project_api_as(&other, Method::GET, "/v1/event-types", None)
        .await
        .expect(200);
    let deleted = app.management(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    app.management(Method::GET, &path, None)
        .await
        .expect_error(404, "not_found");
    app.project_api_as(&other, Method::GET, "/v1/event-types", None)
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn missing_wrong_or_misplaced_keys_get_401() {
    let app = TestApp::spawn().await;
    let projects = "/management/v1/projects";

    app.send(Method::GET, projects, &[], None)
        .await
        .expect_error(401, "unauthorized");
    let wrong = [
        ("x-management-id", MANAGEMENT_ID),
        ("x-management-token", "nope"),
    ];
    app.send(Method::GET, projects, &wrong, None)
        .await
        .expect_error(401, "unauthorized");
    let unknown = [
        ("x-management-id", "M-unknown"),
        ("x-management-token", "nope"),
    ];
    app.send(Method::GET, projects, &unknown, None)
        .await
        .expect_error(401, "unauthorized");

    // A project key opens no management route, and the management key no project route.
    let app_key = [
        ("x-app-id", app.project.app_id.as_str()),
        ("x-app-token", app.project.app_token.as_str()),
    ];
    app.send(Method::GET, projects, &app_key, None)
        .await
        .expect_error(401, "unauthorized");
    app.send(
        Method::GET,
        "/v1/webhook-sendouts",
        &TestApp::management_key(),
        None,
    )
    .await
    .expect_error(401, "unauthorized");

    let wrong_app = [
        ("x-app-id", app.project.app_id.as_str()),
        ("x-app-token", "nope"),
    ];
    let refused = app
        .send(Method::GET, "/v1/webhook-sendouts", &wrong_app, None)
        .await;
    refused.expect_error(401, "unauthorized");
    assert!(!refused.text.contains("nope"));
}

#[tokio::test]
async fn another_projects_ids_and_malformed_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let other = app.create_project("Other").await;
    let theirs = app
        .management(
            Method::POST,
            &format!("/management/v1/projects/{}/webhooks", other.id),
            Some(&json!({"target_url": "http://127.0.0.1:9/x", "events": ["*"], "active": false})),
        )
        .await
        .expect(200)
        .clone();
    let their_webhook = theirs["id"].as_str().unwrap();

    let mine = format!("{}/{their_webhook}", app.webhooks_path());
    app.management(Method::GET, &mine, None)
        .await
        .expect_error(404, "not_found");
    let put = json!({"target_url": "http://127.0.0.1:9/y", "events": ["*"]});
    app.management(Method::PUT, &mine, Some(&put))
        .await
        .expect_error(404, "not_found");
    app.management(Method::DELETE, &mine, None)
        .await
        .expect_error(404, "not_found");
    for malformed in ["nope", "wh_", "proj_01", "wh_ZZZZ"] {
        app.management(
            Method::GET,
            &format!("{}/{malformed}", app.webhooks_path()),
            None,
        )
        .await
        .expect_error(404, "not_found");
        app.management(
            Method::GET,
            &format!("/management/v1/projects/{malformed}"),
            None,
        )
        .await
        .expect_error(404, "not_found");
    }

    // A send out of the other project, read and retried with this project's key.
    let sent = app
        .project_api_as(
            &other,
            Method::POST,
            "/v1/webhook-sendouts/retry",
            Some(&json!({"source_id": their_webhook})),
        )
        .await;
    sent.expect(200);
    let bodies = app
        .project_api_as(&other, Method::GET, "/v1/webhook-sendouts", None)
        .await;
    assert_eq!(bodies.json["total"], 0);
    let test = app
        .management(
            Method::POST,
            &format!(
                "/management/v1/projects/{}/webhooks/{their_webhook}/test",
                other.id
            ),
            None,
        )
        .await;
    let their_send_out = test.expect(200)["send_out_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhook-sendouts/{their_send_out}");
    app.project_api(Method::GET, &path, None)
        .await
        .expect_error(404, "not_found");
    app.project_api(Method::POST, &format!("{path}/retry"), None)
        .await
        .expect_error(404, "not_found");
    app.project_api(
        Method::POST,
        "/v1/webhook-sendouts/retry",
        Some(&json!({"source_id": their_webhook})),
    )
    .await
    .expect_error(404, "not_found");
    app.project_api_as(&other, Method::GET, &path, None)
        .await
        .expect(200);
}

/// Voucherify's `webhooks_callout_notifications`: taken on create and update in the
/// Management API's shape, returned by reads, parts left out keep their values, and bad
/// addresses are refused naming the field, changing nothing.
#[tokio::test]
async fn a_projects_callout_notifications_are_kept_in_voucherifys_shape_and_checked() {
    let app = TestApp::spawn().await;
    let fresh = app
        .management(
            Method::POST,
            "/management/v1/projects",
            Some(&json!({"name": "Plain"})),
        )
        .await;
    let default = json!({"email": false, "emails": [], "in_app": true});
    assert_eq!(
        fresh.expect(200)["webhooks_callout_notifications"],
        json!({"webhooks": default, "distributions": default})
    );

    // Voucherify's own example body.
    let asked = json!({
        "webhooks": {"email": true, "emails": ["your.email@your.domain"], "in_app": true},
        "distributions": {"email": true, "emails": ["ops@example.com", "crm@example.com"], "in_app": false}
    });
    let created = app
        .management(
            Method::POST,
            "/management/v1/projects",
            Some(&json!({"name": "Told", "webhooks_callout_notifications": asked})),
        )
        .await;
    let created = created.expect(200).clone();
    assert_eq!(created["webhooks_callout_notifications"], asked);
    let path = format!(
        "/management/v1/projects/{}",
        created["id"].as_str().unwrap()
    );
    let read = app.management(Method::GET, &path, None).await;
    assert_eq!(read.expect(200)["webhooks_callout_notifications"], asked);

    // A part, and a field of it, left out keep their values.
    let change = json!({"webhooks_callout_notifications": {"webhooks": {"in_app": false}}});
    let updated = app.management(Method::PUT, &path, Some(&change)).await;
    let notifications = updated.expect(200)["webhooks_callout_notifications"].clone();
    assert_eq!(
        notifications["webhooks"],
        json!({"email": true, "emails": ["your.email@your.domain"], "in_app": false})
    );
    assert_eq!(notifications["distributions"], asked["distributions"]);

    let eleven: Vec<String> = (0..11).map(|i| format!("ops{i}@example.com")).collect();
    for (bad, field) in [
        (
            json!({"webhooks": {"emails": ["not-an-address"]}}),
            "webhooks_callout_notifications.webhooks.emails[0]",
        ),
        (
            json!({"distributions": {"emails": eleven}}),
            "webhooks_callout_notifications.distributions.emails",
        ),
        (
            json!({"webhooks": {"emails": ["a@example.com", "A@example.com"]}}),
            "webhooks_callout_notifications.webhooks.emails[1]",
        ),
        (
            json!({"distributions": {"email": true, "emails": []}}),
            "webhooks_callout_notifications.distributions.emails",
        ),
    ] {
        let answer = app
            .management(
                Method::PUT,
                &path,
                Some(&json!({"name": "Renamed", "webhooks_callout_notifications": bad})),
            )
            .await;
        let body = answer.expect_error(400, "invalid_payload");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    for unknown in [
        json!({"webhook": {}}),
        json!({"webhooks": {"email": "yes"}}),
        json!({"webhooks": {"sms": true}}),
    ] {
        let answer = app
            .management(
                Method::PUT,
                &path,
                Some(&json!({"webhooks_callout_notifications": unknown})),
            )
            .await;
        answer.expect_error(400, "invalid_payload");
    }
    let kept = app.management(Method::GET, &path, None).await;
    let kept = kept.expect(200);
    assert_eq!(kept["name"], "Told", "a refused update changes nothing");
    assert_eq!(kept["webhooks_callout_notifications"], notifications);
}
