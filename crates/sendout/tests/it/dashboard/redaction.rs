//! Header redaction on the dashboard (issue 16 item 7), over plain HTTP: the audit log's list
//! and Show data show every custom header value as `[redacted]`, whatever its name, unless the
//! webhook (or channel) marks the header public in its form; the forms keep and check the
//! marking.

use reqwest::Method;
use serde_json::json;

use crate::api::redaction::{secret_of, UNLIKELY_NAMES};
use crate::dashboard::person::{settings_path, Person};
use crate::helpers::app::TestApp;

#[tokio::test]
async fn the_audit_pages_redact_every_value_unless_the_webhook_form_marked_its_header_public() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let token = person.get(&settings_path(&app)).await.csrf();
    let base = format!("/dashboard/projects/{}", app.project.id);
    let secrets: Vec<String> = UNLIKELY_NAMES.iter().map(|n| secret_of(n)).collect();
    let mut form = vec![
        ("csrf", token.as_str()),
        ("target_url", "http://127.0.0.1:9/hook"),
        ("all_events", "on"),
        ("active", "on"),
        ("public_headers", "X-Tenant"),
        ("header_name", "x-tenant"),
        ("header_value", "acme"),
    ];
    for (name, secret) in UNLIKELY_NAMES.iter().zip(&secrets) {
        form.extend([("header_name", *name), ("header_value", secret.as_str())]);
    }
    let saved = person.post(&format!("{base}/webhooks"), &form).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let listed = app
        .management(Method::GET, &app.webhooks_path(), None)
        .await;
    let webhook = listed.expect(200)["data"][0].clone();
    assert_eq!(webhook["public_headers"], json!(["x-tenant"]));
    let edit = person
        .get(&format!(
            "{base}/webhooks/{}/edit",
            webhook["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        edit.body
            .contains("name=\"public_headers\" value=\"x-tenant\""),
        "the edit form shows the marking: {}",
        edit.body
    );

    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let id = app.send_outs("").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = person.get(&format!("{base}/audit-log")).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&id));
    let data = person.get(&format!("{base}/audit-log/{id}")).await;
    assert_eq!(data.status, 200);
    for (page, what) in [(&list, "the list"), (&data, "Show data")] {
        for (name, secret) in UNLIKELY_NAMES.iter().zip(&secrets) {
            assert!(!page.body.contains(secret), "{what} shows {name}");
        }
    }
    assert_eq!(
        data.body.matches("[redacted]").count(),
        UNLIKELY_NAMES.len(),
        "each of the nine: {}",
        data.body
    );
    assert!(data.body.contains("acme"), "the public header is shown");

    let path = app.webhook_path(&webhook);
    app.management(Method::DELETE, &path, None)
        .await
        .expect(204);
    let gone = person.get(&format!("{base}/audit-log/{id}")).await;
    assert!(
        !gone.body.contains("acme"),
        "a deleted webhook's values are all secrets"
    );
    assert_eq!(
        gone.body.matches("[redacted]").count(),
        UNLIKELY_NAMES.len() + 1
    );
}

#[tokio::test]
async fn a_public_header_that_is_not_a_header_is_refused_at_its_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let token = person.get(&settings_path(&app)).await.csrf();
    let page = person
        .post(
            &format!("/dashboard/projects/{}/webhooks", app.project.id),
            &[
                ("csrf", &token),
                ("target_url", "https://example.com/hook"),
                ("all_events", "on"),
                ("header_name", "x-key"),
                ("header_value", "k"),
                ("public_headers", "x-tenant"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("id=\"public-headers-error\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("not one of the custom headers"));
    assert!(
        page.body.contains("value=\"x-tenant\""),
        "what was typed is kept"
    );
    assert_eq!(app.webhook_total().await, 0);
}

#[tokio::test]
async fn the_distribution_form_marks_a_channels_headers_public() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let base = format!("/dashboard/projects/{}/distributions", app.project.id);
    let token = person.get(&format!("{base}/new")).await.csrf();
    let fields = |public: &'static str| {
        vec![
            ("name", "Paid to CRM"),
            ("trigger", "customer.order.paid"),
            ("action", "SEND_PLAIN_MESSAGE"),
            ("live", "on"),
            ("ch0.event_name", "Order-paid"),
            ("ch0.url", "https://crm.example/hooks"),
            ("ch0.header_name", "x-tenant"),
            ("ch0.header_value", "acme"),
            ("ch0.header_name", "x-pwd"),
            ("ch0.header_value", "hunter2"),
            ("ch0.public_headers", public),
            ("ch0.mode", "full"),
        ]
    };
    let mut wrong = fields("x-other");
    wrong.push(("csrf", &token));
    let page = person.post(&base, &wrong).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("not one of the custom headers"),
        "{}",
        page.body
    );
    let none = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(none.expect(200)["total"], 0);

    let mut right = fields("X-Tenant");
    right.push(("csrf", &token));
    assert_eq!(person.post(&base, &right).await.status, 303);
    let list = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    let created = list.expect(200)["data"][0].clone();
    assert_eq!(
        created["channels"][0]["public_headers"],
        json!(["x-tenant"])
    );
    let edit = person
        .get(&format!("{base}/{}/edit", created["id"].as_str().unwrap()))
        .await;
    assert!(
        edit.body
            .contains("name=\"ch0.public_headers\" value=\"x-tenant\""),
        "{}",
        edit.body
    );
}
