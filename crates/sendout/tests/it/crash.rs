//! Crash safety (PRODUCT §4 "durable before acknowledged", §8): the real binary is killed with
//! SIGKILL at random moments — while events are ingested, while send outs are delivered, and
//! right after a receiver failed an attempt (while its retry is being scheduled) — and
//! restarted on the same store each time, with no repair step. The scenario runs on a SQLite
//! data directory and on a fresh PostgreSQL database (`SENDOUT_TEST_DATABASE_URL`, see
//! `sendout-store/tests/story/pg.rs`; it fails, never skips, without a server).
//!
//! In the end every send out of every acknowledged (202) event has reached its receiver at
//! least once, a SQLite store passes SQLite's integrity check after every kill, and the duplicates
//! (2xx answers beyond the first per send out) are at most what was in flight: the send outs
//! leased by the killed process, plus attempts that timed out (the receiver may have taken
//! those). The figures are printed; the moments are drawn from a printed seed, and
//! `SENDOUT_CRASH_SEED` draws the same ones again.
//!
//! `idempotent.rs` kills the server three times while a platform ingests with
//! `Idempotency-Key`s and sends every unanswered request again: there, ingest makes no
//! duplicate at all.
#![allow(clippy::unwrap_used)]

use crate::helpers::pg;
use crate::helpers::process;
mod idempotent;
mod store;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::counter::{Counter, Counters, Options};
use process::{Sendout, MANAGEMENT_ID, MANAGEMENT_TOKEN};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use store::Backend;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How big a run is, and where its kill moments fall.
#[derive(Debug)]
struct Scale {
    /// Events acknowledged in all.
    events: usize,
    /// The two kills during ingest fall at a number of acknowledged events drawn from these.
    ingest_kills: [Range<usize>; 2],
    /// The kill during delivery falls this many deliveries after ingest ended…
    delivery_kill: Range<u64>,
    /// …yet with at least this many send outs still owed, so that failed first attempts
    /// (about one in ten) are still to come for the last moment.
    backlog: u64,
    /// How long the receivers take to answer: slow enough that delivering everything takes
    /// far longer than ingesting it, so a backlog is left for the moments that need one.
    receiver_delay: Duration,
}

/// The full run, on SQLite. With 8 attempts at a time per receiver, delivering everything
/// takes at least 16 s.
const SQLITE: Scale = Scale {
    events: 5_000,
    ingest_kills: [400..1500, 2500..4000],
    delivery_kill: 300..1500,
    backlog: 1500,
    receiver_delay: Duration::from_millis(25),
};

/// The same scenario on PostgreSQL, a fifth of the size: the kill moments and the recovery
/// paths are the same, and the full size would add over half a minute to CI. The receivers
/// are slower so that a backlog is still left when ingest ends (2,000 deliveries take at
/// least 6 s).
const POSTGRES: Scale = Scale {
    events: 1_000,
    ingest_kills: [150..400, 550..850],
    delivery_kill: 100..400,
    backlog: 800,
    receiver_delay: Duration::from_millis(50),
};

/// Events per ingest request, and requests in flight at once.
const BATCH: usize = 25;
const POSTERS: usize = 4;
/// Claims of a killed process come back after this; attempts must fit well inside it.
const LEASE: &str = "8s";
/// `LEASE` in milliseconds.
const LEASE_MS: i64 = 8_000;
/// The longest the last restart may take to deliver everything still owed.
const DRAIN: Duration = Duration::from_secs(150);
/// The longest a kill moment may take to come.
const MOMENT: Duration = Duration::from_secs(90);

/// The two receivers' addresses: two hosts, as far as sendout's per-host limits go.
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OTHER_LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The configuration of every start: loopback receivers, a short retry schedule, a lease
/// short enough for the test yet longer than an attempt.
const ENV: &[(&str, &str)] = &[
    ("SENDOUT_ALLOWED_TARGET_RANGES", "127.0.0.0/8"),
    ("SENDOUT_RETRY_SCHEDULE", "200ms,500ms,1s,2s,3s"),
    ("SENDOUT_DELIVERY_TIMEOUT", "3s"),
    ("SENDOUT_LEASE", LEASE),
    ("SENDOUT_DELIVERY_CONCURRENCY", "32"),
    ("SENDOUT_DELIVERY_CONCURRENCY_PER_HOST", "8"),
    // Quiet, but for the line that says the server listens.
    ("RUST_LOG", "warn,sendout::cli=info"),
];

/// The events acknowledged so far, with how many send outs each made.
#[derive(Debug, Default)]
struct Ledger {
    acked: Mutex<Vec<(String, u64)>>,
    count: watch::Sender<usize>,
    /// Events to acknowledge in all.
    goal: usize,
    /// Events being sent or acknowledged; never more than `goal`.
    reserved: AtomicUsize,
}

impl Ledger {
    fn new(goal: usize) -> Self {
        Self {
            goal,
            ..Self::default()
        }
    }

    /// Takes up to `n` more events to send, or 0 when the goal is covered.
    fn reserve(&self, n: usize) -> usize {
        let mut taken = 0;
        let _ = self
            .reserved
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |reserved| {
                taken = n.min(self.goal.saturating_sub(reserved));
                Some(reserved + taken)
            });
        taken
    }

    fn record(&self, accepted: &[Value]) {
        let mut acked = self.acked.lock().unwrap();
        for event in accepted {
            let id = event["id"].as_str().unwrap().to_owned();
            acked.push((id, event["send_outs"].as_u64().unwrap()));
        }
        self.count.send_replace(acked.len());
    }

    fn acked(&self) -> Vec<(String, u64)> {
        self.acked.lock().unwrap().clone()
    }
}

/// A project's server-side key.
#[derive(Debug, Clone)]
struct AppKey {
    id: String,
    token: String,
}

/// A client for the server under test: no proxy, a 30 s bound on every request.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn management(server: &Sendout, path: &str, body: Value) -> Value {
    management_call(server, reqwest::Method::POST, path, body).await
}

/// A management API request to the server under test; asserts 200 and returns the answer.
pub(crate) async fn management_call(
    server: &Sendout,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let response = client()
        .request(method, format!("{}{path}", server.base_url))
        .header("x-management-id", MANAGEMENT_ID)
        .header("x-management-token", MANAGEMENT_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Creates a project with a `voucher.published` webhook to each receiver; returns its key
/// and the webhooks' ids.
async fn project_with_webhooks(
    server: &Sendout,
    name: &str,
    receivers: &[Counter],
) -> (AppKey, Vec<String>) {
    let project = management(server, "/management/v1/projects", json!({"name": name})).await;
    let key = AppKey {
        id: project["server_side_key"]["app_id"]
            .as_str()
            .unwrap()
            .into(),
        token: project["server_side_key"]["app_token"]
            .as_str()
            .unwrap()
            .into(),
    };
    let hooks = format!(
        "/management/v1/projects/{}/webhooks",
        project["id"].as_str().unwrap()
    );
    let mut webhooks = Vec::new();
    for receiver in receivers {
        let body = json!({"target_url": receiver.url("/hook"), "events": ["voucher.published"]});
        let webhook = management(server, &hooks, body).await;
        webhooks.push(webhook["id"].as_str().unwrap().to_owned());
    }
    (key, webhooks)
}

/// Sends batches until the goal is acknowledged or the server is gone.
async fn post_batches(client: reqwest::Client, url: String, key: AppKey, ledger: Arc<Ledger>) {
    loop {
        let n = ledger.reserve(BATCH);
        if n == 0 {
            return;
        }
        let events: Vec<Value> = (0..n)
            .map(|i| json!({"type": "voucher.published", "data": {"voucher": {"code": format!("CRASH-{i}")}}}))
            .collect();
        let sent = client
            .post(&url)
            .header("x-app-id", &key.id)
            .header("x-app-token", &key.token)
            .header("content-type", "application/json")
            .body(json!({ "events": events }).to_string())
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status();
                let read = response.bytes().await.ok();
                match read.and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
                    Some(body) => {
                        assert_eq!(status, 202, "ingest refused a valid batch: {body}");
                        Some(body)
                    }
                    None => None,
                }
            }
            Err(_) => None,
        };
        match answer {
            Some(body) => ledger.record(body["data"].as_array().unwrap()),
            None => {
                // Killed mid-request: not acknowledged, so not owed; others may send them.
                ledger.reserved.fetch_sub(n, Ordering::SeqCst);
                return;
            }
        }
    }
}

/// Ingests toward the goal with a few requests in flight; ends when it is reached or the
/// server died.
fn ingest(server: &Sendout, key: &AppKey, ledger: &Arc<Ledger>) -> tokio::task::JoinHandle<()> {
    let url = format!("{}/v1/events", server.base_url);
    let (key, ledger) = (key.clone(), ledger.clone());
    tokio::spawn(async move {
        let client = client();
        let mut posters = JoinSet::new();
        for _ in 0..POSTERS {
            posters.spawn(post_batches(
                client.clone(),
                url.clone(),
                key.clone(),
                ledger.clone(),
            ));
        }
        while let Some(joined) = posters.join_next().await {
            if let Err(e) = joined {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    })
}

/// Waits until a counter reaches `at`.
async fn reach<T: PartialOrd + Copy + std::fmt::Debug>(mut counter: watch::Receiver<T>, at: T) {
    let reached = tokio::time::timeout(MOMENT, counter.wait_for(|n| *n >= at)).await;
    assert!(matches!(reached, Ok(Ok(_))), "the moment {at:?} never came");
}

/// Starts the server on `dir`, and says when: every lease it takes ends at least `LEASE_MS`
/// after that.
async fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> (Sendout, i64) {
    let started = store::now_ms();
    (Sendout::start(dir, env).await, started)
}

/// Kills the server started at `started`, checks the store and returns how many send outs
/// it had in flight: leased by it (not by an earlier process whose leases still run, which
/// its own kill counted) and not yet expired.
async fn kill(
    server: Sendout,
    started: i64,
    store: &Backend,
    moment: &str,
    log: &mut Vec<String>,
) -> u64 {
    let at = store::now_ms();
    server.kill().await;
    let check = store::after_kill(store, at, started + LEASE_MS).await;
    if let Some(integrity) = check.integrity {
        assert_eq!(
            integrity, "ok",
            "the store is damaged after a kill {moment}"
        );
    }
    log.push(format!(
        "kill {moment}: {} send outs in flight",
        check.in_flight
    ));
    check.in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_is_delivered_after_kill_9_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let store = Backend::Sqlite(dir.path().join("sendout.db"));
    run(&SQLITE, dir.path(), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_is_delivered_after_kill_9_at_random_moments_on_postgres() {
    let database = pg::TestDatabase::create().await;
    // The data directory is still given (the binary always has one); nothing is kept there.
    let dir = tempfile::tempdir().unwrap();
    let store = Backend::Postgres(database.url().to_owned());
    run(&POSTGRES, dir.path(), &store).await;
}

/// The whole scenario at `scale` on `store`, with `dir` as the data directory.
async fn run(scale: &Scale, dir: &std::path::Path, store: &Backend) {
    assert_eq!(format!("{}s", LEASE_MS / 1000), LEASE, "LEASE_MS is LEASE");
    let started = Instant::now();
    let seed = std::env::var("SENDOUT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("crash test seed: {seed} (SENDOUT_CRASH_SEED={seed} draws the same moments)");
    let mut rng = StdRng::seed_from_u64(seed);
    let env: Vec<(&str, &str)> = ENV.iter().copied().chain(store.env()).collect();
    let counters = Arc::new(Counters::default());
    let delay = scale.receiver_delay;
    let receiver_on = |ip| Options {
        ip,
        delay,
        fail_some_first_attempts: true,
        counters: counters.clone(),
    };
    let receivers = [
        Counter::start_with(receiver_on(LOCAL)).await,
        Counter::start_with(receiver_on(OTHER_LOCAL)).await,
    ];
    let mut log = Vec::new();
    let mut in_flight = 0;

    let (mut server, mut server_started) = start(dir, &env).await;
    let (key, webhooks) = project_with_webhooks(&server, "Crash", &receivers).await;
    let ledger = Arc::new(Ledger::new(scale.events));

    // 1 and 2: killed while ingesting (and delivering what came before).
    for range in &scale.ingest_kills {
        let at = rng.gen_range(range.clone());
        let ingesting = ingest(&server, &key, &ledger);
        reach(ledger.count.subscribe(), at).await;
        let moment = format!("during ingest, at {at} events acknowledged");
        in_flight += kill(server, server_started, store, &moment, &mut log).await;
        ingesting.await.unwrap();
        (server, server_started) = start(dir, &env).await;
    }
    ingest(&server, &key, &ledger).await.unwrap();
    let acked = ledger.acked();
    assert_eq!(acked.len(), scale.events);
    assert!(
        acked.iter().all(|(_, n)| *n == webhooks.len() as u64),
        "each event fans out to both webhooks"
    );

    // 3: killed while delivering, with part of the backlog left for the next moment.
    let owed = (scale.events * webhooks.len()) as u64;
    let after = rng.gen_range(scale.delivery_kill.clone());
    let at = (*counters.accepted.borrow() + after).min(owed - scale.backlog);
    reach(counters.accepted.subscribe(), at).await;
    let moment = format!("during delivery, at {at} deliveries");
    in_flight += kill(server, server_started, store, &moment, &mut log).await;
    (server, server_started) = start(dir, &env).await;

    // 4: killed just as a receiver failed an attempt, while its retry is being scheduled.
    let at = *counters.failures.borrow() + rng.gen_range(1..6);
    reach(counters.failures.subscribe(), at).await;
    let moment = format!("at failed attempt {at}, while its retry is scheduled");
    in_flight += kill(server, server_started, store, &moment, &mut log).await;
    (server, _) = start(dir, &env).await;

    // Every acknowledged event's send outs arrive at least once.
    let ids: HashSet<&str> = acked.iter().map(|(id, _)| id.as_str()).collect();
    for (receiver, webhook) in receivers.iter().zip(&webhooks) {
        let pairs = ids.iter().map(|id| ((*id).to_owned(), webhook.clone()));
        receiver.wait_for_all(pairs, DRAIN).await;
    }
    server.terminate().await;

    // The store agrees: every acknowledged event is there, its send outs succeeded.
    let stored = store::send_out_statuses_by_event(store).await;
    for id in &ids {
        let statuses = stored.get(*id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(statuses, ["SUCCEEDED", "SUCCEEDED"], "event {id}");
    }
    let timed_out = store::timed_out_attempts(store).await;
    let (distinct, answered) = receivers
        .iter()
        .map(Counter::figures)
        .fold((0, 0), |(d, t), (d2, t2)| (d + d2, t + t2));
    let duplicates = answered - distinct;
    for line in &log {
        println!("{line}");
    }
    println!(
        "{} events acknowledged; {distinct} send outs delivered in {answered} deliveries: \
         {duplicates} duplicates, bounded by {in_flight} in flight at the kills + {timed_out} \
         timed-out attempts; {} s in all",
        acked.len(),
        started.elapsed().as_secs()
    );
    assert!(
        duplicates <= in_flight + timed_out,
        "more duplicates ({duplicates}) than send outs in flight at the kills ({in_flight}) \
         and timed-out attempts ({timed_out})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_requests_sent_again_after_kill_9_make_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Backend::Sqlite(dir.path().join("sendout.db"));
    idempotent::run(&idempotent::Run { requests: 400 }, dir.path(), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_requests_sent_again_after_kill_9_make_every_event_once_on_postgres() {
    let database = pg::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Backend::Postgres(database.url().to_owned());
    idempotent::run(&idempotent::Run { requests: 200 }, dir.path(), &store).await;
}
