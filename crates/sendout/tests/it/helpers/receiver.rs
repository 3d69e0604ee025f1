//! A real HTTP receiver on loopback for tests: it records every request it gets and answers as
//! the test programs it (per path, or for every path), so tests can watch what sendout sends
//! without mocking the HTTP client.
//!
//! ```ignore
//! use std::time::Duration;
//! use crate::helpers::receiver::{Behaviour, Receiver, Reply};
//!
//! let receiver = Receiver::start().await;
//! receiver.on("/hook", Behaviour::fail_then_succeed(2, Reply::status(500)));
//! // … point a webhook at receiver.url("/hook") …
//! let got = receiver.wait_for(3, Duration::from_secs(5)).await;
//! ```
//!
//! Waiting is driven by a watch channel of the request count, never by sleep-polling.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    /// The path without the query.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request arrived (before any programmed delay); follows paused time.
    pub at: Instant,
}

impl Received {
    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as UTF-8 text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One answer: a status, headers, a body and an optional delay before answering.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Reply {
    /// An empty answer with this status.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
        }
    }

    /// `200 OK` with an empty body.
    pub fn ok() -> Self {
        Self::status(200)
    }

    /// `410 Gone`: the receiver asks never to be called again.
    pub fn gone() -> Self {
        Self::status(410)
    }

    /// `302 Found` pointing at `location` (which sendout must not follow).
    pub fn redirect(location: impl Into<String>) -> Self {
        Self::status(302).header("location", location)
    }

    /// `200 OK` with a body of `len` bytes of `x` (for the response-size cap).
    pub fn big_body(len: usize) -> Self {
        Self::ok().body(vec![b'x'; len])
    }

    /// `status` with a `Retry-After` of `value` (seconds or an HTTP date).
    pub fn retry_after(status: u16, value: impl Into<String>) -> Self {
        Self::status(status).header("retry-after", value)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// How a path (or every path) answers, request after request: the replies in order, the last
/// one repeated forever.
#[derive(Debug, Clone)]
pub struct Behaviour {
    replies: Vec<Reply>,
}

impl Behaviour {
    /// Always answers `reply`.
    pub fn always(reply: Reply) -> Self {
        Self {
            replies: vec![reply],
        }
    }

    /// Answers these replies in order, then repeats the last one.
    pub fn sequence(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "a behaviour needs at least one reply");
        Self { replies }
    }

    /// Answers `failure` to the first `failures` requests, then `200 OK`.
    pub fn fail_then_succeed(failures: usize, failure: Reply) -> Self {
        let mut replies = vec![failure; failures];
        replies.push(Reply::ok());
        Self { replies }
    }

    fn reply(&self, index: usize) -> Reply {
        let last = self.replies.len() - 1;
        self.replies[index.min(last)].clone()
    }
}

#[derive(Debug)]
struct Shared {
    received: Mutex<Vec<Received>>,
    count: watch::Sender<usize>,
    default: Mutex<Behaviour>,
    by_path: Mutex<HashMap<String, Behaviour>>,
    /// How many requests each path has had, to pick the next reply of its behaviour.
    hits: Mutex<HashMap<String, usize>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// Counts a request as in flight until dropped (after its answer is made).
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; keep serving.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A recording HTTP receiver on a loopback address; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1` and a free port, answering `200 OK` to everything.
    pub async fn start() -> Self {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// Starts a receiver on a given loopback address (e.g. `127.0.0.2`) and a free port.
    pub async fn start_on(ip: IpAddr) -> Self {
        assert!(ip.is_loopback(), "test receivers listen on loopback only");
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind a loopback port for the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let (count, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            count,
            default: Mutex::new(Behaviour::always(Reply::ok())),
            by_path: Mutex::new(HashMap::new()),
            hits: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let router = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            // Ends when the task is aborted (the receiver dropped).
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The socket address the receiver listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sets how every path without its own behaviour answers.
    pub fn set_default(&self, behaviour: Behaviour) {
        *lock(&self.shared.default) = behaviour;
    }

    /// Sets how `path` answers.
    pub fn on(&self, path: &str, behaviour: Behaviour) {
        lock(&self.shared.by_path).insert(path.to_owned(), behaviour);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// The requests so far to `path`.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        lock(&self.shared.received)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The most requests that were being answered at once (arrived, answer not yet made).
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// Waits until at least `count` requests have arrived and returns all of them; panics
    /// with what did arrive if that takes longer than `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let mut watcher = self.shared.count.subscribe();
        let reached = tokio::time::timeout(timeout, watcher.wait_for(|n| *n >= count)).await;
        match reached {
            Ok(Ok(_)) => self.received(),
            _ => panic!(
                "expected {count} requests within {timeout:?}, got {}: {:#?}",
                self.count(),
                self.received()
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_flight = InFlight::enter(&shared);
    let path = uri.path().to_owned();
    let index = {
        let mut hits = lock(&shared.hits);
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let reply = match lock(&shared.by_path).get(&path) {
        Some(behaviour) => behaviour.reply(index),
        None => lock(&shared.default).reply(index),
    };
    {
        let mut received = lock(&shared.received);
        received.push(Received {
            method,
            path,
            query: uri.query().map(str::to_owned),
            headers,
            body,
            at: Instant::now(),
        });
        let total = received.len();
        shared.count.send_replace(total);
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    reply.into_response()
}
