//! Keeping distributions: the resource shape, create/read/list/replace/delete, pause and set
//! live, the rules' errors (400 for malformed, 422 for what the catalog does not allow),
//! another project's ids and the key.

use reqwest::Method;
use sendout_core::catalog::{catalog, Channel, Purpose};
use serde_json::{json, Value};

use crate::distributions::{channel, create, distribution, id, post, simple, ORDER_CONFIRMATION};
use crate::helpers::app::TestApp;

fn order_paid_to_crm() -> Value {
    json!({
        "name": "Order paid to CRM",
        "trigger": {"event": "customer.order.paid", "condition": {"campaign_id": "camp_autumn"}},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [{
            "type": "webhook", "event_name": "Order-paid", "url": "https://crm.example/hooks",
            "headers": {"X-Crm-Key": "abc"},
            "payload": {"mode": "custom", "raw": false, "template": ORDER_CONFIRMATION},
        }],
    })
}

#[tokio::test]
async fn a_distribution_is_created_in_the_documented_shape_and_read_back() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let created = create(&app, &order_paid_to_crm()).await;
    assert!(created["id"].as_str().unwrap().starts_with("distr_"));
    assert_eq!(created["object"], "distribution");
    assert_eq!(created["name"], "Order paid to CRM");
    assert_eq!(
        created["trigger"],
        json!({"event": "customer.order.paid", "condition": {"campaign_id": "camp_autumn"}})
    );
    assert_eq!(created["action"], "SEND_PLAIN_MESSAGE");
    assert_eq!(created["status"], "LIVE", "live unless told otherwise");
    assert_eq!(created["paused_reason"], Value::Null);
    let channel = &created["channels"][0];
    assert_eq!(channel["type"], "webhook");
    assert_eq!(channel["event_name"], "Order-paid");
    assert_eq!(channel["url"], "https://crm.example/hooks");
    assert_eq!(channel["headers"], json!({"x-crm-key": "abc"}));
    assert_eq!(
        channel["payload"],
        json!({"mode": "custom", "template": ORDER_CONFIRMATION, "raw": false})
    );
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let path = format!("/v1/distributions/{}", id(&created));
    let read = app.project_api(Method::GET, &path, None).await;
    assert_eq!(read.expect(200), &created);
    let list = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    let list = list.expect(200);
    assert_eq!(
        (&list["object"], &list["data_ref"], &list["total"]),
        (&json!("list"), &json!("data"), &json!(1))
    );
    assert_eq!(list["data"][0], created);
}

#[tokio::test]
async fn put_replaces_the_configuration_keeps_the_status_and_takes_back_what_was_read() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let mut body = order_paid_to_crm();
    body["status"] = json!("DRAFT");
    let created = create(&app, &body).await;
    assert_eq!(created["status"], "DRAFT");
    let path = format!("/v1/distributions/{}", id(&created));

    let mut read_back = created.clone();
    read_back["name"] = json!("Renamed");
    read_back.as_object_mut().unwrap().remove("status");
    let replaced = app.project_api(Method::PUT, &path, Some(&read_back)).await;
    let replaced = replaced.expect(200);
    assert_eq!(replaced["name"], "Renamed");
    assert_eq!(replaced["status"], "DRAFT");
    assert_eq!(replaced["channels"], created["channels"]);

    let mut live = order_paid_to_crm();
    live["status"] = json!("LIVE");
    live["channels"][0]["payload"] = json!({"mode": "full", "raw": true});
    let replaced = app.project_api(Method::PUT, &path, Some(&live)).await;
    let replaced = replaced.expect(200);
    assert_eq!(replaced["status"], "LIVE");
    assert_eq!(
        replaced["channels"][0]["payload"],
        json!({"mode": "full", "raw": true})
    );

    let mut bad = order_paid_to_crm();
    bad["status"] = json!("RUNNING");
    let refused = app.project_api(Method::PUT, &path, Some(&bad)).await;
    refused.expect_error(400, "invalid_payload");
    let unchanged = app.project_api(Method::GET, &path, None).await;
    assert_eq!(unchanged.expect(200), replaced);
}

#[tokio::test]
async fn pause_and_live_set_the_status_and_delete_removes_it() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let created = create(&app, &order_paid_to_crm()).await;
    let path = format!("/v1/distributions/{}", id(&created));

    let paused = app
        .project_api(Method::POST, &format!("{path}/pause"), None)
        .await;
    let paused = paused.expect(200).clone();
    assert_eq!(paused["status"], "PAUSED");
    assert_eq!(paused["paused_reason"], Value::Null, "a person paused it");
    assert!(paused["paused_at"].is_string());
    let again = app
        .project_api(Method::POST, &format!("{path}/pause"), None)
        .await;
    assert_eq!(again.expect(200)["paused_at"], paused["paused_at"]);

    let live = app
        .project_api(Method::POST, &format!("{path}/live"), None)
        .await;
    let live = live.expect(200);
    assert_eq!(live["status"], "LIVE");
    assert_eq!(live["paused_at"], Value::Null);

    app.project_api(Method::DELETE, &path, None)
        .await
        .expect(204);
    let gone = app.project_api(Method::GET, &path, None).await;
    gone.expect_error(404, "not_found");
    let again = app.project_api(Method::DELETE, &path, None).await;
    again.expect_error(404, "not_found");
}

#[tokio::test]
async fn another_projects_distributions_and_malformed_ids_are_not_found() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let other = app.create_project("Other").await;
    let theirs = app
        .project_api_as(
            &other,
            Method::POST,
            "/v1/distributions",
            Some(&order_paid_to_crm()),
        )
        .await;
    let path = format!("/v1/distributions/{}", id(theirs.expect(200)));
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::PUT, "", Some(order_paid_to_crm())),
        (Method::DELETE, "", None),
        (Method::POST, "/pause", None),
        (Method::POST, "/live", None),
    ] {
        let response = app
            .project_api(method.clone(), &format!("{path}{suffix}"), body.as_ref())
            .await;
        response.expect_error(404, "not_found");
    }
    for malformed in ["distr_nope", "wh_01hzx3r8k2m4n6p8q0s2t4v6w8"] {
        let response = app
            .project_api(Method::GET, &format!("/v1/distributions/{malformed}"), None)
            .await;
        response.expect_error(404, "not_found");
    }
    let ours = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(ours.expect(200)["total"], 0);
    let still = app.project_api_as(&other, Method::GET, &path, None).await;
    assert_eq!(still.expect(200)["status"], "LIVE");
}

#[tokio::test]
async fn distributions_need_the_projects_key() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    for (method, path) in [
        (Method::GET, "/v1/distributions"),
        (Method::POST, "/v1/distributions"),
        (Method::POST, "/v1/distributions/preview"),
    ] {
        let management = app
            .management(method, path, Some(&order_paid_to_crm()))
            .await;
        management.expect_error(401, "unauthorized");
    }
}

#[tokio::test]
async fn every_trigger_takes_exactly_the_actions_of_the_seed_matrix() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let url = "https://crm.example/hooks";
    for trigger in catalog().by_channel(Channel::Distribution) {
        for purpose in Purpose::ALL {
            let body = distribution(
                trigger.name(),
                purpose.as_str(),
                vec![channel("Test-event", url, json!({"mode": "full"}))],
            );
            let response = post(&app, &body).await;
            if trigger.supports(purpose) {
                response.expect(200);
            } else {
                let error = response.expect_error(422, "unsupported_action");
                let details = error["details"].as_str().unwrap();
                for allowed in trigger.purposes() {
                    assert!(details.contains(allowed.as_str()), "{details}");
                }
            }
        }
    }
    let listed = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(listed.expect(200)["total"], 42);
}

#[tokio::test]
async fn semantic_mistakes_are_422_naming_what_is_allowed() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let url = "https://crm.example/hooks";
    let not_a_trigger = simple("customer.order.paid", url);
    let mut not_a_trigger = not_a_trigger.clone();
    not_a_trigger["trigger"]["event"] = json!("voucher.published");
    post(&app, &not_a_trigger)
        .await
        .expect_error(422, "unknown_trigger");

    let mut condition = simple("customer.order.paid", url);
    condition["trigger"]["condition"] = json!({"segment_id": "seg_1"});
    let error = post(&app, &condition).await;
    let error = error.expect_error(422, "unsupported_condition");
    let details = error["details"].as_str().unwrap();
    assert!(details.contains("segment_id"), "{details}");
    assert!(details.contains("campaign_id"), "what it takes: {details}");

    let mut unknown_path = simple("customer.segment.entered", url);
    unknown_path["channels"][0]["payload"] =
        json!({"mode": "custom", "template": "{\"when\": \"{{redemption.date}}\"}"});
    let error = post(&app, &unknown_path).await;
    let details = error.expect_error(422, "unknown_template_path")["details"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(details.contains("`redemption.date`"), "{details}");
    assert!(
        details.contains("`segment`"),
        "what the trigger offers: {details}"
    );

    let mut syntax = simple("customer.order.paid", url);
    syntax["channels"][0]["payload"] =
        json!({"mode": "custom", "template": "{\n  \"total\": {{order.total_amount}\n}"});
    let error = post(&app, &syntax).await;
    let details = error.expect_error(422, "invalid_template")["details"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(details.contains("line 2, column"), "{details}");

    let total = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(total.expect(200)["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn a_key_the_action_does_not_get_is_422_naming_the_key_and_the_action_and_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let url = "https://crm.example/hooks";
    let template = json!({"mode": "custom",
        "template": "{\"code\": \"{{voucher.code}}\", \"order\": \"{{order.id}}\"}"});
    let plain = distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        vec![channel("Order-paid", url, template.clone())],
    );
    let error = post(&app, &plain).await;
    let body = error.expect_error(422, "key_not_for_action");
    let details = body["details"].as_str().unwrap().to_owned();
    assert!(
        details.starts_with("channels[0].payload.template: `voucher.code`"),
        "{details}"
    );
    assert!(
        details.contains("SEND_PLAIN_MESSAGE"),
        "the action: {details}"
    );
    assert!(
        details.contains("SEND_AND_PUBLISH_CODES"),
        "where the key comes: {details}"
    );
    assert!(!details.contains("order.id"), "{details}");
    let listed = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(listed.expect(200)["total"], 0, "nothing was stored");

    // A distribution that publishes codes gets the voucher; replacing its action with one that
    // does not is refused the same way, and the stored distribution stays as it was.
    let mut codes = plain.clone();
    codes["action"] = json!("SEND_AND_PUBLISH_CODES");
    let made = create(&app, &codes).await;
    let path = format!("/v1/distributions/{}", id(&made));
    let replaced = app.project_api(Method::PUT, &path, Some(&plain)).await;
    replaced.expect_error(422, "key_not_for_action");
    let now = app.project_api(Method::GET, &path, None).await;
    assert_eq!(now.expect(200)["action"], "SEND_AND_PUBLISH_CODES");

    // An attribute is checked as a template is: a promotion tier comes with promotions only.
    let mut tier = distribution(
        "customer.segment.entered",
        "SEND_AND_PUBLISH_CODES",
        vec![channel(
            "Segment",
            url,
            json!({"mode": "attributes", "attributes": [{"path": "promotion_tier.name"}]}),
        )],
    );
    let error = post(&app, &tier).await;
    let details = error.expect_error(422, "key_not_for_action")["details"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        details.starts_with("channels[0].payload.attributes: `promotion_tier.name`"),
        "{details}"
    );
    assert!(details.contains("NOTIFY_ABOUT_PROMOTION"), "{details}");
    tier["action"] = json!("NOTIFY_ABOUT_PROMOTION");
    create(&app, &tier).await;

    // The preview checks the same when told the action, and shows the example as that action
    // gets it.
    let preview = |action: &str| {
        json!({"trigger": {"event": "customer.order.paid"}, "action": action,
               "channel": {"event_name": "Order-paid", "url": url, "payload": template}})
    };
    let refused = app
        .project_api(
            Method::POST,
            "/v1/distributions/preview",
            Some(&preview("SEND_PLAIN_MESSAGE")),
        )
        .await;
    refused.expect_error(422, "key_not_for_action");
    let example_as = |action: &'static str| {
        let app = &app;
        async move {
            let body = json!({"trigger": {"event": "manual_distribution_schedule"},
                "action": action,
                "channel": {"event_name": "Manual", "url": url, "payload": {"mode": "full"}}});
            let answer = app
                .project_api(Method::POST, "/v1/distributions/preview", Some(&body))
                .await;
            let sent: Value =
                serde_json::from_str(answer.expect(200)["body"].as_str().unwrap()).unwrap();
            sent["data"].clone()
        }
    };
    let promotion = example_as("NOTIFY_ABOUT_PROMOTION").await;
    assert!(promotion.get("campaign").is_some(), "{promotion}");
    assert!(promotion.get("distribution").is_some(), "{promotion}");
    for key in ["voucher", "publication"] {
        assert!(promotion.get(key).is_none(), "{key}: {promotion}");
    }
    let codes = example_as("SEND_AND_PUBLISH_CODES").await;
    for key in ["campaign", "voucher", "publication"] {
        assert!(codes.get(key).is_some(), "{key}: {codes}");
    }
    let listed = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(listed.expect(200)["total"], 2);
}

#[tokio::test]
async fn malformed_values_are_400_naming_the_field() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let base = simple("customer.order.paid", "https://crm.example/hooks");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/channels/0/url",
            json!("ftp://crm.example"),
            "channels[0].url",
        ),
        (
            "/channels/0/event_name",
            json!("bad\u{7}name"),
            "channels[0].event_name",
        ),
        ("/channels", json!([]), "channels"),
        (
            "/channels/0/payload",
            json!({"mode": "custom"}),
            "channels[0].payload.template",
        ),
        (
            "/channels/0/headers",
            json!({"content-type": "text/plain"}),
            "channels[0].headers",
        ),
        ("/channels/0/colour", json!("blue"), "colour"),
        ("/name", json!(""), "name"),
    ];
    for (pointer, value, named) in cases {
        let mut body = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        target[key] = value;
        let response = post(&app, &body).await;
        let error = response.expect_error(400, "invalid_payload");
        let details = error["details"].as_str().unwrap();
        assert!(details.contains(named), "{pointer}: {details}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_distribution_route() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let document = app.raw(Method::GET, "/openapi.json", &[], None).await;
    let paths = &document.expect(200)["paths"];
    let one = "/v1/distributions/{distributionId}";
    for (path, method) in [
        ("/v1/distributions", "post"),
        ("/v1/distributions", "get"),
        (one, "get"),
        (one, "put"),
        (one, "delete"),
        ("/v1/distributions/{distributionId}/pause", "post"),
        ("/v1/distributions/{distributionId}/live", "post"),
        ("/v1/distributions/preview", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
}
