//! Recovering in one step (issue 18 item 6): `POST …/webhooks/{id}/recover` turns a webhook
//! sendout disabled on again and retries what failed while it was off; bad input is refused
//! in the Voucherify error shape and changes nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::receiver::{Behaviour, Receiver, Reply};
use crate::helpers::smtp::SmtpPeer;
use crate::notices::mail::{mail_through, tell};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn recovering_a_disabled_webhook_enables_it_and_sends_what_failed_again() {
    let folder = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start_on(folder.path(), 0).await;
    let app = TestApp::spawn_with(|c| mail_through(c, &peer)).await;
    tell(&app, &["ops@shop.test"]).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::gone()));
    let hook = app
        .create_webhook(json!({"target_url": receiver.url("/shop"), "events": ["*"]}))
        .await;
    let path = app.webhook_path(&hook);
    app.ingest(&json!({"type": "voucher.published", "data": {"n": 1}}))
        .await
        .expect(202);
    // The disabling's mail is written with it: once it is out, the webhook is off.
    peer.wait_for(1, WAIT).await;
    let off = app.management(Method::GET, &path, None).await;
    assert_eq!(off.expect(200)["active"], false);
    let failed = app.send_outs("?status=FAILED").await;
    let failed_at = failed["data"][0]["created_at"].as_str().unwrap().to_owned();

    // Bad input changes nothing.
    let recover = format!("{path}/recover");
    for (body, key) in [
        (json!({"since": "yesterday"}), "invalid_payload"),
        (json!({"sinse": "2024-01-01T00:00:00Z"}), "invalid_payload"),
    ] {
        app.management(Method::POST, &recover, Some(&body))
            .await
            .expect_error(400, key);
    }
    let still = app.management(Method::GET, &path, None).await;
    assert_eq!(still.expect(200)["active"], false);

    receiver.set_default(Behaviour::always(Reply::ok()));
    let done = app
        .management(Method::POST, &recover, Some(&json!({})))
        .await;
    let done = done.expect(200);
    assert_eq!(done["object"], "webhook_recovery");
    assert_eq!(done["webhook"]["active"], true);
    assert_eq!(done["webhook"]["disabled_reason"], serde_json::Value::Null);
    assert_eq!(done["requeued"], 1);
    assert!(
        done["since"].as_str().unwrap() <= failed_at.as_str(),
        "{done} reaches back to {failed_at}"
    );
    // The failed send out is delivered again, the same body.
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[0].body, got[1].body);

    // A `since` after it retries nothing.
    let later = app
        .management(
            Method::POST,
            &recover,
            Some(&json!({"since": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(later.expect(200)["requeued"], 0);
    let unknown = format!(
        "/management/v1/projects/{}/webhooks/wh_01hzx3r8k2m4n6p8q0s2t4v6w8/recover",
        app.project.id
    );
    app.management(Method::POST, &unknown, Some(&json!({})))
        .await
        .expect_error(404, "not_found");
}
