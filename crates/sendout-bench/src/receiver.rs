//! The benchmark's receiver: `sendout-bench receiver`, a hidden subcommand of the bench's own
//! binary run in its own process, so that its work is not counted against the engine's (or the bare client's)
//! process, and it cannot slow them through a shared runtime.
//!
//! It listens on one loopback port per webhook (so a fan-out to W webhooks is W hosts, as W
//! merchants' endpoints would be), answers every POST at once (200, or 500 to a chosen share
//! of attempts), and keeps only what the figures need: counts, the set of `webhook-id`s it
//! accepted (to count deliveries and duplicates), the first and last acceptance time and,
//! when asked, each accepted event's id with its receipt time (for ingest-to-receipt latency).
//! Times are wall-clock microseconds since the Unix epoch, comparable across the processes
//! of one machine.
//!
//! It prints `{"addrs": [...]}` on one stdout line once listening, and answers
//! `GET /_bench/stats` and `GET /_bench/receipts` on any of its ports.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::measure::now_us;

/// `sendout-bench receiver`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// How many loopback ports to listen on.
    #[arg(long, default_value_t = 1)]
    pub ports: usize,
    /// Answer 500 to this percentage of requests, at random.
    #[arg(long, default_value_t = 0.0)]
    pub fail_percent: f64,
    /// Keep each accepted event's id and receipt time.
    #[arg(long)]
    pub record_events: bool,
}

/// What the receiver has seen, as `GET /_bench/stats` answers it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Requests of any kind to the webhook paths.
    pub requests: u64,
    /// Requests answered 500 on purpose.
    pub failed: u64,
    /// Distinct `webhook-id`s answered 200: completed deliveries.
    pub delivered: u64,
    /// 200 answers to a `webhook-id` already answered 200 before.
    pub duplicates: u64,
    /// Bytes of request bodies.
    pub body_bytes: u64,
    /// When the first and the last 200 were given (µs since the Unix epoch).
    pub first_ok_us: Option<u64>,
    pub last_ok_us: Option<u64>,
}

/// One accepted event: its id (from the envelope) and when it arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    pub event_id: String,
    pub at_us: u64,
}

#[derive(Debug, Default)]
struct Accepted {
    ids: HashSet<u64>,
    duplicates: u64,
    first_ok_us: Option<u64>,
    last_ok_us: Option<u64>,
    receipts: Vec<Receipt>,
}

#[derive(Debug)]
struct Shared {
    fail_per_million: u64,
    record_events: bool,
    requests: AtomicU64,
    failed: AtomicU64,
    body_bytes: AtomicU64,
    accepted: Mutex<Accepted>,
}

/// Runs the receiver until its standard input closes (the bench ending or dying) or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if !(0.0..=100.0).contains(&args.fail_percent) {
        anyhow::bail!("--fail-percent must be between 0 and 100");
    }
    let shared = Arc::new(Shared {
        fail_per_million: (args.fail_percent * 10_000.0).round() as u64,
        record_events: args.record_events,
        requests: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        body_bytes: AtomicU64::new(0),
        accepted: Mutex::new(Accepted::default()),
    });
    let app = Router::new()
        .route("/_bench/stats", get(stats))
        .route("/_bench/receipts", get(receipts))
        .fallback(receive)
        .with_state(shared);
    let mut addrs = Vec::new();
    let mut servers = tokio::task::JoinSet::new();
    // One loopback address per port (127.0.0.1, 127.0.0.2, ...): the engine's per-host limit
    // is per address, so W webhooks are W hosts only on W addresses.
    for n in 0..args.ports.clamp(1, 254) {
        let address = std::net::Ipv4Addr::new(127, 0, 0, 1 + n as u8);
        let listener = tokio::net::TcpListener::bind((address, 0)).await?;
        addrs.push(listener.local_addr()?);
        let app = app.clone();
        servers.spawn(async move { axum::serve(listener, app).await });
    }
    println!("{}", serde_json::json!({ "addrs": addrs }));
    tokio::select! {
        _ = stdin_closed() => {}
        _ = tokio::signal::ctrl_c() => {}
        Some(ended) = servers.join_next() => {
            ended??;
        }
    }
    Ok(())
}

/// Resolves when standard input reaches its end: the parent closed it or died.
async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buffer).await {
        if n == 0 {
            break;
        }
    }
}

fn hash_of(text: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The `event.id` of an envelope, found from its end (where the `event` object is) without
/// parsing the body.
fn event_id(body: &[u8]) -> Option<String> {
    const KEY: &str = "\"event\":{\"id\":\"";
    let text = std::str::from_utf8(body).ok()?;
    let start = text.rfind(KEY)? + KEY.len();
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = now_us();
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared
        .body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    if shared.fail_per_million > 0 && rand::random::<u64>() % 1_000_000 < shared.fail_per_million {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = headers
        .get("webhook-id")
        .map_or(0, |value| hash_of(value.as_bytes()));
    let event = shared.record_events.then(|| event_id(&body)).flatten();
    let mut accepted = shared
        .accepted
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if !accepted.ids.insert(id) {
        accepted.duplicates += 1;
    }
    accepted.first_ok_us.get_or_insert(at);
    accepted.last_ok_us = Some(accepted.last_ok_us.map_or(at, |last| last.max(at)));
    if let Some(event_id) = event {
        accepted.receipts.push(Receipt {
            event_id,
            at_us: at,
        });
    }
    StatusCode::OK
}

async fn stats(State(shared): State<Arc<Shared>>) -> axum::Json<Stats> {
    let accepted = shared
        .accepted
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    axum::Json(Stats {
        requests: shared.requests.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        delivered: accepted.ids.len() as u64,
        duplicates: accepted.duplicates,
        body_bytes: shared.body_bytes.load(Ordering::Relaxed),
        first_ok_us: accepted.first_ok_us,
        last_ok_us: accepted.last_ok_us,
    })
}

async fn receipts(State(shared): State<Arc<Shared>>) -> axum::Json<Vec<Receipt>> {
    let accepted = shared
        .accepted
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    axum::Json(accepted.receipts.clone())
}

/// A receiver's addresses, as it printed them.
#[derive(Debug, Deserialize)]
pub struct Listening {
    pub addrs: Vec<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_id_is_found_at_the_end_of_an_envelope() {
        let body = br#"{"id":"whs_1","data":{"event":{"id":"not this"}},"event":{"id":"evvou_01abc","type":"voucher.published"}}"#;
        assert_eq!(event_id(body).as_deref(), Some("evvou_01abc"));
        assert_eq!(event_id(b"{\"id\":\"x\"}"), None);
    }
}
