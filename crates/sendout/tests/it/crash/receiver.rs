//! The crash test's receiver: slow on purpose, failing the first attempt of about one send
//! out in ten (so retries are scheduled all along), and counting what it accepted by
//! `webhook-id` (the send out's id: the same for every attempt of one send out).
//!
//! A request counts as delivered when the receiver answers it 2xx, whether or not sendout
//! lives to read the answer: that is what "at least once" promises a receiver.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One send out's (event id, webhook id): what must arrive at least once.
pub type Pair = (String, String);

/// The receiver's tallies.
#[derive(Debug, Default)]
struct Tally {
    /// 2xx answers per send out id.
    accepted: HashMap<String, u32>,
    /// The (event, webhook) pairs accepted at least once.
    delivered: HashSet<Pair>,
    /// Pairs a test waits for that have not arrived yet.
    waiting: HashSet<Pair>,
    /// Send outs that already had their one failure.
    failed_once: HashSet<String>,
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

#[derive(Debug)]
struct Shared {
    tally: Mutex<Tally>,
    delay: Duration,
    counters: Arc<Counters>,
    /// How many waited-for pairs are still missing.
    missing: watch::Sender<usize>,
}

fn lock(mutex: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A counting receiver on a loopback address; stops when dropped.
#[derive(Debug)]
pub struct CountingReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

/// Whether this send out's first attempt is answered 500 (about one in ten, by its id).
fn fails_first(id: &str) -> bool {
    id.bytes().map(u32::from).sum::<u32>() % 10 == 0
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    tokio::time::sleep(shared.delay).await;
    let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let pair = (
        envelope["event"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        envelope["source"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    let mut tally = lock(&shared.tally);
    if fails_first(id) && tally.failed_once.insert(id.to_owned()) {
        drop(tally);
        shared.counters.failures.send_modify(|n| *n += 1);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    *tally.accepted.entry(id.to_owned()).or_insert(0) += 1;
    if tally.waiting.remove(&pair) {
        shared.missing.send_modify(|n| *n = n.saturating_sub(1));
    }
    tally.delivered.insert(pair);
    drop(tally);
    shared.counters.accepted.send_modify(|n| *n += 1);
    StatusCode::OK
}

impl CountingReceiver {
    /// Starts on `ip` (loopback) and a free port, answering after `delay` and counting
    /// into `counters`.
    pub async fn start(ip: IpAddr, delay: Duration, counters: Arc<Counters>) -> Self {
        assert!(ip.is_loopback(), "test receivers listen on loopback only");
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("the receiver's address");
        let shared = Arc::new(Shared {
            tally: Mutex::new(Tally::default()),
            delay,
            counters,
            missing: watch::channel(0).0,
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// `http://addr/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Waits until every pair of `expected` has been accepted at least once; panics naming
    /// how many are missing after `timeout`.
    pub async fn wait_for_all(&self, expected: impl IntoIterator<Item = Pair>, timeout: Duration) {
        {
            let mut tally = lock(&self.shared.tally);
            let missing: HashSet<Pair> = expected
                .into_iter()
                .filter(|pair| !tally.delivered.contains(pair))
                .collect();
            self.shared.missing.send_replace(missing.len());
            tally.waiting = missing;
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

    /// (send outs accepted at least once, 2xx answers in all).
    pub fn figures(&self) -> (u64, u64) {
        let tally = lock(&self.shared.tally);
        let distinct = tally.accepted.len() as u64;
        let total = tally.accepted.values().map(|n| u64::from(*n)).sum();
        (distinct, total)
    }
}

impl Drop for CountingReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
