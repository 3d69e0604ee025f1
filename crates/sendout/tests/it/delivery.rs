//! Delivery end to end: the real SQLite store, the real `Deliverer` and worker, and a real HTTP
//! receiver. Every request goes to 127.0.0.0/8 (or `localhost`); other address classes are
//! tested as pure functions in `delivery::ssrf`. Retries use a short configured schedule with
//! no jitter; assertions are about order and lower bounds, never tight timings.

use crate::helpers;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use helpers::harness::{schedule, Harness, WAIT};
use helpers::receiver::{Behaviour, Receiver, Reply};
use sendout::delivery::USER_AGENT;
use sendout_core::signature::{verify_standard, verify_voucherify, StandardSecret};
use sendout_core::time::Timestamp;
use sendout_store::{Claim, Next, SendOutStatus, WebhookFields};

fn only<T: std::fmt::Debug>(mut items: Vec<T>) -> T {
    assert_eq!(items.len(), 1, "expected exactly one: {items:?}");
    items.remove(0)
}

#[tokio::test]
async fn a_delivery_carries_the_stored_body_and_both_signatures_verify() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    // By name, so the connect-time check of resolved addresses is on the path.
    let url = format!("http://localhost:{}/hook", receiver.addr().port());
    let headers = BTreeMap::from([("x-tenant".to_owned(), "acme".to_owned())]);
    app.webhook_with_headers(&url, headers).await;
    let send_out = only(app.emit().await);

    let worker = app.start_worker();
    let got = only(receiver.wait_for(1, WAIT).await);
    worker.stop().await;

    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/hook");
    assert_eq!(got.body_text(), send_out.body);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("user-agent"), Some(USER_AGENT));
    assert_eq!(got.header("webhook-id"), Some(send_out.id.as_str()));
    assert_eq!(got.header("x-tenant"), Some("acme"));
    assert_eq!(got.header("x-voucherify-signature-previous"), None);
    let token = &app.project.webhook_token;
    let voucherify = got.header("x-voucherify-signature").expect("signed");
    assert!(verify_voucherify(token, &got.body, voucherify));
    let timestamp = got.header("webhook-timestamp").expect("timestamp");
    let signature = got.header("webhook-signature").expect("signature");
    assert_eq!(signature.split(' ').count(), 1);
    let secret = StandardSecret::parse(&StandardSecret::from_webhook_token(token).to_whsec())
        .expect("the whsec_ form");
    let now = Timestamp::now().as_secs();
    assert_eq!(
        verify_standard(
            &secret,
            send_out.id.as_str(),
            timestamp,
            signature,
            &got.body,
            now
        ),
        Ok(())
    );

    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Succeeded);
    let attempt = only(attempts);
    assert_eq!((attempt.number, attempt.response_status), (1, Some(200)));
    assert!(attempt.succeeded && attempt.error.is_none());
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_on_schedule() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::fail_then_succeed(2, Reply::status(500)));
    app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);

    let worker = app.start_worker();
    let got = receiver.wait_for(3, WAIT).await;
    worker.stop().await;

    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.body_text() == send_out.body));
    for pair in got.windows(2) {
        // 50 ms after the previous attempt ended (timestamps are whole milliseconds).
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(45));
    }
    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Succeeded);
    assert_eq!(stored.attempts, 3);
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.number, a.response_status, a.succeeded))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Some(500), false),
            (2, Some(500), false),
            (3, Some(200), true)
        ]
    );
}

#[tokio::test]
async fn exhausting_the_retries_fails_the_send_out_and_disables_the_webhook() {
    let app = Harness::with(|c| c.retry = schedule("50ms,50ms")).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::status(500)));
    let webhook = app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);

    let worker = app.start_worker();
    receiver.wait_for(3, WAIT).await;
    worker.stop().await;

    assert_eq!(receiver.count(), 3);
    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Failed);
    assert_eq!(attempts.len(), 3);
    let reason = "gave up after 3 attempts: the target answered 500";
    assert_eq!(stored.failure_reason.as_deref(), Some(reason));
    let webhook = app.webhook_now(&webhook).await;
    assert!(!webhook.active);
    assert_eq!(webhook.disabled_reason.as_deref(), Some(reason));
    assert!(webhook.disabled_at.is_some());
}

#[tokio::test]
async fn gone_disables_the_webhook_at_once() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::gone()));
    let webhook = app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);

    only(app.step().await);

    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Failed);
    assert_eq!(only(attempts).response_status, Some(410));
    let webhook = app.webhook_now(&webhook).await;
    assert!(!webhook.active);
    assert!(webhook
        .disabled_reason
        .expect("a reason")
        .contains("410 Gone"));
}

#[tokio::test]
async fn a_timeout_is_recorded_as_an_error_and_retried() {
    let app = Harness::with(|c| c.delivery_timeout = Duration::from_millis(300)).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::ok().delay(Duration::from_secs(3))));
    app.webhook(&receiver.url("/slow")).await;
    let send_out = only(app.emit().await);

    let completion = only(app.step().await);

    assert!(matches!(completion.next, Next::RetryAt(_)));
    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Retrying);
    let attempt = only(attempts);
    assert_eq!(attempt.response_status, None);
    assert_eq!(attempt.error.as_deref(), Some("timed out after 300 ms"));
    assert!(attempt.duration_ms < 3000, "{}", attempt.duration_ms);
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.on(
        "/hook",
        Behaviour::always(Reply::redirect(receiver.url("/elsewhere"))),
    );
    app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);

    only(app.step().await);

    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Retrying);
    let attempt = only(attempts);
    assert_eq!(attempt.response_status, Some(302));
    assert!(!attempt.succeeded);
    assert!(attempt
        .error
        .expect("an error")
        .contains("redirects are not followed"));
    assert!(receiver.received_on("/elsewhere").is_empty());
}

#[tokio::test]
async fn loopback_targets_are_refused_unless_allowed() {
    let app = Harness::with(|c| c.allowed_target_ranges.clear()).await;
    let receiver = Receiver::start().await;
    let port = receiver.addr().port();
    // An IP literal (checked before sending) and a name (checked when connecting).
    app.webhook(&format!("http://127.0.0.1:{port}/literal"))
        .await;
    app.webhook(&format!("http://localhost:{port}/named")).await;
    let send_outs = app.emit().await;
    assert_eq!(send_outs.len(), 2);

    assert_eq!(app.step().await.len(), 2);

    for send_out in &send_outs {
        let (stored, attempts) = app.send_out(send_out).await;
        assert_eq!(stored.status, SendOutStatus::Retrying);
        let attempt = only(attempts);
        assert_eq!(attempt.response_status, None);
        let error = attempt.error.expect("an error");
        assert!(error.contains("is not allowed (loopback)"), "{error}");
        assert!(!error.contains(&app.project.webhook_token));
    }
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn only_the_first_4_kib_of_a_response_is_kept() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::big_body(1024 * 1024)));
    app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);

    only(app.step().await);

    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Succeeded);
    let body = only(attempts).response_body.expect("a body");
    assert_eq!(body.len(), 4096);
    assert!(body.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_cap() {
    let app = Harness::with(|c| {
        c.retry = schedule("50ms,50ms").with_retry_after_cap(Duration::from_secs(2));
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.on("/soon", Behaviour::always(Reply::retry_after(503, "1")));
    receiver.on("/later", Behaviour::always(Reply::retry_after(429, "3600")));
    let soon = app.webhook(&receiver.url("/soon")).await;
    let later = app.webhook(&receiver.url("/later")).await;
    let send_outs = app.emit().await;

    let completions = app.step().await;

    for (webhook, wait_ms) in [(&soon, 1000), (&later, 2000)] {
        let send_out = send_outs
            .iter()
            .find(|s| s.source_id.as_str() == webhook.id.as_str())
            .expect("a send out per webhook");
        let completion = completions
            .iter()
            .find(|c| c.send_out_id == send_out.id)
            .expect("a completion per send out");
        let expected = completion.at.plus_millis(wait_ms);
        assert_eq!(completion.next, Next::RetryAt(expected));
        let (stored, _) = app.send_out(send_out).await;
        assert_eq!(stored.next_attempt_at, Some(expected));
    }
}

#[tokio::test]
async fn an_inactive_webhook_fails_its_send_outs_without_a_request() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    let webhook = app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);
    app.store
        .update_webhook(
            &app.project.id,
            &webhook.id,
            WebhookFields {
                target_url: webhook.target_url.clone(),
                events: webhook.events.clone(),
                active: false,
                headers: webhook.headers.clone(),
                public_headers: Default::default(),
                description: None,
            },
        )
        .await
        .expect("disable the webhook");

    let completion = only(app.step().await);

    assert!(completion.attempt.is_none());
    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Failed);
    assert_eq!(
        stored.failure_reason.as_deref(),
        Some("target inactive: the webhook is disabled")
    );
    assert!(attempts.is_empty());
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn a_manual_retry_is_sent_even_to_an_inactive_webhook() {
    let app = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::gone()));
    let webhook = app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);
    only(app.step().await);
    assert!(!app.webhook_now(&webhook).await.active);
    receiver.set_default(Behaviour::always(Reply::ok()));

    let claim = app
        .store
        .claim_one(
            &app.project.id,
            &send_out.id,
            Timestamp::now(),
            app.config.lease,
        )
        .await
        .expect("claim")
        .expect("not held by anyone");
    assert!(!claim.target_active);
    let completion = app.deliverer.attempt_manual(&claim).await;
    app.store
        .complete(vec![completion])
        .await
        .expect("complete");

    assert_eq!(receiver.count(), 2);
    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Succeeded);
    assert_eq!(attempts.len(), 2);
    // The manual attempt does not re-enable the webhook: that is a person's decision.
    assert!(!app.webhook_now(&webhook).await.active);
}

#[tokio::test]
async fn during_a_secret_rotation_both_secrets_sign() {
    let app = Harness::new().await;
    let old = app.project.webhook_token.clone();
    let new = "a-brand-new-webhook-token";
    let grace = Timestamp::now().plus_millis(3_600_000);
    app.store
        .rotate_webhook_token(&app.project.id, new, grace)
        .await
        .expect("rotate");
    let receiver = Receiver::start().await;
    app.webhook(&receiver.url("/hook")).await;
    let send_out = only(app.emit().await);

    only(app.step().await);

    let got = only(receiver.received());
    let signature = got.header("webhook-signature").expect("signature");
    assert_eq!(signature.split(' ').count(), 2);
    let timestamp = got.header("webhook-timestamp").expect("timestamp");
    let now = Timestamp::now().as_secs();
    for token in [old.as_str(), new] {
        let secret = StandardSecret::from_webhook_token(token);
        let id = send_out.id.as_str();
        assert_eq!(
            verify_standard(&secret, id, timestamp, signature, &got.body, now),
            Ok(()),
            "{token}"
        );
    }
    let current = got.header("x-voucherify-signature").expect("signed");
    assert!(verify_voucherify(new, &got.body, current));
    let previous = got
        .header("x-voucherify-signature-previous")
        .expect("the previous secret's signature");
    assert!(verify_voucherify(&old, &got.body, previous));
}

#[tokio::test]
async fn a_slow_host_does_not_hold_up_another() {
    let app = Harness::with(|c| {
        c.delivery_concurrency = 8;
        c.delivery_concurrency_per_host = 1;
    })
    .await;
    let slow = Receiver::start().await;
    slow.set_default(Behaviour::always(
        Reply::ok().delay(Duration::from_millis(1500)),
    ));
    let fast = Receiver::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await;
    app.webhook(&slow.url("/hook")).await;
    app.webhook(&fast.url("/hook")).await;
    for _ in 0..4 {
        app.emit().await;
    }

    let worker = app.start_worker();
    fast.wait_for(4, WAIT).await;
    // One at a time to the slow host, 1.5 s each: it cannot have got far.
    let slow_so_far = slow.count();
    worker.stop().await;

    assert!(
        slow_so_far < 3,
        "the slow host got {slow_so_far} requests first"
    );
}

/// Claims what is due now and free, as another worker would.
async fn due_now(app: &Harness) -> Vec<Claim> {
    app.store
        .claim_due(Timestamp::now(), 10, app.config.lease)
        .await
        .expect("claim")
}

/// A worker room of `concurrency` and one attempt at a time per host, and a webhook to a
/// receiver that answers after `delay`.
async fn one_at_a_time(concurrency: usize, delay: Duration) -> (Harness, Receiver) {
    let app = Harness::with(|c| {
        c.delivery_concurrency = concurrency;
        c.delivery_concurrency_per_host = 1;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behaviour::always(Reply::ok().delay(delay)));
    app.webhook(&receiver.url("/hook")).await;
    (app, receiver)
}

#[tokio::test]
async fn shutdown_releases_claims_that_were_not_attempted() {
    let (app, receiver) = one_at_a_time(2, Duration::from_millis(300)).await;
    let mut send_outs = Vec::new();
    for _ in 0..3 {
        send_outs.extend(app.emit().await);
    }

    let worker = app.start_worker();
    receiver.wait_for(1, WAIT).await;
    worker.stop().await;

    // The attempt in flight finished; nothing else was attempted or is still held.
    assert_eq!(receiver.count(), 1);
    let mut succeeded = 0;
    for send_out in &send_outs {
        let (stored, attempts) = app.send_out(send_out).await;
        match stored.status {
            SendOutStatus::Succeeded => succeeded += 1,
            status => {
                assert!(status.is_open(), "{status:?}");
                assert!(attempts.is_empty());
            }
        }
    }
    assert_eq!(succeeded, 1);
    let claimable = due_now(&app).await;
    assert_eq!(claimable.len(), 2, "the unattempted send outs are free");
}

/// Send outs ingest hands to a running worker wait in its inbox while it has no room; a
/// graceful stop gives them back to the store unattempted.
#[tokio::test]
async fn shutdown_releases_handed_over_claims_still_in_the_inbox() {
    let (app, receiver) = one_at_a_time(1, Duration::from_millis(500)).await;
    let worker = app.start_worker();
    for _ in 0..3 {
        app.emit().await;
    }
    receiver.wait_for(1, WAIT).await;
    let meanwhile = due_now(&app).await;
    assert!(meanwhile.is_empty(), "all three are the worker's");
    worker.stop().await;

    assert_eq!(receiver.count(), 1, "only the attempt in flight was made");
    let claimable = due_now(&app).await;
    assert_eq!(claimable.len(), 2, "the two in the inbox are free again");
    for claim in &claimable {
        let (_, attempts) = app.send_out(&claim.send_out).await;
        assert!(attempts.is_empty());
    }
}
