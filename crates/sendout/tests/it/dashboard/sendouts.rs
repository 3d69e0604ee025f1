//! A person reads the audit log, opens a send out's data and retries it, in a real browser.
//! The app runs without background workers, so every attempt is one the test asks for.

use serde_json::json;

use crate::dashboard::browser;
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};

/// An app without workers, a webhook for every event to `url`, and one emitted
/// `voucher.published`; returns the app and the send out's id.
async fn one_send_out(url: &str) -> (TestApp, String) {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    app.create_webhook(json!({"target_url": url, "events": ["*"]}))
        .await;
    app.ingest(&json!({"type": "voucher.published", "data": {"voucher": {"code": "SUMMER-24"}}}))
        .await
        .expect(202);
    let list = app.send_outs("").await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    (app, id)
}

#[tokio::test]
async fn an_emitted_event_is_found_in_the_audit_log_and_show_data_shows_its_exact_body() {
    let receiver = Receiver::start().await;
    let (app, id) = one_send_out(&receiver.url("/hook")).await;
    let listed = app.send_outs("").await;
    let request_id = listed["data"][0]["group_id"].as_str().unwrap().to_owned();
    browser::session(
        &app,
        "finds_a_send_out_and_shows_its_data",
        |b| async move {
            b.sign_in().await;
            b.click("nav.tabs a[href$='/audit-log']").await;
            let row = b.text(&format!("tr[data-sendout='{id}']")).await;
            for expected in [
                "PENDING",
                "voucher.published",
                "/hook",
                "webhook",
                request_id.as_str(),
            ] {
                assert!(row.contains(expected), "{expected} in {row}");
            }
            assert!(b.text("figcaption").await.contains("1 pending"));

            // Filters narrow the list; the chart stays the project's.
            b.el("#f-status")
                .await
                .select_by_value("FAILED")
                .await
                .unwrap();
            b.click("#apply-filters").await;
            b.el("#no-sendouts").await;
            assert!(b.path().await.contains("status=FAILED"));
            b.el("#f-status")
                .await
                .select_by_value("PENDING")
                .await
                .unwrap();
            b.el("#f-type")
                .await
                .select_by_value("voucher.published")
                .await
                .unwrap();
            b.click("#apply-filters").await;
            b.el(&format!("tr[data-sendout='{id}']")).await;

            b.click(&format!("tr[data-sendout='{id}'] details.menu summary"))
                .await;
            b.click(&format!("tr[data-sendout='{id}'] .menu-body a"))
                .await;
            let body = b.text("#sendout-body").await;
            assert!(b.path().await.ends_with(&format!("/audit-log/{id}")));
            assert!(body.contains(&format!("\"id\": \"{id}\"")), "{body}");
            assert!(body.contains("\"code\": \"SUMMER-24\""), "{body}");
            b.el("#no-attempts").await;
        },
    )
    .await;
    assert_eq!(receiver.count(), 0, "reading sends nothing");
}

#[tokio::test]
async fn a_failing_receiver_is_seen_and_a_retry_after_the_fix_succeeds() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(
        Reply::status(500).body("database is down"),
    ));
    let (app, id) = one_send_out(&receiver.url("/hook")).await;
    let receiver_handle = &receiver;
    browser::session(&app, "retries_after_a_failure", |b| async move {
        b.sign_in().await;
        b.click("nav.tabs a[href$='/audit-log']").await;
        b.click(&format!("tr[data-sendout='{id}'] details.menu summary"))
            .await;
        b.click(&format!("tr[data-sendout='{id}'] .menu-body button"))
            .await;
        let flash = b.text("#flash").await;
        assert!(flash.contains("failed, the target answered 500"), "{flash}");
        assert!(b
            .text(&format!("tr[data-sendout='{id}']"))
            .await
            .contains("RETRYING"));

        b.click(&format!("tr[data-sendout='{id}'] details.menu summary"))
            .await;
        b.click(&format!("tr[data-sendout='{id}'] .menu-body a"))
            .await;
        let attempt = b.text("tr[data-attempt='1']").await;
        assert!(attempt.contains("HTTP 500"), "{attempt}");

        receiver_handle.set_default(Behaviour::always(Reply::ok()));
        b.click("#retry").await;
        assert!(b
            .text("#flash")
            .await
            .contains("delivered, the receiver answered 200"));
        assert_eq!(b.text("#sendout-status").await, "SUCCEEDED");
        assert!(b.text("tr[data-attempt='2']").await.contains("HTTP 200"));
    })
    .await;
    assert_eq!(receiver.count(), 2);
    let first = &receiver.received()[0];
    let second = &receiver.received()[1];
    assert_eq!(first.body, second.body, "a retry sends the same bytes");
}

/// Makes one attempt of send out `id` now, through the API.
async fn retry_now(app: &TestApp, id: &str) -> String {
    let retried = app
        .project_api(
            reqwest::Method::POST,
            &format!("/v1/webhook-sendouts/{id}/retry"),
            None,
        )
        .await;
    retried.expect(200)["send_out"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_distributions_channel_is_a_source_to_filter_by_and_a_target_whose_failures_are_retried()
{
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::status(500)));
    // With no retries, the workers' first failed attempt ends a send out FAILED.
    let app = TestApp::spawn_with(|c| {
        c.retry = sendout_core::retry::RetryPolicy::parse_schedule("none").unwrap();
    })
    .await;
    app.create_webhook(
        json!({"target_url": receiver.url("/other"), "events": ["voucher.published"]}),
    )
    .await;
    let mut body = crate::distributions::simple("customer.order.paid", &receiver.url("/crm"));
    body["name"] = json!("Orders to CRM");
    let made = app
        .project_api(reqwest::Method::POST, "/v1/distributions", Some(&body))
        .await;
    let distr = made.expect(200)["id"].as_str().unwrap().to_owned();
    let data = crate::distributions::example("customer.order.paid");
    app.ingest(&json!({"type": "customer.order.paid", "data": data}))
        .await
        .expect(202);
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    receiver.wait_for(2, crate::helpers::DELIVERY).await;
    // A graceful stop writes the failed attempts before the workers end.
    let app = app.restart(|c| c.workers = false).await;
    let listed = app
        .send_outs(&format!("?source_id={distr}&status=FAILED"))
        .await;
    let id = listed["data"][0]["id"].as_str().unwrap().to_owned();

    let distr_in = distr.clone();
    browser::session(&app, "distribution_in_audit_log", |b| async move {
        let distr = distr_in;
        b.sign_in().await;
        b.click("nav.tabs a[href$='/audit-log']").await;
        assert_eq!(b.all("tr[data-sendout]").await.len(), 2);
        b.labelled("Source")
            .await
            .select_by_label(&format!("Orders to CRM ({distr})"))
            .await
            .unwrap();
        b.click("#apply-filters").await;
        b.text_with("#sendouts-total", "1 send out match").await;
        assert!(b.path().await.contains(&format!("source={distr}")));
        let row = b.text(&format!("tr[data-sendout='{id}']")).await;
        assert!(
            row.contains("distribution") && row.contains("FAILED"),
            "{row}"
        );

        // The filtered distribution is the bulk retry's target.
        let target = b.labelled("Target").await;
        assert_eq!(
            target.prop("value").await.unwrap().as_deref(),
            Some(distr.as_str())
        );
        b.click("#bulk-retry").await;
        b.text_with("#flash", "are due again").await;
        let flash = b.text("#flash").await;
        assert!(
            flash.contains(&format!("1 failed send outs of {distr}")),
            "{flash}"
        );
    })
    .await;
    let failed = app.send_outs("?status=FAILED").await;
    assert_eq!(
        failed["total"], 1,
        "only the target's send outs are retried"
    );
    assert_eq!(failed["data"][0]["source"]["object"], "webhook");
    let again = app
        .send_outs(&format!("?source_id={distr}&status=RETRYING"))
        .await;
    assert_eq!(
        again["total"], 1,
        "the distribution's send out is due again"
    );
}

#[tokio::test]
async fn a_rows_menu_offers_retry_as_its_status_calls_for_and_send_again_once_delivered() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::status(500)));
    receiver.on("/ok", Behaviour::always(Reply::ok()));
    // FAILED: the workers give up at once (no retries) on a webhook that answers 500.
    let app = TestApp::spawn_with(|c| {
        c.retry = sendout_core::retry::RetryPolicy::parse_schedule("none").unwrap();
    })
    .await;
    app.create_webhook(
        json!({"target_url": receiver.url("/first"), "events": ["voucher.published"]}),
    )
    .await;
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    receiver.wait_for(1, crate::helpers::DELIVERY).await;
    let app = app
        .restart(|c| {
            c.workers = false;
            c.retry = sendout_core::retry::RetryPolicy::parse_schedule("1h").unwrap();
        })
        .await;
    let failed = app.send_outs("?status=FAILED").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The rest are attempted only when the test asks: PENDING until then, SUCCEEDED on /ok,
    // RETRYING on /bad (its one retry still to come).
    for target in ["/ok", "/bad"] {
        app.create_webhook(
            json!({"target_url": receiver.url(target), "events": ["voucher.published"]}),
        )
        .await;
    }
    for _ in 0..2 {
        app.ingest(&json!({"type": "voucher.published", "data": {}}))
            .await
            .expect(202);
    }
    let listed = app.send_outs("?status=PENDING").await;
    let on = |path: &str| -> Vec<String> {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["source"]["target_url"].as_str().unwrap().ends_with(path))
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (ok, bad) = (on("/ok"), on("/bad"));
    let (ok1, pending, bad1, bad2) = (ok[0].clone(), ok[1].clone(), bad[0].clone(), failed);
    assert_eq!(retry_now(&app, &ok1).await, "SUCCEEDED");
    assert_eq!(retry_now(&app, &bad1).await, "RETRYING");
    let expected = [
        (pending.clone(), "Send now"),
        (bad1.clone(), "Retry now"),
        (bad2.clone(), "Retry"),
        (ok1.clone(), "Send again"),
    ];
    let sent_before = receiver.count();
    let project = app.project.id.to_string();
    browser::session(&app, "retry_labels_by_status", |b| async move {
        b.sign_in().await;
        b.click("nav.tabs a[href$='/audit-log']").await;
        for (id, label) in &expected {
            let menu = format!("tr[data-sendout='{id}'] .menu-body");
            b.click(&format!("tr[data-sendout='{id}'] details.menu summary"))
                .await;
            assert_eq!(
                b.button_names(&menu).await,
                ["Show data", label],
                "the menu of {id}"
            );
            b.click(&format!("tr[data-sendout='{id}'] details.menu summary"))
                .await;
        }
        // Show data of a delivered send out says the same.
        b.goto(&format!("/dashboard/projects/{project}/audit-log/{ok1}"))
            .await;
        assert_eq!(b.text("#retry").await, "Send again");
        b.button_in(".section-head", "Send again")
            .await
            .click()
            .await
            .unwrap();
        b.text_with("#flash", "delivered").await;
    })
    .await;
    assert_eq!(receiver.count(), sent_before + 1, "sent again once");
}
