//! Receivers that misbehave on purpose (PRODUCT §4, §8): each misbehaviour ends as a failed
//! (or, where the status says so, successful) attempt with the right schedule, nothing a
//! receiver sends is buffered past 4 KiB, and misbehaving hosts do not hold up a
//! well-behaved one. `delivery.rs` covers the plain cases (a 500 retried to success, one
//! redirect, a slow answer timing out, 503/429 `Retry-After`, 4 KiB of a large body, one slow
//! host); this file covers what only a broken server does, the status and `Retry-After`
//! variants, and several hostile hosts at once.
//!
//! Every receiver listens on 127.0.0.0/8; `targets` checks the address rules without sending
//! anything anywhere else.
#![allow(clippy::unwrap_used)]

use crate::helpers;
mod servers;
mod targets;
mod tenants;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use helpers::harness::{Harness, RETRY_MS};
use helpers::receiver::{Behaviour, Receiver, Reply};
use sendout::delivery::MAX_RESPONSE_BODY_BYTES;
use sendout_core::time::Timestamp;
use sendout_store::{Attempt, Completion, Next, SendOut, SendOutStatus};
use servers::{Misbehaviour, RawServer};

/// How long a test waits for something that should take milliseconds.
const WAIT: Duration = Duration::from_secs(20);

/// The delivery harness, with `Retry-After` capped at 5 s (the huge and dated values below
/// must meet the cap), changed further by `adjust`.
async fn hostile(adjust: impl FnOnce(&mut sendout::config::Config)) -> Harness {
    Harness::with(|c| {
        c.retry = c.retry.clone().with_retry_after_cap(Duration::from_secs(5));
        adjust(c);
    })
    .await
}

/// The completion of `send_out` among a step's.
fn completion_of<'a>(completions: &'a [Completion], send_out: &SendOut) -> &'a Completion {
    completions
        .iter()
        .find(|c| c.send_out_id == send_out.id)
        .expect("every due send out was attempted")
}

/// The send out made for the webhook posting to `url`.
fn send_out_to<'a>(send_outs: &'a [SendOut], url: &str) -> &'a SendOut {
    send_outs
        .iter()
        .find(|s| s.target_url == url)
        .expect("a send out per webhook")
}

/// A closed loopback port: bound a moment ago, then released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

#[tokio::test]
async fn broken_servers_end_as_failed_attempts_retried_on_schedule() {
    let app = hostile(|c| c.delivery_timeout = Duration::from_millis(1000)).await;
    let garbage = RawServer::start(Misbehaviour::Garbage).await;
    let reset = RawServer::start(Misbehaviour::Reset).await;
    let silent = RawServer::start(Misbehaviour::Silent).await;
    let trickle = RawServer::start(Misbehaviour::TrickleHead).await;
    let headers = RawServer::start(Misbehaviour::EndlessHeaders).await;
    let plain = RawServer::start(Misbehaviour::PlainHttp).await;
    // Each with the part of its recorded error that says what went wrong.
    let timed_out = "timed out after 1000 ms";
    let cases = [
        (garbage.url("http"), "invalid HTTP"),
        (reset.url("http"), "reset"),
        (silent.url("http"), timed_out),
        (trickle.url("http"), timed_out),
        (headers.url("http"), "too large"),
        // TLS fails in the handshake, which is part of connecting.
        (plain.url("https"), "could not connect: "),
        (
            format!("http://127.0.0.1:{}/hook", closed_port()),
            "refused",
        ),
    ];
    for (url, _) in &cases {
        app.webhook(url).await;
    }
    let send_outs = app.emit().await;

    let completions = app.step().await;

    for (url, error) in &cases {
        let send_out = send_out_to(&send_outs, url);
        let completion = completion_of(&completions, send_out);
        assert_eq!(
            completion.next,
            Next::RetryAt(completion.at.plus_millis(RETRY_MS)),
            "{url}"
        );
        let (stored, attempts) = app.send_out(send_out).await;
        assert_eq!(stored.status, SendOutStatus::Retrying, "{url}");
        let attempt = &attempts[0];
        assert_eq!(
            (attempts.len(), attempt.response_status),
            (1, None),
            "{url}"
        );
        assert!(!attempt.succeeded, "{url}");
        let recorded = attempt.error.as_deref().unwrap_or_default();
        assert!(recorded.contains(error), "{url}: {recorded}");
        if error != &timed_out {
            assert!(!recorded.contains("timed out"), "{url}: {recorded}");
        }
    }
    // The endless header block was given up on, not read to the end.
    headers.wait_abandoned(1, WAIT).await;
    assert!(
        headers.written() < 8 * 1024 * 1024,
        "{} bytes of headers read",
        headers.written()
    );
}

#[tokio::test]
async fn every_status_but_2xx_is_a_failure_and_redirects_lead_nowhere() {
    let app = hostile(|_| {}).await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))).await;
    let cases: Vec<(String, Reply, bool)> = vec![
        ("/s500".into(), Reply::status(500), false),
        ("/s502".into(), Reply::status(502), false),
        ("/s503".into(), Reply::status(503), false),
        ("/s404".into(), Reply::status(404), false),
        ("/s400".into(), Reply::status(400), false),
        (
            "/s301".into(),
            Reply::status(301).header("location", elsewhere.url("/x")),
            false,
        ),
        (
            "/s303".into(),
            Reply::status(303).header("location", elsewhere.url("/x")),
            false,
        ),
        (
            "/s307".into(),
            Reply::status(307).header("location", elsewhere.url("/x")),
            false,
        ),
        (
            "/s308".into(),
            Reply::status(308).header("location", elsewhere.url("/x")),
            false,
        ),
        ("/s202".into(), Reply::status(202), true),
        ("/s204".into(), Reply::status(204), true),
    ];
    for (path, reply, _) in &cases {
        receiver.on(path, Behaviour::always(reply.clone()));
        app.webhook(&receiver.url(path)).await;
    }
    let send_outs = app.emit().await;

    let completions = app.step().await;

    for (path, reply, succeeds) in &cases {
        let send_out = send_out_to(&send_outs, &receiver.url(path));
        let completion = completion_of(&completions, send_out);
        let (stored, attempts) = app.send_out(send_out).await;
        assert_eq!(attempts[0].response_status, Some(reply.status), "{path}");
        if *succeeds {
            assert_eq!(completion.next, Next::Succeeded, "{path}");
            assert_eq!(stored.status, SendOutStatus::Succeeded, "{path}");
        } else {
            let at = completion.at.plus_millis(RETRY_MS);
            assert_eq!(completion.next, Next::RetryAt(at), "{path}");
            assert_eq!(stored.status, SendOutStatus::Retrying, "{path}");
            let error = attempts[0].error.clone().unwrap_or_default();
            assert!(error.contains(&reply.status.to_string()), "{path}: {error}");
        }
    }
    assert_eq!(elsewhere.count(), 0, "a redirect was followed");
}

#[tokio::test]
async fn retry_after_lengthens_the_wait_only_on_429_and_503_and_only_when_it_makes_sense() {
    let app = hostile(|_| {}).await;
    let receiver = Receiver::start().await;
    let in_3s = chrono::Utc::now() + chrono::Duration::seconds(3);
    let long_ago = "Wed, 21 Oct 2015 07:28:00 GMT";
    // (path, reply, the least and the most wait it may give, in ms)
    let cases: Vec<(&str, Reply, i64, i64)> = vec![
        ("/seconds", Reply::retry_after(429, "2"), 2000, 2000),
        (
            "/date",
            Reply::retry_after(503, in_3s.to_rfc2822()),
            1000,
            3000,
        ),
        (
            "/past",
            Reply::retry_after(429, long_ago),
            RETRY_MS,
            RETRY_MS,
        ),
        (
            "/garbage",
            Reply::retry_after(429, "soon, maybe"),
            RETRY_MS,
            RETRY_MS,
        ),
        (
            "/negative",
            Reply::retry_after(503, "-30"),
            RETRY_MS,
            RETRY_MS,
        ),
        (
            "/huge",
            Reply::retry_after(429, "99999999999999999999999999"),
            5000,
            5000,
        ),
        ("/not-429", Reply::retry_after(500, "3"), RETRY_MS, RETRY_MS),
    ];
    for (path, reply, _, _) in &cases {
        receiver.on(path, Behaviour::always(reply.clone()));
        app.webhook(&receiver.url(path)).await;
    }
    let send_outs = app.emit().await;

    let completions = app.step().await;

    for (path, _, least, most) in &cases {
        let send_out = send_out_to(&send_outs, &receiver.url(path));
        let completion = completion_of(&completions, send_out);
        let Next::RetryAt(next) = completion.next else {
            panic!("{path}: not retried: {:?}", completion.next);
        };
        let wait = next.as_millis() - completion.at.as_millis();
        assert!((*least..=*most).contains(&wait), "{path}: waits {wait} ms");
        let (stored, _) = app.send_out(send_out).await;
        assert_eq!(stored.next_attempt_at, Some(next), "{path}");
    }
}

#[tokio::test]
async fn a_body_that_never_ends_is_read_to_4_kib_and_the_connection_let_go() {
    let app = hostile(|_| {}).await;
    let endless = RawServer::start(Misbehaviour::EndlessBody).await;
    app.webhook(&endless.url("http")).await;
    let send_out = app.emit().await.remove(0);

    let completion = app.step().await.remove(0);

    // Not a timeout: the client stopped reading at 4 KiB and dropped the connection.
    assert_eq!(completion.next, Next::Succeeded);
    let (stored, attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Succeeded);
    let body = attempts[0].response_body.clone().unwrap();
    assert_eq!(body.len(), MAX_RESPONSE_BODY_BYTES);
    assert!(body.bytes().all(|b| b == b'x'));
    endless.wait_abandoned(1, WAIT).await;
    // What was written beyond 4 KiB sat in socket buffers, never in sendout's memory.
    assert!(
        endless.written() < 64 * 1024 * 1024,
        "{} bytes",
        endless.written()
    );
}

/// The one attempt of a send out to a receiver that answers `how`, with the delivery timeout
/// at 700 ms: it must have been a failure retried on schedule, with the status kept.
async fn a_failed_2xx(how: Misbehaviour) -> (Attempt, RawServer) {
    let app = hostile(|c| c.delivery_timeout = Duration::from_millis(700)).await;
    let receiver = RawServer::start(how).await;
    app.webhook(&receiver.url("http")).await;
    let send_out = app.emit().await.remove(0);

    let completion = app.step().await.remove(0);

    assert!(
        matches!(completion.next, Next::RetryAt(_)),
        "{:?}",
        completion.next
    );
    let (stored, mut attempts) = app.send_out(&send_out).await;
    assert_eq!(stored.status, SendOutStatus::Retrying);
    let attempt = attempts.remove(0);
    assert_eq!(attempt.response_status, Some(200));
    assert!(!attempt.succeeded);
    (attempt, receiver)
}

/// The issue-16 receiver: it "succeeds" at once, then trickles its body. The timeout covers
/// the body too, so the attempt fails (and is retried on schedule) instead of holding its slot
/// for as long as the receiver likes and being recorded a success.
#[tokio::test]
async fn a_2xx_whose_body_trickles_past_the_timeout_is_a_failure_retried_on_schedule() {
    let (attempt, trickle) = a_failed_2xx(Misbehaviour::TrickleBody).await;

    let error = attempt.error.clone().unwrap();
    assert!(error.starts_with("timed out after 700 ms"), "{error}");
    // The audit log keeps the body as far as the timeout let it come.
    let body = attempt.response_body.clone().unwrap();
    assert!(
        body.len() < 100 && body.bytes().all(|b| b == b'z'),
        "{body}"
    );
    assert!(attempt.duration_ms < 5_000, "{}", attempt.duration_ms);
    trickle.wait_abandoned(1, WAIT).await;
}

/// docs/OPERATIONS.md ("Delivery, retries and giving up"): a 2xx whose connection closes
/// before the body's end is a failed attempt.
#[tokio::test]
async fn a_2xx_whose_body_is_cut_short_is_a_failure_retried_on_schedule() {
    let (attempt, _cut) = a_failed_2xx(Misbehaviour::CutShortBody).await;

    assert_eq!(attempt.response_body.as_deref(), Some("0123456789"));
    let error = attempt.error.clone().unwrap();
    assert!(
        error.contains("connection closed before the body's end"),
        "{error}"
    );
}

/// A hanging host holds at most twice its per-host limit of the worker's capacity (see
/// `delivery::hosts`); with the default ratio (256 / 32) two such hosts leave half of it.
#[tokio::test]
async fn hosts_that_hang_or_trickle_do_not_hold_up_a_well_behaved_one() {
    const PER_HOST: usize = 2;
    let app = hostile(|c| {
        c.delivery_timeout = Duration::from_secs(8);
        c.delivery_concurrency = 8 * PER_HOST;
        c.delivery_concurrency_per_host = PER_HOST;
    })
    .await;
    let silent = RawServer::start(Misbehaviour::Silent).await;
    let trickle = RawServer::start(Misbehaviour::TrickleHead).await;
    let good = Receiver::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await;
    let hostile = [silent.url("http"), trickle.url("http")];
    for url in &hostile {
        app.webhook(url).await;
    }
    app.webhook(&good.url("/hook")).await;
    let mut send_outs = Vec::new();
    for _ in 0..20 {
        send_outs.extend(app.emit().await);
    }

    let worker = app.start_worker();
    good.wait_for(20, WAIT).await;
    let done_at = Timestamp::now();

    // Every attempt to the hostile hosts is still hanging (they end at the 8 s timeout):
    // none has been recorded, and each host got at most its share of connections.
    for send_out in send_outs.iter().filter(|s| hostile.contains(&s.target_url)) {
        let (stored, attempts) = app.send_out(send_out).await;
        assert!(
            attempts.is_empty(),
            "{} finished before {done_at}",
            stored.id.as_str()
        );
    }
    let most = PER_HOST as u64;
    assert!(silent.connections() <= most && trickle.connections() <= most);
    worker.stop().await;
}
