//! A person designs a distribution in a real browser: the trigger limits the actions, Show
//! output follows the template as it is typed, an unknown key is flagged at the template,
//! and the list's menu pauses and activates it.

use serde_json::{json, Value};

use crate::dashboard::browser::{self, Browser};
use crate::helpers::app::TestApp;

/// Types `text` into the field matching `css` (replacing what it held), then waits for the
/// Show output that includes every edit so far (the page's `sendout:preview` event).
async fn type_and_preview(b: &Browser, css: &str, text: &str) -> Value {
    b.fill(css, text).await;
    await_preview(b).await
}

/// Waits for the Show output that answers every edit made so far.
pub async fn await_preview(b: &Browser) -> Value {
    let want = b.script("return window.sendoutDesignerEdits;").await;
    b.client
        .execute_async(
            "const want = arguments[0]; const done = arguments[arguments.length - 1];
             const ready = (r) => r && r.edits >= want;
             if (ready(window.sendoutLastPreview)) { done(window.sendoutLastPreview); return; }
             document.addEventListener('sendout:preview', function seen(e) {
               if (ready(e.detail)) { document.removeEventListener('sendout:preview', seen); done(e.detail); }
             });",
            vec![want],
        )
        .await
        .expect("Show output answers")
}

#[tokio::test]
async fn a_person_designs_a_distribution_with_a_custom_template_and_sees_its_output_as_they_type() {
    let app = TestApp::spawn().await;
    browser::session(&app, "designs_a_distribution", |b| async move {
        b.sign_in().await;
        b.click("nav.tabs a[href$='/distributions']").await;
        b.click("#create-distribution").await;
        b.ready("form[data-designer]").await;
        b.fill("#name", "Order paid to CRM").await;

        // The fields are named as the seed names them: Trigger, then Action. A trigger that
        // only sends plain messages offers only that action.
        let trigger = b.labelled("Trigger").await;
        trigger.select_by_value("customer.rewarded").await.unwrap();
        let action = b.group("Action").await;
        let notify = b.labelled("Notify customers about promotion").await;
        let plain = b.labelled("Send plain message to customers").await;
        for choice in [&notify, &plain] {
            assert!(b.contains(&action, choice).await, "an Action's choice");
        }
        assert!(!notify.is_enabled().await.unwrap());
        assert!(plain.is_selected().await.unwrap());
        trigger
            .select_by_value("customer.order.paid")
            .await
            .unwrap();
        assert!(notify.is_enabled().await.unwrap());

        b.fill("#ch0-event_name", "Order-paid").await;
        b.fill("#ch0-url", "https://crm.example/hooks").await;
        b.click("#ch0-mode-custom").await;
        await_preview(&b).await;

        let shown = type_and_preview(
            &b,
            "#ch0-template",
            r#"{"total": {{order.total_amount}}, "who": "Hello {{customer.name}}"}"#,
        )
        .await;
        let output = b.text("[data-output='0']").await;
        assert!(output.contains("\"type\": \"Order-paid\""), "{output}");
        assert!(output.contains("\"total\": "), "{output}");
        assert!(output.contains("\"who\": \"Hello "), "{output}");
        assert!(shown["channels"][0]["error"].is_null());

        // Raw payload: the designed value is the whole body.
        b.click("#ch0-raw").await;
        await_preview(&b).await;
        let raw = b.text("[data-output='0']").await;
        assert!(
            raw.starts_with("{\n  \"total\": ") && !raw.contains("project_id"),
            "{raw}"
        );

        // A key the trigger does not carry is flagged at the template, and nothing is shown.
        type_and_preview(&b, "#ch0-template", r#"{"x": "{{order.nope}}"}"#).await;
        let flagged = b.text("[data-error-for='ch0.template']").await;
        assert!(flagged.contains("order.nope"), "{flagged}");
        assert_eq!(b.text("[data-output='0']").await, "");

        // Saving it anyway is refused with the same error in place.
        b.click("#save-distribution").await;
        b.ready("form[data-designer] .has-error").await;
        assert!(b
            .text("[data-error-for='ch0.template']")
            .await
            .contains("order.nope"));
        type_and_preview(&b, "#ch0-template", r#"{"total": {{order.total_amount}}}"#).await;
        b.click("#save-distribution").await;
        b.text_with("#flash", "created (LIVE)").await;

        let row = "table.distributions tbody tr";
        assert!(b.text(row).await.contains("LIVE"));
        b.click(&format!("{row} details.menu summary")).await;
        b.click(&format!("{row} .menu-body form[action$='/pause'] button"))
            .await;
        b.text_with("#flash", "paused").await;
        assert!(b.text(row).await.contains("PAUSED"));
        b.click(&format!("{row} details.menu summary")).await;
        b.click(&format!("{row} .menu-body form[action$='/live'] button"))
            .await;
        b.text_with("#flash", "is live").await;
    })
    .await;

    let list = app
        .project_api(reqwest::Method::GET, "/v1/distributions", None)
        .await;
    let saved = &list.expect(200)["data"][0];
    assert_eq!(saved["name"], "Order paid to CRM");
    assert_eq!(saved["status"], "LIVE");
    assert_eq!(saved["trigger"]["event"], "customer.order.paid");
    assert_eq!(
        saved["channels"][0]["payload"],
        json!({"mode": "custom", "template": "{\"total\": {{order.total_amount}}}", "raw": true})
    );
}

#[tokio::test]
async fn a_paused_distribution_is_set_live_from_its_own_page_and_paused_there_again() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let mut body = crate::distributions::simple("customer.order.paid", "https://crm.example/h");
    body["name"] = json!("Order paid to CRM");
    body["status"] = json!("PAUSED");
    let created = app
        .project_api(reqwest::Method::POST, "/v1/distributions", Some(&body))
        .await;
    let id = created.expect(200)["id"].as_str().unwrap().to_owned();
    let page = format!(
        "/dashboard/projects/{}/distributions/{id}/edit",
        app.project.id
    );
    browser::session(&app, "sets_live_from_the_distribution", |b| async move {
        b.sign_in().await;
        b.click("nav.tabs a[href$='/distributions']").await;
        // "Click the distribution that has been paused. Click the set live icon in the upper
        // right corner."
        b.click(&format!("tr[data-distribution='{id}'] a[href$='/edit']"))
            .await;
        b.ready("form[data-designer]").await;
        assert_eq!(b.text("#distribution-status").await, "PAUSED");
        assert_eq!(b.button_names(".section-head").await, ["Set live"]);
        b.button_in(".section-head", "Set live")
            .await
            .click()
            .await
            .unwrap();
        b.text_with("#flash", "is live").await;
        assert_eq!(b.path().await, page, "the distribution's own page again");
        assert_eq!(b.text("#distribution-status").await, "LIVE");

        assert_eq!(b.button_names(".section-head").await, ["Pause"]);
        b.button_in(".section-head", "Pause")
            .await
            .click()
            .await
            .unwrap();
        b.text_with("#flash", "paused").await;
        assert_eq!(b.path().await, page);
        assert_eq!(b.text("#distribution-status").await, "PAUSED");
        assert!(b.text("#paused-reason").await.starts_with("Paused on "));
    })
    .await;
    let read = app
        .project_api(
            reqwest::Method::GET,
            &format!(
                "/v1/distributions/{}",
                created.expect(200)["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(read.expect(200)["status"], "PAUSED");
}

#[tokio::test]
async fn an_event_name_in_polish_typed_in_the_form_is_the_delivered_envelopes_type() {
    let app = TestApp::spawn().await;
    let receiver = crate::helpers::receiver::Receiver::start().await;
    let url = receiver.url("/crm");
    let name = "Zamówienie opłacone";
    browser::session(&app, "unicode_event_name", |b| async move {
        b.sign_in().await;
        b.click("nav.tabs a[href$='/distributions']").await;
        b.click("#create-distribution").await;
        b.ready("form[data-designer]").await;
        b.fill("#name", "Orders to CRM").await;
        b.labelled("Trigger")
            .await
            .select_by_value("customer.order.paid")
            .await
            .unwrap();
        b.labelled("URL").await.send_keys(&url).await.unwrap();
        let event_name = b.labelled("Event name").await;
        event_name.send_keys(name).await.unwrap();
        await_preview(&b).await;
        let output = b.text("[data-output='0']").await;
        assert!(
            output.contains(&format!("\"type\": \"{name}\"")),
            "{output}"
        );
        b.click("#save-distribution").await;
        b.text_with("#flash", "created (LIVE)").await;
    })
    .await;

    let list = app
        .project_api(reqwest::Method::GET, "/v1/distributions", None)
        .await;
    assert_eq!(
        list.expect(200)["data"][0]["channels"][0]["event_name"],
        name
    );
    let data = crate::distributions::example("customer.order.paid");
    app.ingest(&json!({"type": "customer.order.paid", "data": data}))
        .await
        .expect(202);
    receiver.wait_for(1, crate::helpers::DELIVERY).await;
    let got = receiver.received_on("/crm").pop().expect("delivered");
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["type"], name);
}
