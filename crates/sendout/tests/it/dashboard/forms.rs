//! The dashboard's forms and answers over plain HTTP: CSRF on every form, errors named per
//! field with nothing stored, security headers, HTML error pages beside the API's JSON, secret
//! rotation, bulk retry and whose id a form's test webhook carries.

use reqwest::Method;
use serde_json::{json, Value};

use crate::dashboard::person::{settings_path, Person};
use crate::helpers::app::TestApp;

#[tokio::test]
async fn a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let mut other = Person::new(&app);
    other.sign_in().await;
    let others_token = other.get(&settings_path(&app)).await.csrf();
    let create = format!("/dashboard/projects/{}/webhooks", app.project.id);
    let fields = [
        ("target_url", "https://example.com/hook"),
        ("all_events", "on"),
        ("active", "on"),
    ];
    for token in [None, Some("forged"), Some(others_token.as_str())] {
        let mut form = fields.to_vec();
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let page = person.post(&create, &form).await;
        assert_eq!(page.status, 403, "{token:?}");
        assert!(page.body.contains("reload the page"), "{}", page.body);
    }
    // A body that is not a form has no CSRF field either: the same 403, not a 400.
    for content_type in [None, Some("application/json"), Some("text/plain")] {
        let extra: Vec<(&str, &str)> = content_type
            .map(|t| ("content-type", t))
            .into_iter()
            .collect();
        let page = person.request(Method::POST, &create, None, &extra).await;
        assert_eq!(page.status, 403, "{content_type:?}: {}", page.body);
        assert!(page.body.contains("reload the page"), "{}", page.body);
    }
    assert_eq!(app.webhook_total().await, 0);

    let token = person.get(&settings_path(&app)).await.csrf();
    let mut form = fields.to_vec();
    form.push(("csrf", &token));
    assert_eq!(person.post(&create, &form).await.status, 303);
    assert_eq!(app.webhook_total().await, 1);
}

#[tokio::test]
async fn an_invalid_webhook_form_names_each_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let token = person.get(&settings_path(&app)).await.csrf();
    let create = format!("/dashboard/projects/{}/webhooks", app.project.id);
    let page = person
        .post(
            &create,
            &[
                ("csrf", &token),
                ("target_url", "ftp://example.com"),
                ("events", "voucher.nonsense"),
                ("header_name", "content-length"),
                ("header_value", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("id=\"target_url-error\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Unknown event types: voucher.nonsense"));
    assert!(page.body.contains("id=\"headers-error\""));
    assert!(
        page.body.contains("value=\"ftp://example.com\""),
        "what was typed is kept"
    );
    assert_eq!(app.webhook_total().await, 0);
}

#[tokio::test]
async fn the_edit_forms_test_webhook_carries_the_webhooks_id_and_the_add_forms_wh_test() {
    let app = TestApp::spawn().await;
    let receiver = crate::helpers::receiver::Receiver::start().await;
    let webhook = app
        .create_webhook(
            json!({"target_url": receiver.url("/saved"), "events": ["voucher.created"]}),
        )
        .await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    let mut person = Person::new(&app);
    person.sign_in().await;
    let base = format!("/dashboard/projects/{}/webhooks", app.project.id);
    let edit = person.get(&format!("{base}/{id}/edit")).await;
    assert_eq!(edit.status, 200);
    // What the form holds now is sent (a URL not yet saved), but as this webhook's test.
    let tried = person
        .post(
            &format!("{base}/{id}/test"),
            &[
                ("csrf", &edit.csrf()),
                ("target_url", &receiver.url("/edited")),
                ("events", "voucher.created"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(tried.status, 200, "{}", tried.body);
    assert!(tried.body.contains("delivered"), "{}", tried.body);
    let received = receiver
        .wait_for(1, crate::helpers::DELIVERY)
        .await
        .remove(0);
    assert_eq!(received.path, "/edited");
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(sent["source"]["id"], id.as_str());
    let logged = app.send_outs(&format!("?source_id={id}")).await;
    assert_eq!(logged["total"], 1);
    assert_eq!(logged["data"][0]["id"], sent["id"]);
    assert_eq!(logged["data"][0]["source"]["id"], id.as_str());
    assert_eq!(logged["data"][0]["is_test"], true);

    let add = person.get(&format!("{base}/new")).await;
    let tried = person
        .post(
            &format!("{base}/test"),
            &[
                ("csrf", &add.csrf()),
                ("target_url", &receiver.url("/new")),
                ("events", "voucher.created"),
            ],
        )
        .await;
    assert_eq!(tried.status, 200, "{}", tried.body);
    let received = receiver
        .wait_for(2, crate::helpers::DELIVERY)
        .await
        .remove(1);
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(sent["source"]["id"], "wh_test");
    let logged = app.send_outs("?source_id=wh_test").await;
    assert_eq!(logged["total"], 1);
    assert_eq!(logged["data"][0]["id"], sent["id"]);
}

#[tokio::test]
async fn dashboard_answers_carry_a_request_id_and_keep_out_of_frames_and_caches() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let page = person.get(&settings_path(&app)).await;
    assert!(page.header("x-request-id").starts_with("v-"));
    assert!(page
        .header("content-security-policy")
        .contains("frame-ancestors 'none'"));
    assert!(page
        .header("content-security-policy")
        .contains("script-src 'self'"));
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.header("content-type").starts_with("text/html"));
    let css = person.get("/dashboard/static/dashboard.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
}

#[tokio::test]
async fn unknown_pages_and_objects_answer_a_page_while_the_api_keeps_its_json() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    for path in [
        "/dashboard/nowhere".to_owned(),
        "/dashboard/projects/proj_nope/settings".to_owned(),
        format!("/dashboard/projects/{}/audit-log/whs_nope", app.project.id),
        format!(
            "/dashboard/projects/{}/webhooks/wh_nope/edit",
            app.project.id
        ),
    ] {
        let page = person.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(page.body.contains("Back to the dashboard"), "{path}");
    }
    let api = app
        .management(Method::GET, "/management/v1/nowhere", None)
        .await;
    api.expect_error(404, "route_not_found");
    let root = person.get("/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), "/dashboard");
}

#[tokio::test]
async fn rotating_the_secret_from_the_dashboard_changes_the_projects_secret() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let settings = person.get(&settings_path(&app)).await;
    assert!(
        settings.body.contains(&app.project.webhook_token),
        "revealable on the page"
    );
    assert!(
        settings.body.contains("cannot be shown again"),
        "the app token is not shown"
    );
    assert!(!settings.body.contains(&app.project.app_token));
    let rotate = format!(
        "/dashboard/projects/{}/settings/rotate-secret",
        app.project.id
    );
    assert_eq!(
        person
            .post(&rotate, &[("csrf", &settings.csrf())])
            .await
            .status,
        303
    );
    let project = app
        .management(
            Method::GET,
            &format!("/management/v1/projects/{}", app.project.id),
            None,
        )
        .await;
    let now = project.expect(200)["webhook_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(now, app.project.webhook_token);
    let after = person.get(&settings_path(&app)).await;
    assert!(after.body.contains("The secret key was rotated"));
    assert!(after.body.contains(&now));
}

#[tokio::test]
async fn bulk_retry_in_the_audit_log_makes_a_targets_failed_send_outs_due_again() {
    let app = TestApp::spawn_with(|c| {
        c.retry = sendout_core::retry::RetryPolicy::parse_schedule("none").unwrap();
    })
    .await;
    let receiver = crate::helpers::receiver::Receiver::start().await;
    receiver.set_default(crate::helpers::receiver::Behaviour::always(
        crate::helpers::receiver::Reply::status(500),
    ));
    let webhook = app
        .create_webhook(json!({"target_url": receiver.url("/hook"), "events": ["*"]}))
        .await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    receiver.wait_for(1, crate::helpers::DELIVERY).await;
    // A graceful stop writes the failed attempt before the workers end.
    let app = app.restart(|c| c.workers = false).await;
    assert_eq!(app.send_outs("?status=FAILED").await["total"], 1);

    let mut person = Person::new(&app);
    person.sign_in().await;
    let audit = format!("/dashboard/projects/{}/audit-log", app.project.id);
    let page = person.get(&format!("{audit}?source={id}")).await;
    assert!(page.body.contains("Retry a target's failed send outs"));
    let done = person
        .post(
            &format!("{audit}/retry-failed"),
            &[
                ("csrf", &page.csrf()),
                ("source", &id),
                ("since", "all"),
                ("return_to", &audit),
            ],
        )
        .await;
    assert_eq!(done.header("location"), audit);
    let shown = person.get(&audit).await;
    assert!(
        shown.body.contains("1 failed send outs of"),
        "{}",
        shown.body
    );
    assert_eq!(app.send_outs("?status=FAILED").await["total"], 0);
    assert_eq!(app.send_outs("?status=RETRYING").await["total"], 1);
}

#[tokio::test]
async fn a_distribution_the_trigger_does_not_allow_is_refused_at_its_field_and_not_stored() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let base = format!("/dashboard/projects/{}/distributions", app.project.id);
    let token = person.get(&format!("{base}/new")).await.csrf();
    let fields = [
        ("csrf", token.as_str()),
        ("name", "Rewards"),
        ("trigger", "customer.rewarded"),
        ("action", "NOTIFY_ABOUT_PROMOTION"),
        ("ch0.event_name", "Rewarded"),
        ("ch0.url", "https://crm.example/hooks"),
        ("ch0.mode", "full"),
    ];
    let page = person.post(&base, &fields).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body
            .contains("does not support NOTIFY_ABOUT_PROMOTION"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"Rewarded\""),
        "what was typed is kept"
    );
    let list = app
        .project_api(Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(list.expect(200)["total"], 0);
}

#[tokio::test]
async fn show_output_answers_each_channels_body_or_where_its_error_is() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let base = format!("/dashboard/projects/{}/distributions", app.project.id);
    let token = person.get(&format!("{base}/new")).await.csrf();
    let preview = format!("{base}/preview");
    let mut fields = vec![
        ("csrf", token.as_str()),
        ("trigger", "customer.order.paid"),
        ("ch0.event_name", "Order-paid"),
        ("ch0.url", "https://crm.example/hooks"),
        ("ch0.mode", "custom"),
        ("ch0.raw", "on"),
        ("ch0.template", "{\"total\": {{order.total_amount}}}"),
        ("ch1.event_name", "Order-paid"),
        ("ch1.url", "https://crm.example/other"),
        ("ch1.mode", "custom"),
        ("ch1.template", "{\"x\": \"{{order.nope}}\"}"),
        ("edits", "7"),
    ];
    let answer = person.post(&preview, &fields).await;
    assert_eq!(answer.status, 200);
    let result: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(result["edits"], 7);
    let body = result["channels"][0]["body"].as_str().unwrap();
    assert!(body.starts_with("{\n  \"total\": "), "{body}");
    assert_eq!(result["channels"][1]["error"]["place"], "template");
    assert!(result["channels"][1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("order.nope"));

    fields[0] = ("csrf", "forged");
    assert_eq!(person.post(&preview, &fields).await.status, 403);
}

#[tokio::test]
async fn with_several_projects_the_dashboard_lists_them_and_the_picker_opens_each() {
    let app = TestApp::spawn().await;
    let other = app.create_project("Second shop").await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let home = person.get("/dashboard").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Second shop") && home.body.contains("Default project"));
    let opened = person
        .get(&format!(
            "/dashboard/open?project={}&section=audit-log",
            other.id
        ))
        .await;
    assert_eq!(
        opened.header("location"),
        format!("/dashboard/projects/{}/audit-log", other.id)
    );
    let audit = person.get(opened.header("location")).await;
    assert!(audit.body.contains(&format!(
        "<option value=\"{}\" selected>Second shop",
        other.id
    )));
}

#[tokio::test]
async fn a_webhook_form_past_the_projects_quota_says_so_and_stores_nothing() {
    let app = TestApp::spawn_with(|c| c.limits.webhooks_per_project = 1).await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let token = person.get(&settings_path(&app)).await.csrf();
    let create = format!("/dashboard/projects/{}/webhooks", app.project.id);
    let form = [
        ("csrf", token.as_str()),
        ("target_url", "https://example.com/hook"),
        ("all_events", "on"),
        ("active", "on"),
    ];
    assert_eq!(person.post(&create, &form).await.status, 303);
    let page = person.post(&create, &form).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("already has 1 webhooks")
            && page.body.contains("max_webhooks_per_project"),
        "{}",
        page.body
    );
    assert_eq!(app.webhook_total().await, 1);
}

/// Project settings edit the callout notifications the Management API keeps: saved whole for
/// both kinds of target, and a bad address refused with the field named, changing nothing.
#[tokio::test]
async fn project_settings_edit_the_callout_notifications_and_refuse_a_bad_address() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let page = person.get(&settings_path(&app)).await;
    assert!(page.body.contains("Notifications"), "{}", page.body);
    assert!(
        page.body.contains("id=\"email-off\""),
        "without SMTP the section says email is off"
    );
    let csrf = page.csrf();
    let save = format!("{}/notifications", settings_path(&app));
    let project_path = format!("/management/v1/projects/{}", app.project.id);

    let saved = person
        .post(
            &save,
            &[
                ("csrf", &csrf),
                ("webhooks_email", "on"),
                ("webhooks_emails", "ops@example.com\r\ncrm@example.com"),
                ("webhooks_in_app", "on"),
                ("distributions_emails", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(saved
        .header("location")
        .ends_with("/settings#notifications"));
    let read = app.management(Method::GET, &project_path, None).await;
    let notices = read.expect(200)["webhooks_callout_notifications"].clone();
    assert_eq!(
        notices,
        json!({
            "webhooks": {"email": true, "emails": ["ops@example.com", "crm@example.com"], "in_app": true},
            "distributions": {"email": false, "emails": [], "in_app": false}
        })
    );
    let shown = person.get(&settings_path(&app)).await;
    assert!(shown.body.contains("The notification settings were saved."));
    assert!(
        shown.body.contains("ops@example.com, crm@example.com"),
        "{}",
        shown.body
    );

    let refused = person
        .post(
            &save,
            &[
                ("csrf", &csrf),
                ("distributions_email", "on"),
                ("distributions_emails", "not-an-address"),
            ],
        )
        .await;
    assert_eq!(refused.status, 303);
    let shown = person.get(&settings_path(&app)).await;
    assert!(shown.body.contains("were not saved"), "{}", shown.body);
    assert!(shown.body.contains("not-an-address"), "{}", shown.body);
    let kept = app.management(Method::GET, &project_path, None).await;
    assert_eq!(kept.expect(200)["webhooks_callout_notifications"], notices);
}

/// Project settings set the project's operational webhook URL the Management API keeps: saved,
/// shown again, an address the delivery rules refuse refused with the reason (nothing
/// changed, and nothing sent: the check is on the address literal), and emptied to remove it.
#[tokio::test]
async fn project_settings_set_the_operational_webhook_and_refuse_an_unsafe_one() {
    let app = TestApp::spawn().await;
    let mut person = Person::new(&app);
    person.sign_in().await;
    let page = person.get(&settings_path(&app)).await;
    assert!(
        page.body.contains("Operational webhook URL"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let save = format!("{}/operational", settings_path(&app));
    let project_path = format!("/management/v1/projects/{}", app.project.id);
    let url = "http://127.0.0.1:9/ops";

    let saved = person
        .post(&save, &[("csrf", &csrf), ("operational_webhook_url", url)])
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(saved.header("location").ends_with("/settings#operational"));
    let read = app.management(Method::GET, &project_path, None).await;
    assert_eq!(read.expect(200)["operational_webhook_url"], url);
    let shown = person.get(&settings_path(&app)).await;
    assert!(shown.body.contains("The operational webhook was saved."));
    assert!(
        shown.body.contains(&format!("value=\"{url}\"")),
        "{}",
        shown.body
    );

    let refused = person
        .post(
            &save,
            &[
                ("csrf", &csrf),
                ("operational_webhook_url", "http://10.1.2.3/ops"),
            ],
        )
        .await;
    assert_eq!(refused.status, 303);
    let shown = person.get(&settings_path(&app)).await;
    assert!(shown.body.contains("was not saved"), "{}", shown.body);
    assert!(shown.body.contains("10.1.2.3"), "{}", shown.body);
    let kept = app.management(Method::GET, &project_path, None).await;
    assert_eq!(kept.expect(200)["operational_webhook_url"], url);

    let cleared = person
        .post(&save, &[("csrf", &csrf), ("operational_webhook_url", "")])
        .await;
    assert_eq!(cleared.status, 303);
    let read = app.management(Method::GET, &project_path, None).await;
    assert_eq!(read.expect(200)["operational_webhook_url"], Value::Null);
}
