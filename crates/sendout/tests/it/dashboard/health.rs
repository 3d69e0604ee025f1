//! Endpoint health in a real browser: the webhooks list's Health column, the webhook's page
//! (figures by window, failures in a row, last success, the chart of the day), and each
//! channel's health on its distribution's page, read by headings, row and column headers.
//! Attempts are manual retries against a real receiver on loopback, so their outcomes are
//! known; no figure depends on the clock. With `SENDOUT_DOC_SCREENSHOTS=1` the webhook's
//! health is saved as `docs/screenshots/webhook-health.png`.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::dashboard::browser::{self, Browser};
use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};

/// The figures of the health section headed `heading`: for each row header (window), each
/// column header's cell, and each term of its facts with its value.
async fn figures(b: &Browser, heading: &str) -> Value {
    b.region(heading).await;
    let script = format!(
        "const h = [...document.querySelectorAll('section h2')].find(e => e.textContent.trim() === {heading:?});
         const section = h.closest('section');
         const cols = [...section.querySelectorAll('table thead th')].map(th => th.textContent.trim());
         const rows = {{}};
         for (const tr of section.querySelectorAll('table tbody tr')) {{
           const cells = [...tr.children];
           const row = {{}};
           cells.forEach((c, i) => {{ if (i > 0) row[cols[i]] = c.textContent.trim(); }});
           rows[cells[0].textContent.trim()] = row;
         }}
         const facts = {{}};
         for (const dt of section.querySelectorAll('dl dt')) facts[dt.textContent.trim()] = dt.nextElementSibling.textContent.trim();
         const caption = section.querySelector('figure figcaption').textContent.replace(/\\s+/g, ' ').trim();
         return {{rows, facts, caption}};"
    );
    b.script(&script).await
}

async fn retry(app: &TestApp, send_out: &str) -> Value {
    let path = format!("/v1/webhook-sendouts/{send_out}/retry");
    app.project_api(Method::POST, &path, None).await.expect(200)["send_out"].clone()
}

#[tokio::test]
async fn a_webhooks_health_shows_in_the_list_and_on_its_page_with_a_chart() {
    let receiver = Receiver::start().await;
    receiver.on(
        "/hook",
        Behaviour::sequence(vec![
            Reply::ok(),
            Reply::ok().delay(Duration::from_millis(300)),
            Reply::ok(),
            Reply::status(500),
            Reply::status(503),
        ]),
    );
    receiver.on("/orders", Behaviour::always(Reply::status(500)));
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let webhook = app
        .create_webhook(json!({"target_url": receiver.url("/hook"), "events": ["*"], "description": "CRM sync"}))
        .await;
    let hook = webhook["id"].as_str().unwrap().to_owned();
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);
    let send_out = app.send_outs("").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut last = Value::Null;
    for _ in 0..5 {
        last = retry(&app, &send_out).await;
    }
    let attempts = last["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 5);
    let last_success = attempts[2]["started_at"].as_str().unwrap().to_owned();

    let made = app
        .project_api(
            Method::POST,
            "/v1/distributions",
            Some(&json!({
                "name": "Order paid to CRM",
                "trigger": {"event": "customer.order.paid"},
                "action": "SEND_PLAIN_MESSAGE",
                "channels": [{"event_name": "Order-paid", "url": receiver.url("/orders"),
                    "payload": {"mode": "full"}}]
            })),
        )
        .await
        .expect(200)
        .clone();
    let distribution = made["id"].as_str().unwrap().to_owned();
    app.ingest(&json!({"type": "customer.order.paid", "data": {}}))
        .await
        .expect(202);
    let channel_send_out = app.send_outs(&format!("?source_id={distribution}")).await["data"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    retry(&app, &channel_send_out).await;

    let project = app.project.id.clone();
    let docs = std::env::var_os("SENDOUT_DOC_SCREENSHOTS")
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"));
    browser::session(&app, "webhook_health", |b| async move {
        b.sign_in().await;
        b.goto(&format!("/dashboard/projects/{project}/settings#webhooks"))
            .await;
        let cell = b
            .script(&format!(
                "const table = document.querySelector('table.webhooks');
                 const col = [...table.querySelectorAll('thead th')].findIndex(th => th.textContent.trim() === 'Health');
                 const row = table.querySelector('tr[data-webhook=\"{hook}\"]');
                 return row.children[col].textContent.replace(/\\s+/g, ' ').trim();"
            ))
            .await;
        let cell = cell.as_str().unwrap_or_default().to_owned();
        assert!(cell.starts_with("60 % · p95 "), "{cell}");
        assert!(cell.contains("5 in 24 h"), "{cell}");
        assert!(cell.contains("2 failures in a row"), "{cell}");

        b.goto(&format!("/dashboard/projects/{project}/webhooks/{hook}/edit"))
            .await;
        let shown = figures(&b, "Health").await;
        for window in ["Last hour", "Last 24 hours"] {
            let row = &shown["rows"][window];
            assert_eq!(row["Attempts"], "5", "{window}: {shown}");
            assert_eq!(row["Success rate"], "60 %", "{window}: {shown}");
            let p95 = row["p95"].as_str().unwrap_or_default();
            let ms: u64 = p95
                .trim_start_matches("≤ ")
                .trim_end_matches(" ms")
                .parse()
                .unwrap_or_else(|_| panic!("p95 reads as a bound: {p95}"));
            assert!(ms >= 362, "the 300 ms answer's bucket or above: {p95}");
        }
        assert_eq!(shown["facts"]["Consecutive failures"], "2", "{shown}");
        let success = shown["facts"]["Last success"].as_str().unwrap_or_default();
        let (date, time) = (&last_success[..10], &last_success[11..19]);
        assert_eq!(success, format!("{date} {time} UTC"));
        let caption = shown["caption"].as_str().unwrap_or_default();
        assert!(
            caption.contains("Last 24 hours: 3 succeeded, 2 failed."),
            "the chart's caption: {caption}"
        );
        if let Some(dir) = &docs {
            b.script("document.getElementById('health').scrollIntoView();")
                .await;
            b.save_screenshot(dir, "webhook-health").await.unwrap();
        }

        b.goto(&format!(
            "/dashboard/projects/{project}/distributions/{distribution}/edit"
        ))
        .await;
        let channel = figures(&b, "Health of channel 1: Order-paid").await;
        assert_eq!(channel["rows"]["Last hour"]["Attempts"], "1", "{channel}");
        assert_eq!(channel["rows"]["Last hour"]["Success rate"], "0 %");
        assert_eq!(channel["facts"]["Consecutive failures"], "1");
        assert_eq!(channel["facts"]["Last success"], "never");
    })
    .await;
}
