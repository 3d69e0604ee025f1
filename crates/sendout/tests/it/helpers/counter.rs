//! The counting receiver, for tests that send tens of thousands of deliveries (crash safety,
//! several nodes): it keeps counts, not bodies, so 80,000 deliveries cost little. It counts
//! every 2xx answer by send-out id (`webhook-id`: the same for every attempt of one send out)
//! and remembers which event and which target each send out carried (the envelope's
//! `event.id` and `source.id`). [`super::receiver::Receiver`] is the one that records whole
//! requests and answers as programmed.
//!
//! A request counts as delivered when the receiver answers it 2xx, whether or not sendout
//! lives to read the answer: that is what "at least once" promises a receiver. Waiting is
//! driven by watch channels, never by sleep-polling.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One send out's (event id, target id): what must arrive at least once.
pub type Pair = (String, String);

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Options {
    /// The loopback address it listens on (any free port).
    pub ip: IpAddr,
    /// How long it takes to answer each request.
    pub delay: Duration,
    /// Whether the first attempt of about one send out in ten (by its id) is answered 500,
    /// so that retries are scheduled all along.
    pub fail_some_first_attempts: bool,
    /// Counters to share with other receivers, to wait on.
    pub counters: Arc<Counters>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            delay: Duration::ZERO,
            fail_some_first_attempts: false,
            counters: Arc::default(),
        }
    }
}

/// Counters shared by several receivers, to wait on.
#[derive(Debug)]
pub struct Counters {
    /// 2xx answers so far.
    pub accepted: watch::Sender<u64>,
    /// 500 answers so far.
    pub failures: watch::Sender<u64>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            accepted: watch::channel(0).0,
            failures: watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    /// 2xx answers per send-out id.
    counts: HashMap<String, u32>,
    /// `(send-out id, event id)` in the order send outs were first accepted.
    first: Vec<(String, String)>,
    /// The (event, target) pairs accepted at least once.
    delivered: HashSet<Pair>,
    /// Pairs a test waits for that have not arrived yet.
    waiting: HashSet<Pair>,
    /// Send outs that already had their one failure.
    failed_once: HashSet<String>,
    /// Requests without a `webhook-id` or without an `event.id` in their body.
    malformed: u32,
}

#[derive(Debug)]
struct Shared {
    seen: Mutex<Seen>,
    options: Options,
    /// How many distinct send outs were accepted.
    distinct: watch::Sender<usize>,
    /// How many waited-for pairs are still missing.
    missing: watch::Sender<usize>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Seen> {
    shared.seen.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the receiver saw.
#[derive(Debug)]
pub struct Tally {
    /// 2xx answers per send-out id.
    pub counts: HashMap<String, u32>,
    pub malformed: u32,
}

impl Tally {
    /// Deliveries beyond the first of each send out.
    pub fn duplicates(&self) -> u64 {
        self.counts.values().map(|n| u64::from(n - 1)).sum()
    }
}

/// A counting receiver on a loopback address; stops when dropped.
#[derive(Debug)]
pub struct Counter {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

/// Whether this send out's first attempt is answered 500 (about one in ten, by its id).
fn fails_first(id: &str) -> bool {
    id.bytes().map(u32::from).sum::<u32>() % 10 == 0
}

async fn record(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    tokio::time::sleep(shared.options.delay).await;
    let send_out = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    let envelope = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let (Some(send_out), Some(event)) = (send_out, envelope["event"]["id"].as_str()) else {
        lock(&shared).malformed += 1;
        return StatusCode::BAD_REQUEST;
    };
    let target = envelope["source"]["id"].as_str().unwrap_or_default();
    let mut seen = lock(&shared);
    if shared.options.fail_some_first_attempts
        && fails_first(send_out)
        && seen.failed_once.insert(send_out.to_owned())
    {
        drop(seen);
        shared.options.counters.failures.send_modify(|n| *n += 1);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let count = seen.counts.entry(send_out.to_owned()).or_insert(0);
    *count += 1;
    if *count == 1 {
        seen.first.push((send_out.to_owned(), event.to_owned()));
        let distinct = seen.first.len();
        shared.distinct.send_replace(distinct);
    }
    let pair = (event.to_owned(), target.to_owned());
    if seen.waiting.remove(&pair) {
        shared.missing.send_modify(|n| *n = n.saturating_sub(1));
    }
    seen.delivered.insert(pair);
    drop(seen);
    shared.options.counters.accepted.send_modify(|n| *n += 1);
    StatusCode::OK
}

impl Counter {
    /// Starts on 127.0.0.1, answering 200 at once.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Starts as `options` say.
    pub async fn start_with(options: Options) -> Self {
        assert!(
            options.ip.is_loopback(),
            "test receivers listen on loopback only"
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(options.ip, 0))
            .await
            .expect("bind a loopback port for the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let shared = Arc::new(Shared {
            seen: Mutex::new(Seen::default()),
            options,
            distinct: watch::channel(0).0,
            missing: watch::channel(0).0,
        });
        let router = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits until every pair of `expected` has been accepted at least once; panics naming
    /// how many are missing after `timeout`.
    pub async fn wait_for_all(&self, expected: impl IntoIterator<Item = Pair>, timeout: Duration) {
        {
            let mut seen = lock(&self.shared);
            let missing: HashSet<Pair> = expected
                .into_iter()
                .filter(|pair| !seen.delivered.contains(pair))
                .collect();
            self.shared.missing.send_replace(missing.len());
            seen.waiting = missing;
        }
        let mut missing = self.shared.missing.subscribe();
        let done = tokio::time::timeout(timeout, missing.wait_for(|n| *n == 0)).await;
        assert!(
            matches!(done, Ok(Ok(_))),
            "{} acknowledged send outs never arrived at {}",
            *self.shared.missing.borrow(),
            self.addr
        );
    }

    /// Waits until every event in `expected` has had that many distinct send outs delivered;
    /// says how many are missing if that takes longer than `timeout`.
    pub async fn wait_for_events(
        &self,
        expected: &HashMap<String, u32>,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut missing: HashMap<&str, u32> = expected
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(id, n)| (id.as_str(), *n))
            .collect();
        let mut read = 0;
        let mut distinct = self.shared.distinct.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Marked seen before reading, not after: a send out recorded between the read
            // and the mark would otherwise wake nobody, and the wait would end in a timeout
            // with everything delivered.
            distinct.borrow_and_update();
            {
                let seen = lock(&self.shared);
                for (_, event_id) in &seen.first[read..] {
                    if let Some(left) = missing.get_mut(event_id.as_str()) {
                        *left -= 1;
                        if *left == 0 {
                            missing.remove(event_id.as_str());
                        }
                    }
                }
                read = seen.first.len();
            }
            if missing.is_empty() {
                return Ok(());
            }
            let changed = tokio::time::timeout_at(deadline, distinct.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                let left: u32 = missing.values().sum();
                return Err(format!(
                    "{left} send outs of {} events were not delivered within {timeout:?} \
                     ({read} distinct send outs arrived)",
                    missing.len()
                ));
            }
        }
    }

    /// Waits until `count` distinct send outs have arrived.
    pub async fn wait_for_distinct(&self, count: usize, timeout: Duration) {
        let mut distinct = self.shared.distinct.subscribe();
        let reached = tokio::time::timeout(timeout, distinct.wait_for(|n| *n >= count)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "{count} send outs did not arrive within {timeout:?}"
        );
    }

    /// (send outs accepted at least once, 2xx answers in all).
    pub fn figures(&self) -> (u64, u64) {
        let seen = lock(&self.shared);
        let distinct = seen.counts.len() as u64;
        let total = seen.counts.values().map(|n| u64::from(*n)).sum();
        (distinct, total)
    }

    /// The events whose send outs were accepted at least once (the envelopes' `event.id`).
    pub fn events(&self) -> HashSet<String> {
        let seen = lock(&self.shared);
        seen.first.iter().map(|(_, event)| event.clone()).collect()
    }

    /// Everything seen so far.
    pub fn tally(&self) -> Tally {
        let seen = lock(&self.shared);
        Tally {
            counts: seen.counts.clone(),
            malformed: seen.malformed,
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.server.abort();
    }
}
