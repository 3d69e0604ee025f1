//! Mails from the real binary: sent once across kill -9 and restarts, and none without SMTP.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::crash::{client, management_call};
use crate::helpers::process::Sendout;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::smtp::SmtpPeer;
use crate::notices::mail::FROM;

pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A project whose webhook notices are mailed to ops@shop.test, with one webhook to
/// `target`; returns the project's id, its key and the webhook's id.
pub(crate) async fn told_project(
    server: &Sendout,
    target: &str,
) -> (String, (String, String), String) {
    let told = json!({"webhooks": {"email": true, "emails": ["ops@shop.test"], "in_app": true}});
    let project = management_call(
        server,
        Method::POST,
        "/management/v1/projects",
        json!({"name": "Shop", "webhooks_callout_notifications": told}),
    )
    .await;
    let id = project["id"].as_str().unwrap().to_owned();
    let key = (
        project["server_side_key"]["app_id"]
            .as_str()
            .unwrap()
            .into(),
        project["server_side_key"]["app_token"]
            .as_str()
            .unwrap()
            .into(),
    );
    let webhook = management_call(
        server,
        Method::POST,
        &format!("/management/v1/projects/{id}/webhooks"),
        json!({"target_url": target, "events": ["*"]}),
    )
    .await;
    (id, key, webhook["id"].as_str().unwrap().to_owned())
}

pub(crate) async fn ingest(server: &Sendout, (app_id, app_token): &(String, String)) {
    let response = client()
        .post(format!("{}/v1/events", server.base_url))
        .header("x-app-id", app_id)
        .header("x-app-token", app_token)
        .header("content-type", "application/json")
        .body(json!({"type": "voucher.published", "data": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

pub(crate) fn env_with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("SENDOUT_ALLOWED_TARGET_RANGES", "127.0.0.0/8"),
        ("SENDOUT_NOTICE_INTERVAL", "50ms"),
        ("SENDOUT_NOTICE_MAIL_RETRY", "50ms"),
        ("SENDOUT_DELIVERY_TIMEOUT", "1s"),
        ("SENDOUT_LEASE", "2s"),
        ("SENDOUT_NOTICE_MAIL_LEASE", "2s"),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn a_notice_is_mailed_once_across_kill_9_and_restarts() {
    let (data, folder) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let env = env_with(&[("SENDOUT_SMTP_URL", &url), ("SENDOUT_SMTP_FROM", FROM)]);
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::gone()));

    // The SMTP server is down: the disabling's mail fails, and waits in the outbox.
    let server = Sendout::start(data.path(), &env).await;
    let (project, key, webhook) = told_project(&server, &receiver.url("/gone")).await;
    ingest(&server, &key).await;
    server
        .stderr
        .wait_for("a notice's mail failed; it is tried again", 1, WAIT)
        .await;
    server.kill().await;

    // Up again, with the SMTP server: the mail goes out, once.
    let peer = SmtpPeer::start_on(folder.path(), port).await;
    let server = Sendout::start(data.path(), &env).await;
    let mails = peer.wait_for(1, WAIT).await;
    assert_eq!(mails[0].subject, "sendout disabled a webhook of Shop");
    assert_eq!(mails[0].envelope_to, ["ops@shop.test"]);
    assert!(mails[0].body.contains(&webhook), "{}", mails[0].body);
    server.stderr.wait_for("notice mailed", 1, WAIT).await;
    server.kill().await;

    // Killed once it was marked sent: the next start does not send it again. Re-enabling
    // makes the next mail, which the outbox sends after anything older still in it.
    let server = Sendout::start(data.path(), &env).await;
    let recovered = management_call(
        &server,
        Method::POST,
        &format!("/management/v1/projects/{project}/webhooks/{webhook}/recover"),
        json!({}),
    )
    .await;
    assert_eq!(recovered["webhook"]["active"], true);
    let mails = peer.wait_for(2, WAIT).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "sendout disabled a webhook of Shop",
            "A webhook of Shop is enabled again"
        ]
    );
    server.terminate().await;
    peer.stop().await;
}

/// Without `SENDOUT_SMTP_URL` the outbox marks the mail skipped, saying why, and never
/// connects anywhere.
#[tokio::test]
async fn without_smtp_configured_no_mail_is_sent_and_the_notice_says_why() {
    let data = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::gone()));
    let server = Sendout::start(data.path(), &env_with(&[])).await;
    let (_, key, _) = told_project(&server, &receiver.url("/gone")).await;
    ingest(&server, &key).await;
    server.stderr.wait_for("notice not mailed", 1, WAIT).await;
    let text = server.stderr.text();
    let line = text
        .lines()
        .find(|l| l.contains("notice not mailed"))
        .unwrap();
    assert!(line.contains("email is off"), "{line}");
    assert_eq!(server.stderr.count("notice mailed"), 0, "{text}");
    server.terminate().await;
}
