//! A lean loopback receiver for many deliveries: it answers `200` at once and counts every
//! delivery by its send-out id (`webhook-id`), remembering which event each send out carried
//! (the envelope's `event.id`). It keeps counts, not bodies, so 80,000 deliveries cost little.
//!
//! Waiting is driven by a watch channel of the number of distinct send outs seen, never by
//! sleep-polling: [`Counter::wait_for_events`] reads only the deliveries that arrived since it
//! last looked.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
struct Seen {
    /// Deliveries per send-out id.
    counts: HashMap<String, u32>,
    /// `(send-out id, event id)` in the order send outs were first seen.
    first: Vec<(String, String)>,
    /// Requests without a `webhook-id` or without an `event.id` in their body.
    malformed: u32,
}

#[derive(Debug)]
struct Shared {
    seen: Mutex<Seen>,
    distinct: watch::Sender<usize>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Seen> {
    shared.seen.lock().unwrap_or_else(|p| p.into_inner())
}

/// A counting HTTP receiver on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct Counter {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

/// What the receiver saw, once the senders are done.
#[derive(Debug)]
pub struct Tally {
    pub counts: HashMap<String, u32>,
    pub malformed: u32,
}

impl Tally {
    /// Deliveries beyond the first of each send out.
    pub fn duplicates(&self) -> u64 {
        self.counts.values().map(|n| u64::from(n - 1)).sum()
    }
}

impl Counter {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind a loopback port for the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared {
            seen: Mutex::new(Seen::default()),
            distinct: watch::channel(0).0,
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
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

async fn record(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let send_out = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let event = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|body| body["event"]["id"].as_str().map(str::to_owned));
    let mut seen = lock(&shared);
    match (send_out, event) {
        (Some(send_out), Some(event)) => {
            let count = seen.counts.entry(send_out.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                seen.first.push((send_out, event));
                let distinct = seen.first.len();
                shared.distinct.send_replace(distinct);
            }
        }
        _ => seen.malformed += 1,
    }
    StatusCode::OK
}
