//! Several sendout nodes on one PostgreSQL database (PRODUCT §7, issue 6): separate OS
//! processes of the real binary, a loopback receiver counting deliveries by send-out id, and
//! the database checked afterwards.
//!
//! - Three nodes, 20,000 events to 4 webhooks: every send out is delivered exactly once.
//! - The same with one node killed (SIGKILL) while delivering: every send out is delivered at
//!   least once; the duplicates (attempts the dead node made but could not record) are printed.
//! - The database restarted during ingest (a server of the test's own, so nothing else is
//!   disturbed): every request gets a 202 or an error, and every 202'd event is delivered.
//! - The same request with one `Idempotency-Key` sent to two nodes at once: one event.
//!
//! `SENDOUT_TEST_MULTINODE_EVENTS` changes the number of events of the first two tests (for a
//! larger run by hand). The tests need PostgreSQL (`SENDOUT_TEST_DATABASE_URL`, see
//! `sendout-store/tests/story/pg.rs`) and its server binaries; they fail, never skip, without.

mod cluster;
mod instance;
use crate::helpers::pg;
mod tether;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::helpers::counter::Counter;
use cluster::{Acknowledged, Api, Ingested, Node, NodeConfig};

const WEBHOOKS: usize = 4;
/// The most events the ingest API takes in one request.
const BATCH: usize = 1000;
/// Ingest requests in flight at once.
const PARALLEL: usize = 3;
/// Generous bounds for a debug build on a busy two-core machine; never a speed assertion.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(600);
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

fn events() -> usize {
    std::env::var("SENDOUT_TEST_MULTINODE_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// Nodes on one database and a receiver with `WEBHOOKS` webhooks pointing at it.
struct Cluster {
    nodes: Vec<Node>,
    counter: Counter,
    api: Api,
    _data: tempfile::TempDir,
}

impl Cluster {
    /// Starts `count` nodes one after the other, then a project with its webhooks. (Nodes
    /// starting at once make the default project once too: `tests/it/first_start.rs`.)
    async fn start(count: usize, config: NodeConfig) -> Self {
        let data = tempfile::tempdir().expect("a temporary directory");
        let counter = Counter::start().await;
        let mut nodes = Vec::with_capacity(count);
        for n in 0..count {
            nodes.push(Node::start(&format!("node-{n}"), &config, data.path()).await);
        }
        let urls: Vec<String> = (0..WEBHOOKS)
            .map(|n| counter.url(&format!("/hook/{n}")))
            .collect();
        let api = Api::setup(&nodes[0], &urls).await;
        Self {
            nodes,
            counter,
            api,
            _data: data,
        }
    }

    fn urls(&self, nodes: &[usize]) -> Vec<String> {
        nodes
            .iter()
            .map(|&n| self.nodes[n].base_url.clone())
            .collect()
    }

    /// Waits for every acknowledged event's send outs, saying what was missing on failure
    /// together with the nodes' last log lines.
    async fn wait_for(&self, acked: &Acknowledged) {
        let waited = self.counter.wait_for_events(acked, DELIVERY_TIMEOUT).await;
        if let Err(missing) = waited {
            let logs: Vec<String> = self
                .nodes
                .iter()
                .map(|n| format!("--- {}:\n{}", n.name, n.log_tail()))
                .collect();
            panic!("{missing}; the nodes' last log lines:\n{}", logs.join("\n"));
        }
    }

    /// Stops the living nodes gracefully (in-flight attempts finish and are recorded).
    async fn stop(self) -> Counter {
        for node in self.nodes {
            let name = node.name.clone();
            let status = node.terminate().await;
            assert!(
                status.success() || status.code().is_none(),
                "{name}: {status}"
            );
        }
        self.counter
    }
}

/// Ingests `events` events in batches through `targets` in turn; every batch must be
/// acknowledged.
async fn ingest_all(api: &Api, targets: &[String], events: usize) -> Acknowledged {
    let requests = (0..events).step_by(BATCH).enumerate().map(|(n, first)| {
        let api = api.clone();
        let target = targets[n % targets.len()].clone();
        async move {
            let outcome = api.ingest(&target, first, BATCH.min(events - first)).await;
            (first, outcome)
        }
    });
    let mut acked = Acknowledged::new();
    let mut answers = futures::stream::iter(requests).buffer_unordered(PARALLEL);
    while let Some((first, outcome)) = answers.next().await {
        match outcome {
            Ingested::Accepted(events) => acked.extend(events),
            other => panic!("the batch from event {first} was not acknowledged: {other:?}"),
        }
    }
    acked
}

/// The database's view once every node has stopped: send outs by status, and attempts.
async fn database_view(url: &str) -> (HashMap<String, i64>, i64) {
    let mut conn = PgConnection::connect(url).await.expect("the test database");
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM send_outs GROUP BY status")
            .fetch_all(&mut conn)
            .await
            .expect("counted");
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts")
        .fetch_one(&mut conn)
        .await
        .expect("counted");
    (statuses.into_iter().collect(), attempts)
}

/// A short lease, so a dead node's claims (or completions lost with the database) come back
/// soon; the attempt timeout stays well within it (the worker needs both its attempts and a
/// queued claim's wait to fit in the lease).
fn short_lease() -> Vec<(&'static str, String)> {
    vec![
        ("LEASE", "5s".to_owned()),
        ("DELIVERY_TIMEOUT", "2s".to_owned()),
    ]
}

fn expected_send_outs(acked: &Acknowledged) -> usize {
    acked.values().map(|n| *n as usize).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_send_out_exactly_once() {
    let database = pg::TestDatabase::create().await;
    let config = NodeConfig {
        database_url: database.url().to_owned(),
        extra: vec![],
    };
    let cluster = Cluster::start(3, config).await;
    let events = events();

    let started = Instant::now();
    let acked = ingest_all(&cluster.api, &cluster.urls(&[0, 1, 2]), events).await;
    let ingested = started.elapsed();
    assert_eq!(acked.len(), events);
    assert_eq!(expected_send_outs(&acked), events * WEBHOOKS);
    cluster.wait_for(&acked).await;
    eprintln!(
        "{events} events ({} send outs): ingested in {ingested:?}, all delivered after {:?}",
        events * WEBHOOKS,
        started.elapsed()
    );

    let tally = cluster.stop().await.tally();
    assert_eq!(tally.malformed, 0);
    assert_eq!(
        tally.counts.len(),
        events * WEBHOOKS,
        "no send out nobody asked for"
    );
    let twice: Vec<(&String, &u32)> = tally.counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let (statuses, attempts) = database_view(database.url()).await;
    let succeeded = i64::try_from(events * WEBHOOKS).expect("a small number");
    assert_eq!(
        statuses,
        HashMap::from([("SUCCEEDED".to_owned(), succeeded)])
    );
    assert_eq!(attempts, succeeded, "one attempt per send out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_midway_leaves_no_send_out_undelivered() {
    let database = pg::TestDatabase::create().await;
    let config = NodeConfig {
        database_url: database.url().to_owned(),
        extra: short_lease(),
    };
    let mut cluster = Cluster::start(3, config).await;
    let events = events();
    let total = events * WEBHOOKS;

    // The victim only delivers, while the others ingest (a victim that ingests, and so holds
    // the claims it was handed: `the_send_outs_a_killed_node_was_handed_are_delivered_by_the_others`).
    let ingest = tokio::spawn({
        let (api, targets) = (cluster.api.clone(), cluster.urls(&[0, 1]));
        async move { ingest_all(&api, &targets, events).await }
    });
    cluster
        .counter
        .wait_for_distinct(total / 4, DELIVERY_TIMEOUT)
        .await;
    cluster.nodes[2].kill();
    let victim = cluster.nodes.remove(2);
    let acked = ingest.await.expect("ingest ran");
    assert_eq!(expected_send_outs(&acked), total);
    let duplicates = delivered_after_a_kill(cluster, victim, &acked, database.url()).await;
    eprintln!(
        "a node was killed after {} of {total} send outs arrived: {duplicates} duplicate \
         deliveries",
        total / 4,
    );
}

/// Waits until the survivors have delivered every acknowledged send out, stops them, and
/// checks that nothing else arrived and that the database has every send out succeeded.
/// Returns how many deliveries were duplicates (the victim's attempts in flight).
async fn delivered_after_a_kill(
    cluster: Cluster,
    victim: Node,
    acked: &Acknowledged,
    database_url: &str,
) -> u64 {
    let total = expected_send_outs(acked);
    cluster.wait_for(acked).await;
    let tally = cluster.stop().await.tally();
    drop(victim);
    assert_eq!(tally.malformed, 0);
    assert_eq!(
        tally.counts.len(),
        total,
        "every send out arrived, and no other"
    );
    let (statuses, attempts) = database_view(database_url).await;
    let total = i64::try_from(total).expect("a small number");
    assert_eq!(statuses, HashMap::from([("SUCCEEDED".to_owned(), total)]));
    assert!(attempts >= total);
    tally.duplicates()
}

/// A node that ingests is handed its own fresh send outs (leased to its worker in the ingest
/// transaction). Killed with some of them acknowledged but not yet delivered, it takes those
/// claims with it: once their leases run out the other nodes deliver them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_outs_a_killed_node_was_handed_are_delivered_by_the_others() {
    const EVENTS_PER_REQUEST: usize = 100;
    /// Undelivered send outs the victim must hold when it is killed.
    const HELD: usize = 100;
    /// A bound on the requests, should the victim keep up with every one.
    const MAX_REQUESTS: usize = 50;

    let database = pg::TestDatabase::create().await;
    let config = NodeConfig {
        database_url: database.url().to_owned(),
        extra: short_lease(),
    };
    let mut cluster = Cluster::start(3, config).await;
    let victim_url = cluster.urls(&[2]).remove(0);

    // Requests to the victim alone, one after another, until it is killed holding at least
    // `HELD` acknowledged send outs that have not arrived.
    let mut acked = Acknowledged::new();
    let mut held_at_kill = None;
    for n in 0..MAX_REQUESTS {
        let first = n * EVENTS_PER_REQUEST;
        match cluster
            .api
            .ingest(&victim_url, first, EVENTS_PER_REQUEST)
            .await
        {
            Ingested::Accepted(events) => acked.extend(events),
            other => panic!("the batch from event {first} was not acknowledged: {other:?}"),
        }
        let arrived = cluster.counter.tally().counts.len();
        let held = expected_send_outs(&acked).saturating_sub(arrived);
        if held >= HELD {
            cluster.nodes[2].kill();
            held_at_kill = Some(held);
            break;
        }
    }
    let held_at_kill = held_at_kill.expect("the victim held undelivered send outs at some point");
    let victim = cluster.nodes.remove(2);
    let total = expected_send_outs(&acked);
    let duplicates = delivered_after_a_kill(cluster, victim, &acked, database.url()).await;
    eprintln!(
        "the victim was killed with {held_at_kill} of {total} acknowledged send outs not arrived: \
         {duplicates} duplicate deliveries"
    );
}

/// What the ingest clients of the restart test saw.
#[derive(Debug, Default)]
struct Seen {
    acked: Acknowledged,
    refused: Vec<(u16, String)>,
    failed: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_during_ingest_loses_no_acknowledged_event() {
    const EVENTS_PER_REQUEST: usize = 100;
    const CLIENTS: usize = 3;
    /// Acknowledged requests before the restart, and after it.
    const BEFORE: usize = 10;
    const AFTER: usize = 10;
    /// A bound on the requests, should the clients outrun the test.
    const MAX_REQUESTS: usize = 500;

    let server = tokio::task::spawn_blocking(instance::Instance::start)
        .await
        .expect("the server starts");
    let database = pg::TestDatabase::create_on(&server.admin_url()).await;
    let config = NodeConfig {
        database_url: database.url().to_owned(),
        extra: short_lease(),
    };
    let cluster = Cluster::start(2, config).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (accepted_tx, accepted) = watch::channel(0_usize);
    let (stop_tx, stop) = watch::channel(false);
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (api, targets) = (cluster.api.clone(), cluster.urls(&[0, 1]));
        let (seen, accepted_tx, stop, next) = (
            seen.clone(),
            accepted_tx.clone(),
            stop.clone(),
            next.clone(),
        );
        clients.spawn(async move {
            while !*stop.borrow() {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= MAX_REQUESTS {
                    break;
                }
                let target = &targets[n % targets.len()];
                let outcome = api
                    .ingest(target, n * EVENTS_PER_REQUEST, EVENTS_PER_REQUEST)
                    .await;
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ingested::Accepted(events) => {
                        seen.acked.extend(events);
                        accepted_tx.send_modify(|n| *n += 1);
                    }
                    Ingested::Refused(status, body) => seen.refused.push((status, body)),
                    Ingested::Failed(error) => seen.failed.push(error),
                }
            }
        });
    }

    let reached = |target: usize| {
        let mut accepted = accepted.clone();
        async move {
            tokio::time::timeout(STEP_TIMEOUT, accepted.wait_for(|n| *n >= target))
                .await
                .expect("requests are acknowledged")
                .expect("the clients run");
        }
    };
    reached(BEFORE).await;
    let restart = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.restart();
        server
    });
    let server = tokio::time::timeout(STEP_TIMEOUT, restart)
        .await
        .expect("the server restarts in time")
        .expect("the server restarts");
    let after_restart = *accepted.borrow();
    // Nodes reconnect by themselves: requests are acknowledged again.
    reached(after_restart + AFTER).await;
    stop_tx.send_replace(true);
    while let Some(client) = clients.join_next().await {
        client.expect("a client ran");
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
    eprintln!(
        "during a database restart: {} requests acknowledged, {} answered with an error, \
         {} unanswered",
        *accepted.borrow(),
        seen.refused.len(),
        seen.failed.len()
    );
    assert!(
        seen.failed.is_empty(),
        "every request is answered: {:?}",
        seen.failed
    );
    for (status, body) in &seen.refused {
        assert!(
            *status >= 500,
            "an error, not a refusal of the input: {status} {body}"
        );
    }
    cluster.wait_for(&seen.acked).await;
    let tally = cluster.stop().await.tally();
    assert_eq!(tally.malformed, 0);
    // A request that failed may still have committed (the answer was lost, not the commit):
    // its send outs are delivered too, but only the acknowledged ones are awaited here.
    let mut conn = PgConnection::connect(database.url())
        .await
        .expect("the test database");
    let acked_ids: Vec<&str> = seen.acked.keys().map(String::as_str).collect();
    let (stored, succeeded): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'SUCCEEDED') FROM send_outs \
         WHERE event_id = ANY($1)",
    )
    .bind(&acked_ids)
    .fetch_one(&mut conn)
    .await
    .expect("counted");
    let expected = i64::try_from(expected_send_outs(&seen.acked)).expect("a small number");
    assert_eq!((stored, succeeded), (expected, expected));
    let _ = conn.close().await;
    drop(database);
    drop(server);
}

/// The same keyed request sent to two nodes at the same moment makes one event (issue 17):
/// the key's uniqueness in the shared database decides, not a node's memory, so one node
/// processes it and the other waits for it and replays its answer. Several rounds, each
/// with a key of its own, so that some of them truly overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_keyed_request_sent_to_two_nodes_at_once_makes_one_event() {
    const ROUNDS: usize = 20;
    const EVENTS_PER_REQUEST: usize = 10;

    let database = pg::TestDatabase::create().await;
    let config = NodeConfig {
        database_url: database.url().to_owned(),
        extra: vec![],
    };
    let cluster = Cluster::start(2, config).await;
    let urls = cluster.urls(&[0, 1]);
    let api = &cluster.api;
    let mut acked = Acknowledged::new();
    for round in 0..ROUNDS {
        let key = format!("multinode-round-{round}");
        let events: Vec<serde_json::Value> = (0..EVENTS_PER_REQUEST)
            .map(|n| {
                serde_json::json!({"type": "voucher.published",
                                   "data": {"voucher": {"code": format!("IDEM-{round}-{n}")}}})
            })
            .collect();
        let body = serde_json::json!({ "events": events }).to_string();
        let send = |url: &String| {
            api.client
                .post(format!("{url}/v1/events"))
                .header("X-App-Id", &api.app_id)
                .header("X-App-Token", &api.app_token)
                .header("content-type", "application/json")
                .header("Idempotency-Key", &key)
                .body(body.clone())
                .send()
        };
        let (first, second) = tokio::join!(send(&urls[0]), send(&urls[1]));
        let mut answers = Vec::new();
        for response in [first, second] {
            let response = response.expect("every node answers");
            assert_eq!(response.status(), 202, "round {round}");
            let replayed = response
                .headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true");
            answers.push((replayed, response.text().await.expect("an answer")));
        }
        assert_eq!(
            answers[0].1, answers[1].1,
            "round {round}: one answer twice"
        );
        assert_eq!(
            answers.iter().filter(|(replayed, _)| !replayed).count(),
            1,
            "round {round}: exactly one node processed the request"
        );
        let answer: serde_json::Value = serde_json::from_str(&answers[0].1).expect("JSON");
        for event in answer["data"].as_array().expect("a list") {
            let send_outs = u32::try_from(event["send_outs"].as_u64().expect("a count"));
            acked.insert(
                event["id"].as_str().expect("an id").to_owned(),
                send_outs.expect("a small count"),
            );
        }
    }
    assert_eq!(acked.len(), ROUNDS * EVENTS_PER_REQUEST);

    let mut conn = PgConnection::connect(database.url())
        .await
        .expect("the test database");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .expect("counted");
    let _ = conn.close().await;
    assert_eq!(
        stored,
        i64::try_from(ROUNDS * EVENTS_PER_REQUEST).expect("a small number"),
        "one event per event sent, whichever node got it"
    );
    cluster.wait_for(&acked).await;
    let tally = cluster.stop().await.tally();
    assert_eq!(
        tally.counts.len(),
        expected_send_outs(&acked),
        "no send out of an event made twice"
    );
}
