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
