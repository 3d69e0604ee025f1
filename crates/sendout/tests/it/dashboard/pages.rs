//! Every main page at laptop and phone widths, and signing out, in a real browser.
//!
//! The laptop-width captures are the README's pictures: with `SENDOUT_DOC_SCREENSHOTS=1` the
//! test also writes them to `docs/screenshots/`.

use std::path::PathBuf;

use serde_json::json;

use crate::dashboard::browser::{self, screenshot_dir, Browser};
use crate::dashboard::distributions::await_preview;
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::DELIVERY;

/// A phone's viewport (CSS pixels).
const PHONE: (u32, u32) = (390, 844);
const LAPTOP: (u32, u32) = (1280, 800);

/// An app with some history: three webhooks (one failing), send outs of every outcome,
/// then frozen (workers stopped gracefully) so the pages show settled data.
async fn app_with_history() -> (TestApp, Receiver) {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.on("/crm", Behaviour::always(Reply::ok()));
    receiver.on(
        "/billing",
        Behaviour::always(Reply::status(500).body("upstream unavailable")),
    );
    app.create_webhook(json!({"target_url": receiver.url("/crm"), "events": ["voucher.published", "redemption.succeeded", "customer.created"], "headers": {"x-tenant": "acme"}, "description": "CRM sync"}))
        .await;
    app.create_webhook(
        json!({"target_url": receiver.url("/billing"), "events": ["customer.created"]}),
    )
    .await;
    app.create_webhook(
        json!({"target_url": "https://hooks.example.com/all", "events": ["*"], "active": false}),
    )
    .await;
    for event in [
        "voucher.published",
        "redemption.succeeded",
        "customer.created",
        "redemption.succeeded",
    ] {
        app.ingest(&json!({"type": event, "data": {}}))
            .await
            .expect(202);
    }
    // 4 deliveries to /crm, and 3 attempts to /billing (two retries), which then gives up.
    receiver.wait_for(7, DELIVERY).await;
    let app = app.restart(|c| c.workers = false).await;
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let distribution = json!({
        "name": "Order paid to CRM",
        "trigger": {"event": "customer.order.paid"},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [{"event_name": "Order-paid", "url": receiver.url("/crm/orders"),
            "headers": {"x-crm-key": "abc"},
            "payload": {"mode": "custom", "template": "{\"order\": {\"id\": \"{{order.id}}\", \"total\": {{order.total_amount}}},\n \"greeting\": \"Thank you for your order, {{customer.name}}!\"}"}}]
    });
    app.project_api(
        reqwest::Method::POST,
        "/v1/distributions",
        Some(&distribution),
    )
    .await
    .expect(200);
    (app, receiver)
}

/// Makes the page's viewport `width` × `height` CSS pixels (the window adds its own frame).
async fn set_viewport(b: &Browser, width: u32, height: u32) {
    b.client.set_window_size(width, height).await.unwrap();
    let inner = b
        .script("return [window.innerWidth, window.innerHeight];")
        .await;
    let frame = |i: usize, want: u32| want.saturating_sub(inner[i].as_u64().unwrap_or(0) as u32);
    let (dw, dh) = (frame(0, width), frame(1, height));
    if dw > 0 || dh > 0 {
        b.client
            .set_window_size(width + dw, height + dh)
            .await
            .unwrap();
    }
}

/// Fails if the page scrolls sideways (tables may scroll inside their own box), naming the
/// elements that stick out.
async fn assert_fits(b: &Browser, page: &str) {
    let found = b
        .script(
            "const w = window.innerWidth;
             if (document.documentElement.scrollWidth <= w) return null;
             return [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap, pre'))
               .slice(0, 5)
               .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
               .concat(['scrollWidth ' + document.documentElement.scrollWidth + ' > ' + w]);",
        )
        .await;
    assert!(found.is_null(), "{page} is wider than the screen: {found}");
}

#[tokio::test]
async fn the_main_pages_fit_laptop_and_phone_widths() {
    let (app, _receiver) = app_with_history().await;
    let send_out = app.send_outs("?status=FAILED").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let distributions = app
        .project_api(reqwest::Method::GET, "/v1/distributions", None)
        .await;
    let distribution = distributions.expect(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = app.project.id.clone();
    let docs = std::env::var_os("SENDOUT_DOC_SCREENSHOTS")
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"));
    browser::session(&app, "main_pages", |b| async move {
        let pages = [
            ("login", "/dashboard/login".to_owned()),
            (
                "project-settings",
                format!("/dashboard/projects/{project}/settings#webhooks"),
            ),
            (
                "add-webhook",
                format!("/dashboard/projects/{project}/webhooks/new"),
            ),
            (
                "audit-log",
                format!("/dashboard/projects/{project}/audit-log"),
            ),
            (
                "show-data",
                format!("/dashboard/projects/{project}/audit-log/{send_out}"),
            ),
            (
                "distributions",
                format!("/dashboard/projects/{project}/distributions"),
            ),
            ("notices", format!("/dashboard/projects/{project}/notices")),
            (
                "distribution-designer",
                format!(
                    "/dashboard/projects/{project}/distributions/{distribution}/edit#channel-0"
                ),
            ),
        ];
        for (i, (name, path)) in pages.iter().enumerate() {
            if i == 1 {
                b.sign_in().await;
            }
            set_viewport(&b, LAPTOP.0, LAPTOP.1).await;
            b.goto(path).await;
            if path.ends_with("#channel-0") {
                b.ready("form[data-designer]").await;
                await_preview(&b).await;
                assert!(b
                    .text("[data-output='0']")
                    .await
                    .contains("Thank you for your order"));
            }
            assert_fits(&b, name).await;
            if let Some(dir) = &docs {
                b.save_screenshot(dir, name).await.unwrap();
            }
            set_viewport(&b, PHONE.0, PHONE.1).await;
            b.goto(path).await;
            if path.ends_with("#channel-0") {
                b.ready("form[data-designer]").await;
                await_preview(&b).await;
            }
            assert_fits(&b, name).await;
            b.save_screenshot(&screenshot_dir(), &format!("phone-{name}"))
                .await
                .unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn after_signing_out_the_dashboard_refuses_until_signing_in_again() {
    let app = TestApp::spawn().await;
    let settings = format!("/dashboard/projects/{}/settings", app.project.id);
    browser::session(&app, "signs_out", |b| async move {
        b.sign_in().await;
        b.click("#logout").await;
        assert!(b.text(".flash").await.contains("You have signed out."));
        assert!(b.path().await.starts_with("/dashboard/login"));
        b.goto(&settings).await;
        assert!(
            b.path().await.starts_with("/dashboard/login?next="),
            "refused: {}",
            b.path().await
        );
        // No mouse: type into the fields (sent as key events) and submit with Enter. (Moving
        // between controls with Tab, the row menus and the delete confirmation are not
        // driven by keyboard here.)
        b.el("#management_id")
            .await
            .send_keys(crate::helpers::app::MANAGEMENT_ID)
            .await
            .unwrap();
        b.el("#management_token")
            .await
            .send_keys(&format!(
                "{}\u{E007}",
                crate::helpers::app::MANAGEMENT_TOKEN
            ))
            .await
            .unwrap();
        b.el("#logout").await;
        assert_eq!(
            b.path().await,
            settings,
            "back where the person wanted to go"
        );
    })
    .await;
}

#[tokio::test]
async fn signing_in_lands_on_the_only_projects_settings_or_on_the_projects_with_their_failures() {
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::status(500)));
    let app = TestApp::spawn_with(|c| {
        c.retry = sendout_core::retry::RetryPolicy::parse_schedule("none").unwrap();
    })
    .await;
    let settings = format!("/dashboard/projects/{}/settings", app.project.id);
    browser::session(&app, "lands_on_the_only_project", |b| async move {
        b.sign_in().await;
        b.el("#webhooks-heading").await;
        assert_eq!(b.path().await, settings);
    })
    .await;

    // A second project; the default one gets two webhooks, one failing send out, and the
    // webhook that failed is disabled (no retries).
    let other = app.create_project("Second shop").await;
    app.create_webhook(
        json!({"target_url": receiver.url("/bad"), "events": ["voucher.published"]}),
    )
    .await;
    app.create_webhook(
        json!({"target_url": receiver.url("/idle"), "events": ["customer.created"]}),
    )
    .await;
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    receiver.wait_for(1, crate::helpers::DELIVERY).await;
    let app = app.restart(|c| c.workers = false).await;
    let default = app.project.id.to_string();
    browser::session(&app, "lands_on_the_projects", |b| async move {
        b.sign_in().await;
        b.el("table.projects").await;
        assert_eq!(b.path().await, "/dashboard");
        let mine = format!("tr[data-project='{default}']");
        let theirs = format!("tr[data-project='{}']", other.id);
        let row = b.text(&mine).await;
        assert!(row.contains("Default project"), "{row}");
        assert_eq!(
            b.text(&format!("{mine} [data-webhooks]")).await,
            "2 1 inactive"
        );
        assert_eq!(b.text(&format!("{mine} [data-failures]")).await, "1 failed");
        assert_eq!(b.text(&format!("{theirs} [data-webhooks]")).await, "0");
        assert_eq!(b.text(&format!("{theirs} [data-failures]")).await, "none");
        // Each project's sections are there to pick, named as the tabs inside it are.
        let sections = format!("{theirs} nav[aria-label='Sections of Second shop']");
        let names: Vec<String> = {
            let mut names = Vec::new();
            for link in b.all(&format!("{sections} a")).await {
                names.push(link.text().await.unwrap());
            }
            names
        };
        assert_eq!(names, ["Project settings", "Audit log", "Distributions"]);
        b.button_in(&sections, "Audit log")
            .await
            .click()
            .await
            .unwrap();
        b.el("#apply-filters").await;
        assert_eq!(
            b.path().await,
            format!("/dashboard/projects/{}/audit-log", other.id)
        );
        assert!(b.exists("nav.tabs[aria-label='Project sections']").await);

        // The failures link opens them in the audit log.
        b.goto("/dashboard").await;
        b.click(&format!("{mine} [data-failures] a")).await;
        b.text_with("#sendouts-total", "1 send out match").await;
        assert!(b.path().await.contains("status=FAILED"));
    })
    .await;
}

#[tokio::test]
async fn the_signing_secret_is_the_secret_key_as_the_seeds_call_it_and_says_what_it_is_for() {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let token = app.project.webhook_token.clone();
    browser::session(&app, "secret_key", |b| async move {
        b.sign_in().await;
        let section = b.region("Secret key").await;
        let shown = section.text().await.unwrap();
        // seeds/000: "enter the Secret key in your system to receive webhooks".
        for says in [
            "enter this secret key there, in the code that receives webhooks",
            "x-voucherify-signature",
            "webhook-signature",
            "webhook_token",
        ] {
            assert!(shown.contains(says), "{says:?} in {shown}");
        }
        assert!(!shown.contains(&token), "hidden until revealed");
        let reveal = b.button_in("#secret-key", "Reveal the secret key").await;
        reveal.click().await.unwrap();
        assert_eq!(b.text("#secret-key-value").await, token);
        assert!(b
            .button_in("#secret-key", "Rotate the secret key…")
            .await
            .is_displayed()
            .await
            .unwrap());
    })
    .await;
}
