//! The payload designer's keys in a real browser: `{{` in a template or an attribute path
//! searches the trigger's keys with the keyboard only, the attribute picker ticks keys from a
//! tree with an optional "your key", and both offer only the keys the chosen action gets
//! (seed 001's purpose-dependent objects), which saving holds to as the API does.

use std::path::PathBuf;

use fantoccini::elements::Element;
use fantoccini::key::Key;
use serde_json::{json, Value};

use crate::dashboard::browser::{self, Browser};
use crate::dashboard::distributions::await_preview;
use crate::helpers::app::TestApp;

/// Waits until the designer offers the keys of `trigger` as `action` gets them (the page's
/// `sendout:keys` event).
async fn await_keys(b: &Browser, trigger: &str, action: &str) -> Value {
    b.client
        .execute_async(
            "const [t, a] = [arguments[0], arguments[1]]; const done = arguments[arguments.length - 1];
             const ready = (k) => k && k.trigger === t && k.action === a;
             if (ready(window.sendoutKeys)) { done(window.sendoutKeys); return; }
             document.addEventListener('sendout:keys', function seen(e) {
               if (ready(e.detail)) { document.removeEventListener('sendout:keys', seen); done(e.detail); }
             });",
            vec![json!(trigger), json!(action)],
        )
        .await
        .expect("the keys arrive")
}

/// Presses one key in `field`.
async fn press(field: &Element, key: Key) {
    field
        .send_keys(&char::from(key).to_string())
        .await
        .expect("a key press");
}

/// The paths the open key search lists, in order.
async fn listed(b: &Browser) -> Vec<String> {
    let shown = b
        .script(
            "const list = document.getElementById('key-search-list');
             if (!list || list.hidden) return null;
             return [...list.querySelectorAll('[role=option]:not([aria-disabled])')]
               .map(o => o.firstChild.textContent);",
        )
        .await;
    serde_json::from_value(shown).expect("the key search is open")
}

/// What `field` says is the chosen option: its `aria-activedescendant`'s text.
async fn chosen(b: &Browser, field: &Element) -> Option<String> {
    let id = field.attr("aria-activedescendant").await.unwrap()?;
    let option = b.el(&format!("#{id}")).await;
    assert_eq!(
        option.attr("aria-selected").await.unwrap().as_deref(),
        Some("true")
    );
    Some(
        option
            .find(fantoccini::Locator::Css("span"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
}

/// With `SENDOUT_DOC_SCREENSHOTS` set, saves the page with `css` in view as the README's
/// picture `docs/screenshots/<name>.png`.
async fn doc_picture(b: &Browser, css: &str, name: &str) {
    if std::env::var_os("SENDOUT_DOC_SCREENSHOTS").is_none() {
        return;
    }
    b.script(&format!(
        "document.querySelector({css:?}).scrollIntoView({{block: 'center'}});"
    ))
    .await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    b.save_screenshot(&dir, name).await.unwrap();
}

async fn new_distribution(b: &Browser, trigger: &str, action_label: &str) {
    b.sign_in().await;
    b.click("nav.tabs a[href$='/distributions']").await;
    b.click("#create-distribution").await;
    b.ready("form[data-designer]").await;
    b.fill("#name", "Designed with keys").await;
    b.labelled("Trigger")
        .await
        .select_by_value(trigger)
        .await
        .unwrap();
    b.labelled(action_label).await.click().await.unwrap();
    b.fill("#ch0-event_name", "Order-paid").await;
    b.fill("#ch0-url", "https://crm.example/hooks").await;
}

#[tokio::test]
async fn typing_double_braces_searches_the_triggers_keys_and_enter_inserts_the_full_path() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    browser::session(&app, "key_search", |b| async move {
        new_distribution(&b, "customer.order.paid", "Send plain message to customers").await;
        await_keys(&b, "customer.order.paid", "SEND_PLAIN_MESSAGE").await;
        b.click("#ch0-mode-custom").await;
        let template = b.labelled("Template").await;
        assert_eq!(
            template.attr("aria-controls").await.unwrap().as_deref(),
            Some("key-search-list")
        );

        // `{{` opens the list; what follows narrows it, paths starting with it first.
        template.send_keys("{\"total\": {{").await.unwrap();
        let all = listed(&b).await;
        assert!(all.contains(&"order".to_owned()), "{all:?}");
        template.send_keys("order.total_am").await.unwrap();
        let narrowed = listed(&b).await;
        assert_eq!(
            narrowed.first().map(String::as_str),
            Some("order.total_amount")
        );
        assert!(
            narrowed.iter().all(|p| p.contains("order.total_am")),
            "{narrowed:?}"
        );
        doc_picture(&b, "#ch0-template", "key-search").await;
        assert_eq!(
            chosen(&b, &template).await,
            None,
            "nothing chosen before an arrow key"
        );
        press(&template, Key::Down).await;
        assert_eq!(
            chosen(&b, &template).await.as_deref(),
            Some("order.total_amount")
        );
        press(&template, Key::Enter).await;
        assert_eq!(
            template.prop("value").await.unwrap().as_deref(),
            Some("{\"total\": {{order.total_amount}}")
        );
        assert!(
            b.exists("#key-search-list[hidden]").await,
            "the list closes"
        );

        // Arrays offer their first element: the full path with `[0]`.
        template
            .send_keys(", \"first\": {{order.items[0].pri")
            .await
            .unwrap();
        let items = listed(&b).await;
        assert!(
            items.contains(&"order.items[0].price".to_owned()),
            "{items:?}"
        );
        let at = items
            .iter()
            .position(|p| p == "order.items[0].price")
            .unwrap();
        for _ in 0..=at {
            press(&template, Key::Down).await;
        }
        assert_eq!(chosen(&b, &template).await, Some(items[at].clone()));
        if at > 0 {
            press(&template, Key::Up).await;
            assert_eq!(chosen(&b, &template).await, Some(items[at - 1].clone()));
            press(&template, Key::Down).await;
        }
        press(&template, Key::Enter).await;
        template.send_keys(", \"plain\": {{voucher").await.unwrap();
        assert!(
            listed(&b).await.iter().all(|p| !p.starts_with("voucher")),
            "a plain message gets no published voucher"
        );
        press(&template, Key::Escape).await;
        assert!(
            b.exists("#key-search-list[hidden]").await,
            "Escape closes it"
        );
        b.fill("#ch0-template", "").await;
        template
            .send_keys("{\"total\": {{order.total_amount}}, \"first\": {{order.items[0].price}}}")
            .await
            .unwrap();
        let preview = await_preview(&b).await;
        assert!(preview["channels"][0]["error"].is_null(), "{preview}");

        // In an attribute path the same search fills in the bare path.
        b.click("#ch0-mode-attributes").await;
        let path = b.labelled("Attribute path").await;
        assert_eq!(
            path.attr("role").await.unwrap().as_deref(),
            Some("combobox")
        );
        path.send_keys("{{customer.sour").await.unwrap();
        assert_eq!(
            path.attr("aria-expanded").await.unwrap().as_deref(),
            Some("true")
        );
        press(&path, Key::Down).await;
        press(&path, Key::Enter).await;
        assert_eq!(
            path.prop("value").await.unwrap().as_deref(),
            Some("customer.source_id")
        );
        assert_eq!(
            path.attr("aria-expanded").await.unwrap().as_deref(),
            Some("false")
        );
        let preview = await_preview(&b).await;
        assert!(preview["channels"][0]["error"].is_null(), "{preview}");
        b.click("#save-distribution").await;
        b.text_with("#flash", "created").await;
    })
    .await;
    let list = app
        .project_api(reqwest::Method::GET, "/v1/distributions", None)
        .await;
    let saved = &list.expect(200)["data"][0];
    assert_eq!(saved["channels"][0]["payload"]["mode"], "attributes");
    assert_eq!(
        saved["channels"][0]["payload"]["attributes"][0]["path"],
        "customer.source_id"
    );
}

#[tokio::test]
async fn the_attribute_picker_ticks_keys_of_the_action_with_your_key_and_save_holds_to_the_action()
{
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    browser::session(&app, "attribute_picker", |b| async move {
        new_distribution(
            &b,
            "customer.segment.entered",
            "Send and publish unique codes from campaign",
        )
        .await;
        await_keys(&b, "customer.segment.entered", "SEND_AND_PUBLISH_CODES").await;
        b.click("#ch0-mode-attributes").await;
        let picker = b
            .group("Select the attributes to add them to the webhook payload")
            .await;
        let voucher = b.labelled("voucher").await;
        assert!(b.contains(&picker, &voucher).await);
        assert!(
            !b.exists("[data-key-tree] input[value='promotion_tier']")
                .await,
            "a promotion tier comes with promotions only"
        );

        // Open `customer`, tick its name and send it under your own key.
        b.el("button[aria-label='Show the keys of customer']")
            .await
            .click()
            .await
            .unwrap();
        b.labelled("customer.name").await.click().await.unwrap();
        b.labelled("Your key for customer.name")
            .await
            .send_keys("user.name")
            .await
            .unwrap();
        b.el("button[aria-label='Show the keys of voucher']")
            .await
            .click()
            .await
            .unwrap();
        let code = b.labelled("voucher.code").await;
        code.click().await.unwrap();
        let preview = await_preview(&b).await;
        assert!(preview["channels"][0]["error"].is_null(), "{preview}");
        let output = b.text("[data-output='0']").await;
        assert!(output.contains("\"user\": {\n"), "{output}");
        assert!(output.contains("\"voucher\": {\n"), "{output}");
        doc_picture(&b, "[data-key-picker]", "attribute-picker").await;

        // A plain message gets no published voucher: the picker stops offering it, and the
        // ticked one is flagged, naming the key and the action, and refused on save.
        b.labelled("Send plain message to customers")
            .await
            .click()
            .await
            .unwrap();
        await_keys(&b, "customer.segment.entered", "SEND_PLAIN_MESSAGE").await;
        assert!(!b.exists("[data-key-tree] input[value='voucher']").await);
        await_preview(&b).await;
        let flagged = b.text("[data-error-for='ch0.attributes']").await;
        assert!(
            flagged.contains("voucher.code") && flagged.contains("SEND_PLAIN_MESSAGE"),
            "{flagged}"
        );
        b.click("#save-distribution").await;
        b.ready("form[data-designer] .has-error").await;
        let refused = b.text("[data-error-for='ch0.attributes']").await;
        assert!(refused.contains("voucher.code"), "{refused}");
        // Back to publishing codes, untick the voucher's code: its row goes.
        b.labelled("Send and publish unique codes from campaign")
            .await
            .click()
            .await
            .unwrap();
        await_keys(&b, "customer.segment.entered", "SEND_AND_PUBLISH_CODES").await;
        b.el("button[aria-label='Show the keys of voucher']")
            .await
            .click()
            .await
            .unwrap();
        b.labelled("voucher.code").await.click().await.unwrap();
        let rows = b
            .script(
                "return [...document.querySelectorAll('[data-attr-row] input[data-key-search]')]
                   .map(i => i.value);",
            )
            .await;
        assert_eq!(rows, json!(["customer.name"]), "the voucher's row went");
        let preview = await_preview(&b).await;
        assert!(preview["channels"][0]["error"].is_null(), "{preview}");
        assert!(!b.text("[data-output='0']").await.contains("voucher"));
        b.click("#save-distribution").await;
        b.text_with("#flash", "created").await;

        // The saved distribution's page ticks what it sends.
        b.click("table.distributions tbody tr a[href$='/edit']")
            .await;
        b.ready("form[data-designer]").await;
        await_keys(&b, "customer.segment.entered", "SEND_AND_PUBLISH_CODES").await;
        b.el("button[aria-label='Show the keys of customer']")
            .await
            .click()
            .await
            .unwrap();
        assert!(b
            .labelled("customer.name")
            .await
            .is_selected()
            .await
            .unwrap());
        assert!(b.text("[data-output='0']").await.contains("\"user\": {"));
    })
    .await;
    let list = app
        .project_api(reqwest::Method::GET, "/v1/distributions", None)
        .await;
    let saved = &list.expect(200)["data"][0];
    assert_eq!(saved["action"], "SEND_AND_PUBLISH_CODES");
    assert_eq!(
        saved["channels"][0]["payload"]["attributes"],
        json!([{"path": "customer.name", "key": "user.name"}])
    );
}
