//! The HTTP server under both front ends: accepts connections on the API's listener and serves
//! each with hyper's HTTP/1 connection, within two limits that keep sockets nobody
//! authenticated from starving the work of those who did (issue 16):
//!
//! - **header timeout** (`http_header_timeout`): hyper's header-read timeout. Its clock starts
//!   when the connection begins waiting for a request (when it is accepted, and on a kept-alive
//!   connection when the previous response was written) and stops when the request's head has
//!   arrived whole; a connection that runs out of it is closed. So it is also the keep-alive
//!   idle timeout: a socket that sends nothing, or sends its head a byte at a time, is closed
//!   after this long.
//! - **connection limit** (`http_max_connections`): at most this many connections are open at
//!   once. A connection accepted at the limit makes the oldest connection that has not sent a
//!   request yet be dropped to make room for it (as nginx reuses idle connections): sockets
//!   that only wait cannot keep a client with work out. When every connection has a request
//!   (or has had one), the new connection waits, accepted, for one to close, and those after
//!   it wait in the kernel's accept backlog, holding no file descriptor of the process.
//!
//! Shutdown: when the token fires, the listener is closed, every connection is asked to shut
//! down gracefully (an idle one closes at once, one in the middle of a request closes after its
//! response; one that never sent a whole request head is dropped), and [`serve`] returns once
//! all have closed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long to wait before accepting again after accepting failed (out of file descriptors,
/// say): retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The connections that have not sent a request yet, oldest first (by accept order), each with
/// the token that drops it: what is given up first at the connection limit.
#[derive(Debug, Default)]
struct Unused {
    next: u64,
    waiting: BTreeMap<u64, CancellationToken>,
}

impl Unused {
    /// Registers a new connection; its token fires when it is shed or `shutdown` fires.
    fn add(&mut self, shutdown: &CancellationToken) -> (u64, CancellationToken) {
        let id = self.next;
        self.next += 1;
        let token = shutdown.child_token();
        self.waiting.insert(id, token.clone());
        (id, token)
    }

    /// Drops the oldest; false if there is none.
    fn shed_oldest(&mut self) -> bool {
        match self.waiting.pop_first() {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// The listener's limits (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` fires and every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let unused = Arc::new(Mutex::new(Unused::default()));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if lock(&unused).shed_oldest() {
                    tracing::debug!(
                        "connection limit reached: dropped the oldest connection without a request"
                    );
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        // Latency over throughput: responses are small and answered at once.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let used = Arc::new(AtomicBool::new(false));
        let (id, stop) = lock(&unused).add(&shutdown);
        let (first_request, registry) = (used.clone(), unused.clone());
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            if !first_request.swap(true, Ordering::Relaxed) {
                lock(&registry).waiting.remove(&id);
            }
            let mut request = request.map(axum::body::Body::new);
            // Who is asking, for the limit on failed authentication (`crate::peer`).
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let registry = unused.clone();
        let connection = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                // Shutdown, or shed for a newer connection at the limit. hyper closes a
                // kept-alive connection between requests at once and lets a request in
                // progress finish, but waits for the first request of a connection that
                // never sent one (up to the header timeout): nothing has run for that one,
                // so it is dropped instead.
                () = stop.cancelled() => if used.load(Ordering::Relaxed) {
                    connection.as_mut().graceful_shutdown();
                    Some(connection.await)
                } else {
                    None
                },
            };
            lock(&registry).waiting.remove(&id);
            if let Some(Err(e)) = ended {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// The registry's lock; its bookkeeping cannot be left half done, so a poisoned one is used
/// as it is.
fn lock(unused: &Mutex<Unused>) -> std::sync::MutexGuard<'_, Unused> {
    unused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
