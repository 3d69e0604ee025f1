//! Crash safety with idempotent ingest (issue 17): a platform sends every ingest request with
//! an `Idempotency-Key` while the server is killed with SIGKILL three times, and sends every
//! request whose answer it did not get again, with the same key and body, once the server is
//! back. Afterwards every event was delivered, the store holds each event once (the ingest
//! side made no duplicate, although requests the killed server had committed were sent
//! again), and the only deliveries a receiver got twice are of send outs in flight at a kill
//! (counted separately, as in the main crash test).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::store::{self, Backend};
use super::{client, kill, project_with_webhooks, start, AppKey, ENV, MOMENT};
use crate::helpers::counter::{Counter, Counters, Options};

/// How big a run is.
#[derive(Debug)]
pub struct Run {
    /// Requests in all, each of `EVENTS_PER_REQUEST` events.
    pub requests: usize,
}

const EVENTS_PER_REQUEST: usize = 5;
/// Requests in flight at once: enough that a kill finds some of them between commit and answer.
const POSTERS: usize = 8;
/// The longest the last start may take to deliver everything.
const DRAIN: Duration = Duration::from_secs(90);

/// What the client saw.
#[derive(Debug, Default)]
struct Seen {
    /// The event ids of every request's (last) answer.
    acked: Vec<String>,
    /// Requests sent again after an unanswered try, and how many of those answers were
    /// replays of an ingest the killed server had committed.
    resent: usize,
    replayed: usize,
}

/// The body of request `n`: its events' data are unique, so the store can be searched for
/// any event made twice.
fn body(n: usize) -> String {
    let events: Vec<Value> = (0..EVENTS_PER_REQUEST)
        .map(|i| json!({"type": "voucher.published", "data": {"voucher": {"code": format!("IDEM-{n}-{i}")}}}))
        .collect();
    json!({ "events": events }).to_string()
}

/// Sends requests taken from `next` until none is left, each until it is answered; waits for
/// the next start (a new `url`) whenever a try is not answered.
async fn post(
    url: watch::Receiver<String>,
    key: AppKey,
    next: Arc<AtomicUsize>,
    total: usize,
    seen: Arc<Mutex<Seen>>,
    acked: watch::Sender<usize>,
) {
    let client = client();
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        if n >= total {
            return;
        }
        let body = body(n);
        let mut tries = 0;
        loop {
            let tried = url.borrow().clone();
            tries += 1;
            let sent = client
                .post(format!("{tried}/v1/events"))
                .header("x-app-id", &key.id)
                .header("x-app-token", &key.token)
                .header("content-type", "application/json")
                .header("idempotency-key", format!("crash-request-{n}"))
                .body(body.clone())
                .send()
                .await;
            let answer = match sent {
                Ok(response) => {
                    let status = response.status();
                    let replayed = response.headers().contains_key("idempotent-replayed");
                    match response.bytes().await {
                        Ok(bytes) => Some((status, replayed, bytes)),
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            };
            let Some((status, replayed, bytes)) = answer else {
                // Not answered: the server died. Send it again once the next one listens.
                let mut url = url.clone();
                let came_back = matches!(
                    tokio::time::timeout(MOMENT, url.wait_for(|now| *now != tried)).await,
                    Ok(Ok(_))
                );
                assert!(came_back, "the server never came back");
                continue;
            };
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(status, 202, "request {n}: {body}");
            let mut seen = seen.lock().unwrap();
            if tries > 1 {
                seen.resent += 1;
                seen.replayed += usize::from(replayed);
            }
            for event in body["data"].as_array().unwrap() {
                seen.acked.push(event["id"].as_str().unwrap().to_owned());
            }
            acked.send_replace(seen.acked.len());
            break;
        }
    }
}

/// The scenario on `backend`, with `dir` as the data directory.
pub async fn run(scale: &Run, dir: &std::path::Path, backend: &Backend) {
    let started = Instant::now();
    let seed = std::env::var("SENDOUT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!(
        "idempotent crash test seed: {seed} (SENDOUT_CRASH_SEED={seed} draws the same moments)"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let env: Vec<(&str, &str)> = ENV.iter().copied().chain(backend.env()).collect();
    let receiver = Counter::start_with(Options {
        delay: Duration::from_millis(2),
        counters: Arc::new(Counters::default()),
        ..Options::default()
    })
    .await;

    let (mut server, mut server_started) = start(dir, &env).await;
    let (key, webhooks) =
        project_with_webhooks(&server, "Keys", std::slice::from_ref(&receiver)).await;
    let webhook = webhooks[0].clone();

    let events = scale.requests * EVENTS_PER_REQUEST;
    let (url_tx, url) = watch::channel(server.base_url.clone());
    let (acked_tx, acked) = watch::channel(0_usize);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let mut posters = JoinSet::new();
    for _ in 0..POSTERS {
        posters.spawn(post(
            url.clone(),
            key.clone(),
            next.clone(),
            scale.requests,
            seen.clone(),
            acked_tx.clone(),
        ));
    }

    // Three kills while requests are in flight, each at a number of acknowledged events
    // drawn from its own part of the run.
    let mut log = Vec::new();
    let mut in_flight = 0;
    for part in 0..3 {
        let at = rng.gen_range(events * (2 * part + 1) / 8..events * (2 * part + 2) / 8);
        let mut acked = acked.clone();
        // Matched at once: a `Ref` kept past this statement would hold the watch's read lock
        // through the kill, and a poster's `send_replace` (under the `Seen` lock) would block
        // every worker thread on it.
        let reached = matches!(
            tokio::time::timeout(MOMENT, acked.wait_for(|n| *n >= at)).await,
            Ok(Ok(_))
        );
        assert!(reached, "{at} events were never acknowledged");
        let moment = format!("during keyed ingest, at {at} events acknowledged");
        in_flight += kill(server, server_started, backend, &moment, &mut log).await;
        (server, server_started) = start(dir, &env).await;
        url_tx.send_replace(server.base_url.clone());
    }
    while let Some(joined) = posters.join_next().await {
        if let Err(e) = joined {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.acked.len(), events, "every event acknowledged once");
    let ids: HashSet<&str> = seen.acked.iter().map(String::as_str).collect();
    assert_eq!(ids.len(), events, "no id answered for two events");
    receiver
        .wait_for_all(
            ids.iter().map(|id| ((*id).to_owned(), webhook.clone())),
            DRAIN,
        )
        .await;
    server.terminate().await;

    // The ingest side: each event is stored once, though unanswered requests were sent again.
    let (stored, distinct) = store::events_and_distinct_data(backend).await;
    assert_eq!(stored, events as u64, "the store holds each event once");
    assert_eq!(distinct, stored);
    let delivered = receiver.events();
    assert_eq!(
        delivered.len(),
        events,
        "the receiver got the acknowledged events and no other"
    );
    assert!(delivered.iter().all(|id| ids.contains(id.as_str())));
    // The delivery side: a send out delivered twice was in flight at a kill.
    let timed_out = store::timed_out_attempts(backend).await;
    let duplicates = receiver.tally().duplicates();
    for line in &log {
        println!("{line}");
    }
    println!(
        "{events} events in {} keyed requests; {} sent again after a kill, {} of which the \
         killed server had committed (replayed); 0 events made twice by ingest; {duplicates} \
         deliveries twice, bounded by {in_flight} send outs in flight at the kills + \
         {timed_out} timed-out attempts; {} s in all",
        scale.requests,
        seen.resent,
        seen.replayed,
        started.elapsed().as_secs()
    );
    assert!(
        duplicates <= in_flight + timed_out,
        "more duplicate deliveries ({duplicates}) than send outs in flight at the kills \
         ({in_flight}) and timed-out attempts ({timed_out})"
    );
}
