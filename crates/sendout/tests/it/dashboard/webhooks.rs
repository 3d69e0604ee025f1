//! A person adds, tests, edits and deletes webhooks in a real browser.

use crate::dashboard::browser::{self, Browser};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::DELIVERY;

async fn open_add_form(b: &Browser) {
    b.click("#add-webhook").await;
    b.ready("form.webhook-form").await;
    assert!(
        b.path().await.ends_with("/webhooks/new"),
        "{}",
        b.path().await
    );
    assert_eq!(b.text("h1").await, "Add new webhook");
}

#[tokio::test]
async fn a_person_signs_in_adds_a_webhook_with_three_events_and_a_header_and_tests_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let url = receiver.url("/hooks/crm");
    browser::session(&app, "adds_a_webhook_and_tests_it", |b| async move {
        b.sign_in().await;
        assert!(
            b.path().await.ends_with("/settings"),
            "the only project opens"
        );
        open_add_form(&b).await;

        // A wrong URL is named next to its field, and nothing else is lost.
        b.fill("#target_url", "not a url").await;
        b.click("input[value='voucher.published']").await;
        b.click("#save-webhook").await;
        b.ready("#target_url-error").await;
        assert!(b
            .text("#target_url-error")
            .await
            .contains("not a valid URL"));
        assert!(b
            .el("input[value='voucher.published']")
            .await
            .is_selected()
            .await
            .unwrap());

        b.fill("#target_url", &url).await;
        b.click("input[value='redemption.succeeded']").await;
        b.click("input[value='customer.created']").await;
        b.fill("#header-name-new", "X-Tenant").await;
        b.fill("#header-value-new", "acme").await;
        b.click("#add-header").await;
        let rows = b.all("[data-header-row]").await;
        assert_eq!(rows.len(), 2, "Add header adds a row");
        b.click("[data-header-row]:last-child [data-remove-header]")
            .await;
        assert_eq!(
            b.all("[data-header-row]").await.len(),
            1,
            "Remove takes it away"
        );

        b.click("#send-test").await;
        b.ready("#test-outcome").await;
        let outcome = b.text("#test-outcome").await;
        assert!(
            outcome.contains("delivered: the receiver answered 200"),
            "{outcome}"
        );
        let got = receiver.wait_for(1, DELIVERY).await;
        assert_eq!(got[0].header("x-tenant"), Some("acme"));
        assert!(
            got[0]
                .body_text()
                .contains("\"type\":\"redemption.succeeded\"")
                || got[0]
                    .body_text()
                    .contains("\"type\":\"voucher.published\"")
        );
        // The form is shown again as it was, ready to create.
        assert_eq!(
            b.el("#target_url")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(url.as_str())
        );

        b.click("#save-webhook").await;
        b.text_with("#flash", "created").await;
        assert!(b.path().await.ends_with("/settings"), "{}", b.path().await);
        let row = b.text("table.webhooks tbody tr").await;
        assert!(row.contains(&url), "{row}");
        assert!(
            row.contains("voucher.published") && row.contains("Active"),
            "{row}"
        );
    })
    .await;

    let webhooks = app
        .management(reqwest::Method::GET, &app.webhooks_path(), None)
        .await;
    let webhook = &webhooks.expect(200)["data"][0];
    let events: Vec<&str> = webhook["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    for e in [
        "voucher.published",
        "redemption.succeeded",
        "customer.created",
    ] {
        assert!(events.contains(&e), "{events:?}");
    }
    assert_eq!(webhook["headers"]["x-tenant"], "acme");
    assert_eq!(webhook["active"], true);
}

/// An app whose one webhook sendout disabled (its receiver answered `410 Gone`), restarted
/// without workers; and the webhook's id.
pub(crate) async fn disabled_by_gone() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::gone()));
    let webhook = app
        .create_webhook(serde_json::json!({"target_url": receiver.url("/gone"), "events": ["*"]}))
        .await;
    app.ingest(&serde_json::json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    receiver.wait_for(1, DELIVERY).await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    // A graceful stop lets the worker write the attempt (and the disabling, with its notice)
    // before it ends.
    (app.restart(|c| c.workers = false).await, id)
}

#[tokio::test]
async fn a_disabled_webhook_shows_why_and_is_enabled_again_by_ticking_is_active() {
    let (app, id) = disabled_by_gone().await;
    let path = format!("{}/{id}", app.webhooks_path());
    let disabled = app.management(reqwest::Method::GET, &path, None).await;
    assert_eq!(disabled.expect(200)["active"], false);
    browser::session(&app, "re_enables_a_webhook", |b| async move {
        b.sign_in().await;
        let row = b.text(&format!("tr[data-webhook='{id}']")).await;
        assert!(
            row.contains("Inactive") && row.contains("Disabled by sendout on"),
            "{row}"
        );
        b.click(&format!("tr[data-webhook='{id}'] a[href$='/edit']"))
            .await;
        assert!(b.text("#disabled-reason").await.contains("410"));
        assert!(!b.el("#active").await.is_selected().await.unwrap());
        b.click("#active").await;
        b.click("#save-webhook").await;
        b.text_with("#flash", "updated").await;
        assert!(b
            .text(&format!("tr[data-webhook='{id}']"))
            .await
            .contains("Active"));
    })
    .await;
    let now = app.management(reqwest::Method::GET, &path, None).await;
    assert_eq!(now.expect(200)["active"], true);
    assert!(now.json["disabled_reason"].is_null());
}

#[tokio::test]
async fn the_trash_button_deletes_a_webhook_only_after_delete_is_confirmed() {
    let app = TestApp::spawn().await;
    let webhook = app
        .create_webhook(serde_json::json!({"target_url": "https://example.com/old", "events": ["voucher.published"]}))
        .await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    browser::session(&app, "deletes_a_webhook", |b| async move {
        b.sign_in().await;
        let trash = format!("tr[data-webhook='{id}'] details.confirm summary");
        b.click(&trash).await;
        assert!(b
            .el(&format!("tr[data-webhook='{id}'] .confirm-body"))
            .await
            .is_displayed()
            .await
            .unwrap());
        b.click(&format!("tr[data-webhook='{id}'] .confirm-body button"))
            .await;
        b.text_with("#flash", "deleted").await;
        assert!(!b.exists(&format!("tr[data-webhook='{id}']")).await);
    })
    .await;
    assert_eq!(app.webhook_total().await, 0);
}

/// Presses the form's Send test webhook, as a person finds it.
async fn send_test(b: &Browser) {
    b.button_in("form.webhook-form", "Send test webhook")
        .await
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_person_tests_a_type_without_an_example_by_pasting_its_data() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let url = receiver.url("/hooks/loyalty");
    let no_example = "campaign.earning_rule.assigned";
    browser::session(&app, "tests_a_type_without_an_example", |b| async move {
        b.sign_in().await;
        open_add_form(&b).await;
        b.labelled("Target URL")
            .await
            .send_keys(&url)
            .await
            .unwrap();

        // The select says which types have a real example and which need their data.
        let test_type = b.labelled("Test event type").await;
        let without = test_type
            .find(fantoccini::Locator::XPath(
                "optgroup[@label = 'Without an example: paste its data']",
            ))
            .await
            .expect("a group of the types without an example");
        let listed = without.text().await.unwrap();
        assert!(
            listed.contains(&format!("{no_example} (no example)")),
            "{listed}"
        );
        let with = b
            .text("#test-type optgroup[label='With a real example']")
            .await;
        assert!(with.contains("voucher.published") && !with.contains(no_example));

        // Chosen without data, the form says the data is needed, and nothing is sent.
        test_type
            .select_by_label(&format!("{no_example} (no example)"))
            .await
            .unwrap();
        send_test(&b).await;
        let told = b.text_with("#test-data-error", "no example").await;
        assert!(told.contains(no_example), "{told}");
        assert_eq!(receiver.count(), 0);

        // Pasted text that is not JSON is named; nothing is sent either.
        b.labelled("Test data")
            .await
            .send_keys("{oops")
            .await
            .unwrap();
        send_test(&b).await;
        b.text_with("#test-data-error", "not valid JSON").await;
        assert_eq!(receiver.count(), 0);

        // The pasted data is sent as the event's data.
        let data = b.labelled("Test data").await;
        data.clear().await.unwrap();
        data.send_keys(r#"{"campaign": {"id": "camp_1"}, "earning_rule": {"id": "ern_1"}}"#)
            .await
            .unwrap();
        send_test(&b).await;
        let outcome = b.text_with("#test-outcome", "delivered").await;
        assert!(outcome.contains(no_example), "{outcome}");
        let got = receiver.wait_for(1, DELIVERY).await;
        let sent: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(sent["type"], no_example);
        assert_eq!(
            sent["data"],
            serde_json::json!({"campaign": {"id": "camp_1"}, "earning_rule": {"id": "ern_1"}})
        );
    })
    .await;
}
