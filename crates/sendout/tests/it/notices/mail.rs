//! Mails, in process: the app on port 0 with SMTP pointed at the loopback peer.

use std::time::Duration;

use reqwest::Method;
use sendout::config::{Config, Secret, Smtp};
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::harness::schedule;
use crate::helpers::process::refused_start;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::smtp::SmtpPeer;

/// How long a test waits for a mail.
const MAILED: Duration = Duration::from_secs(30);
pub const FROM: &str = "sendout <sendout@test.example>";

/// Email through `peer`, notices looked at every 50 ms, links to `https://sendout.test`.
pub fn mail_through(config: &mut Config, peer: &SmtpPeer) {
    config.notices.smtp = Some(Smtp {
        url: Secret::new(peer.url()),
        from: FROM.parse().expect("a mailbox"),
    });
    config.notices.interval = Duration::from_millis(50);
    config.notices.mail_retry = Duration::from_millis(50);
    config.notices.public_url = "https://sendout.test".into();
}

/// Asks for mails about the default project's webhooks to `emails`.
pub async fn tell(app: &TestApp, emails: &[&str]) {
    let path = format!("/management/v1/projects/{}", app.project.id);
    let change =
        json!({"webhooks_callout_notifications": {"webhooks": {"email": true, "emails": emails}}});
    app.management(Method::PUT, &path, Some(&change))
        .await
        .expect(200);
}

async fn webhook_to(app: &TestApp, url: &str, events: &[&str]) -> Value {
    app.create_webhook(json!({"target_url": url, "events": events}))
        .await
}

#[tokio::test]
async fn a_disabled_webhook_is_mailed_once_saying_what_why_since_when_and_how_to_recover() {
    let folder = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start_on(folder.path(), 0).await;
    // Retries run out after 3 attempts; a warning would need a 4th.
    let app = TestApp::spawn_with(|c| {
        mail_through(c, &peer);
        c.notices.failing_attempts = None;
    })
    .await;
    tell(&app, &["ops@shop.test", "dev@shop.test"]).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(
        Reply::status(500).body("the shop is down"),
    ));
    let hook = webhook_to(&app, &receiver.url("/orders"), &["*"]).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    app.ingest(&json!({"type": "voucher.published", "data": {}}))
        .await
        .expect(202);

    let mails = peer.wait_for(1, MAILED).await;
    let mail = &mails[0];
    assert_eq!(mail.envelope_from, "sendout@test.example");
    assert_eq!(mail.envelope_to, ["ops@shop.test", "dev@shop.test"]);
    assert_eq!(
        mail.subject,
        "sendout disabled a webhook of Default project"
    );
    assert_eq!(mail.header("from"), Some(FROM));
    let project = &app.project.id;
    for part in [
        format!("webhook {id} ({})", receiver.url("/orders")),
        "Why: gave up after 3 attempts: the target answered 500".to_owned(),
        "Since: ".to_owned(),
        "Last response: HTTP 500: the shop is down".to_owned(),
        format!(
            "Failed send outs: https://sendout.test/dashboard/projects/{project}/audit-log?source={id}&status=FAILED"
        ),
        format!("/management/v1/projects/{project}/webhooks/{id}/recover"),
    ] {
        assert!(mail.body.contains(&part), "{part:?} in:\n{}", mail.body);
    }
    let stored = app
        .management(Method::GET, &app.webhook_path(&hook), None)
        .await;
    assert_eq!(stored.expect(200)["active"], false);

    // Re-enabled: one more mail, and the first one was not sent again before it.
    app.management(
        Method::PUT,
        &app.webhook_path(&hook),
        Some(&json!({"target_url": receiver.url("/orders"), "events": ["*"], "active": true})),
    )
    .await
    .expect(200);
    let mails = peer.wait_for(2, MAILED).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(
        mails[1].subject,
        "A webhook of Default project is enabled again"
    );
    assert!(mails[1].body.contains(&id));
}

#[tokio::test]
async fn a_failing_webhook_is_warned_about_once_per_incident_before_it_is_disabled() {
    let folder = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start_on(folder.path(), 0).await;
    // Two retries, the second an hour away: half of them are used after the second attempt.
    let app = TestApp::spawn_with(|c| {
        c.retry = schedule("50ms,1h");
        mail_through(c, &peer);
        c.notices.failing_attempts = Some(2);
    })
    .await;
    tell(&app, &["ops@shop.test"]).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::status(503)));
    let first = webhook_to(&app, &receiver.url("/first"), &["voucher.published"]).await;
    let second = webhook_to(&app, &receiver.url("/second"), &["voucher.created"]).await;
    for _ in 0..2 {
        app.ingest(&json!({"type": "voucher.published", "data": {}}))
            .await
            .expect(202);
    }
    let warned = peer.wait_for(1, MAILED).await;
    assert_eq!(warned[0].subject, "A target of Default project is failing");
    assert!(warned[0].body.contains(first["id"].as_str().unwrap()));
    assert!(warned[0].body.contains("Last response: HTTP 503"));

    // The second webhook's warning comes after any the first could get again: there is
    // none, its two failing send outs are one incident.
    app.ingest(&json!({"type": "voucher.created", "data": {}}))
        .await
        .expect(202);
    let mails = peer.wait_for(2, MAILED).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails[1].body.contains(second["id"].as_str().unwrap()));
    assert!(!mails[1].body.contains(first["id"].as_str().unwrap()));
}

/// Bad SMTP settings stop sendout at start with the setting named (never the password), and
/// nothing is created in the data directory.
#[tokio::test]
async fn bad_smtp_settings_are_refused_at_start_and_change_nothing() {
    for (env, named) in [
        (
            [
                ("SENDOUT_SMTP_URL", "ftp://user:s3cret-pw@mail.test"),
                ("SENDOUT_SMTP_FROM", "s@test.example"),
            ],
            "SENDOUT_SMTP_URL",
        ),
        (
            [
                ("SENDOUT_SMTP_URL", "smtp://127.0.0.1:2525"),
                ("SENDOUT_SMTP_FROM", "not an address"),
            ],
            "SENDOUT_SMTP_FROM",
        ),
        (
            [
                ("SENDOUT_SMTP_URL", "smtps://user:s3cret-pw@127.0.0.1"),
                ("SENDOUT_SMTP_FROM", ""),
            ],
            "SENDOUT_SMTP_FROM",
        ),
    ] {
        let (stderr, created) = refused_start(&env).await;
        assert!(stderr.contains(named), "{env:?}: {stderr}");
        assert!(!stderr.contains("s3cret-pw"), "{env:?}: {stderr}");
        assert!(created.is_empty(), "{env:?}: {created:?}");
    }
}
