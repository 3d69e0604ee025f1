//! Header redaction in the audit log (issue 16 item 7): every custom header value of a send
//! out is a secret, shown as `[redacted]` in the list and the detail, whatever its name, unless
//! its target (webhook or distribution channel) lists the header in `public_headers` — read
//! from the target as it is now, so a deleted target's send outs show every value redacted.
//! And `public_headers` itself: optional, returned by reads, checked (400 naming it, nothing
//! changed).

use reqwest::Method;
use serde_json::{json, Value};

use crate::distributions::{channel, create, distribution, emit, id, post};
use crate::helpers::app::TestApp;

/// Header names that do not look like credentials by any list of name parts, yet carry them.
pub const UNLIKELY_NAMES: [&str; 9] = [
    "x-pwd",
    "x-pass",
    "x-session",
    "x-jwt",
    "x-bearer",
    "x-hmac",
    "x-sig",
    "x-cred",
    "x-access",
];

/// The secret a test puts in header `name`.
pub fn secret_of(name: &str) -> String {
    format!("secret-value-of-{name}")
}

/// The nine unlikely names with their secrets, and `x-tenant: acme`.
pub fn headers_with_tenant() -> Value {
    let mut headers: serde_json::Map<String, Value> = UNLIKELY_NAMES
        .iter()
        .map(|n| ((*n).to_owned(), Value::from(secret_of(n))))
        .collect();
    headers.insert("X-Tenant".to_owned(), json!("acme"));
    Value::Object(headers)
}

async fn detail(app: &TestApp, id: &str) -> Value {
    app.project_api(Method::GET, &format!("/v1/webhook-sendouts/{id}"), None)
        .await
        .expect(200)
        .clone()
}

fn first_id(list: &Value) -> String {
    list["data"][0]["id"]
        .as_str()
        .expect("a send out")
        .to_owned()
}

/// No secret of the nine headers anywhere in `text`.
#[track_caller]
fn shows_no_secret(text: &str, what: &str) {
    for name in UNLIKELY_NAMES {
        assert!(
            !text.contains(&secret_of(name)),
            "{what} shows {name}: {text}"
        );
    }
}

#[tokio::test]
async fn every_header_value_is_redacted_whatever_its_name_unless_the_webhook_marks_it_public() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "http://127.0.0.1:9/h", "events": ["*"],
            "headers": headers_with_tenant(), "public_headers": ["X-Tenant"],
        }))
        .await;
    assert_eq!(webhook["public_headers"], json!(["x-tenant"]));
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);

    let list = app.send_outs("").await;
    shows_no_secret(&list.to_string(), "the list");
    let detail = detail(&app, &first_id(&list)).await;
    for name in UNLIKELY_NAMES {
        assert_eq!(detail["headers"][name], "[redacted]", "{name}");
    }
    assert_eq!(detail["headers"]["x-tenant"], "acme", "marked public");
    shows_no_secret(&detail.to_string(), "the detail");
}

#[tokio::test]
async fn a_webhook_that_marks_nothing_shows_no_value_at_all() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "http://127.0.0.1:9/h", "events": ["*"],
            "headers": {"x-tenant": "acme", "authorization": "Bearer s3cret"},
        }))
        .await;
    assert_eq!(webhook["public_headers"], json!([]), "none by default");
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let detail = detail(&app, &first_id(&app.send_outs("").await)).await;
    assert_eq!(
        detail["headers"],
        json!({"authorization": "[redacted]", "x-tenant": "[redacted]"})
    );
}

#[tokio::test]
async fn the_marking_is_the_webhooks_as_it_is_now_and_a_deleted_webhooks_values_are_all_redacted() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "http://127.0.0.1:9/h", "events": ["*"],
            "headers": {"x-tenant": "acme", "x-pwd": "hunter2"},
            "public_headers": ["x-tenant"],
        }))
        .await;
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let id = first_id(&app.send_outs("").await);
    assert_eq!(
        detail(&app, &id).await["headers"],
        json!({"x-pwd": "[redacted]", "x-tenant": "acme"})
    );

    let path = app.webhook_path(&webhook);
    let marked_both = json!({"target_url": "http://127.0.0.1:9/h", "events": ["*"],
                             "public_headers": ["x-tenant", "X-PWD"]});
    let updated = app.management(Method::PUT, &path, Some(&marked_both)).await;
    assert_eq!(
        updated.expect(200)["public_headers"],
        json!(["x-pwd", "x-tenant"])
    );
    assert_eq!(
        detail(&app, &id).await["headers"],
        json!({"x-pwd": "hunter2", "x-tenant": "acme"}),
        "marking applies to send outs made before it"
    );

    app.management(Method::DELETE, &path, None)
        .await
        .expect(204);
    let gone = detail(&app, &id).await;
    assert_eq!(
        gone["headers"],
        json!({"x-pwd": "[redacted]", "x-tenant": "[redacted]"})
    );
    assert!(!gone.to_string().contains("hunter2") && !gone.to_string().contains("acme"));
}

#[tokio::test]
async fn public_headers_are_kept_when_absent_and_lose_headers_that_are_dropped() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(json!({
            "target_url": "http://127.0.0.1:9/h", "events": ["*"],
            "headers": {"x-tenant": "acme", "x-shop": "s1"},
            "public_headers": ["x-tenant", "x-shop"],
        }))
        .await;
    let path = app.webhook_path(&webhook);
    let events_only =
        json!({"target_url": "http://127.0.0.1:9/h", "events": ["voucher.published"]});
    let kept = app.management(Method::PUT, &path, Some(&events_only)).await;
    assert_eq!(
        kept.expect(200)["public_headers"],
        json!(["x-shop", "x-tenant"])
    );
    let fewer = json!({"target_url": "http://127.0.0.1:9/h", "events": ["*"],
                       "headers": {"x-tenant": "acme"}});
    let pruned = app.management(Method::PUT, &path, Some(&fewer)).await;
    assert_eq!(pruned.expect(200)["public_headers"], json!(["x-tenant"]));
    let read = app.management(Method::GET, &path, None).await;
    assert_eq!(read.expect(200)["public_headers"], json!(["x-tenant"]));
    let listed = app
        .management(Method::GET, &app.webhooks_path(), None)
        .await;
    assert_eq!(
        listed.expect(200)["data"][0]["public_headers"],
        json!(["x-tenant"])
    );
}

#[tokio::test]
async fn public_headers_must_name_the_webhooks_own_headers_and_bad_ones_change_nothing() {
    let app = TestApp::spawn().await;
    let many: Vec<String> = (0..21).map(|i| format!("x-h{i}")).collect();
    for (public, reason) in [
        (json!(["x-other"]), "not one of the custom headers"),
        (json!(["x_bad"]), "only letters, digits and dashes"),
        (json!(["host"]), "reserved"),
        (json!(many), "at most 20"),
        (json!("x-tenant"), "public_headers"),
    ] {
        let body = json!({"target_url": "http://127.0.0.1:9/h", "events": ["*"],
                          "headers": {"x-tenant": "acme"}, "public_headers": public});
        let refused = app
            .management(Method::POST, &app.webhooks_path(), Some(&body))
            .await;
        let error = refused.expect_error(400, "invalid_payload");
        let details = error["details"].as_str().unwrap();
        assert!(
            details.contains("public_headers"),
            "names the field: {details}"
        );
        assert!(details.contains(reason), "{public}: {details}");
        assert!(!details.contains("acme"), "never echoes a value: {details}");
    }
    assert_eq!(app.webhook_total().await, 0, "nothing was created");

    let webhook = app
        .create_webhook(
            json!({"target_url": "http://127.0.0.1:9/h", "events": ["*"],
                               "headers": {"x-tenant": "acme"}, "public_headers": ["x-tenant"]}),
        )
        .await;
    let path = app.webhook_path(&webhook);
    // Dropping a header while naming it public is refused, not pruned.
    let contradicting = json!({"target_url": "http://127.0.0.1:9/other", "events": ["*"],
                               "headers": {}, "public_headers": ["x-tenant"]});
    app.management(Method::PUT, &path, Some(&contradicting))
        .await
        .expect_error(400, "invalid_payload");
    let after = app.management(Method::GET, &path, None).await;
    assert_eq!(
        after.expect(200),
        &webhook,
        "the refused update changed nothing"
    );
}

/// A distribution on `customer.order.paid` whose one channel sends the nine secrets and
/// `x-tenant`, marking `public`.
fn order_paid_to(url: &str, public: Value) -> Value {
    let mut channel = channel("Order-paid", url, json!({"mode": "full"}));
    channel["headers"] = headers_with_tenant();
    channel["public_headers"] = public;
    distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", vec![channel])
}

#[tokio::test]
async fn a_channels_header_values_are_redacted_unless_it_marks_them_and_all_once_it_is_deleted() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let created = create(
        &app,
        &order_paid_to("http://127.0.0.1:9/crm", json!(["x-tenant"])),
    )
    .await;
    assert_eq!(
        created["channels"][0]["public_headers"],
        json!(["x-tenant"])
    );
    let data = json!({"order": {"id": "ord_1", "total_amount": 5}});
    assert_eq!(emit(&app, "customer.order.paid", &data).await, 1);

    let list = app.send_outs("").await;
    shows_no_secret(&list.to_string(), "the list");
    let send_out = first_id(&list);
    let shown = detail(&app, &send_out).await;
    assert_eq!(shown["source"]["object"], "distribution");
    for name in UNLIKELY_NAMES {
        assert_eq!(shown["headers"][name], "[redacted]", "{name}");
    }
    assert_eq!(shown["headers"]["x-tenant"], "acme");

    let path = format!("/v1/distributions/{}", id(&created));
    app.project_api(Method::DELETE, &path, None)
        .await
        .expect(204);
    let gone = detail(&app, &send_out).await;
    assert_eq!(gone["headers"]["x-tenant"], "[redacted]");
    shows_no_secret(&gone.to_string(), "a deleted distribution's send out");
}

#[tokio::test]
async fn a_channels_public_headers_must_be_among_its_headers() {
    let app = TestApp::spawn().await;
    let refused = post(
        &app,
        &order_paid_to("http://127.0.0.1:9/crm", json!(["x-other"])),
    )
    .await;
    let error = refused.expect_error(400, "invalid_payload");
    let details = error["details"].as_str().unwrap();
    assert!(
        details.starts_with("channels[0].public_headers") && details.contains("x-other"),
        "{details}"
    );
    let listed = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(listed.expect(200)["total"], 0, "nothing was created");
}

#[tokio::test]
async fn the_openapi_document_describes_public_headers_as_an_optional_list() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let document = app.raw(Method::GET, "/openapi.json", &[], None).await;
    let schemas = &document.expect(200)["components"]["schemas"];
    for schema in ["WebhookView", "WebhookRequest"] {
        let field = &schemas[schema]["properties"]["public_headers"];
        assert!(
            field.to_string().contains("array"),
            "{schema}.public_headers: {field}"
        );
        assert!(
            field["description"]
                .as_str()
                .is_some_and(|d| d.contains("[redacted]")),
            "{schema}.public_headers says what it does: {field}"
        );
    }
    let required = schemas["WebhookRequest"]["required"].to_string();
    assert!(!required.contains("public_headers"), "optional: {required}");
}
