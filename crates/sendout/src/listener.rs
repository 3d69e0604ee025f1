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
//!   once. At the limit the server stops accepting: new connections wait in the kernel's accept
//!   backlog (holding no file descriptor of the process) until one closes, which the header
//!   timeout makes happen to any idle one within that time.
//!
//! Shutdown: when the token fires, the listener is closed, every connection is asked to shut
//! down gracefully (an idle one closes at once, one in the middle of a request closes after its
//! response; one that never sent a whole request head is dropped), and [`serve`] returns once
//! all have closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
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
        // Latency over throughput: responses are small and answered at once.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let used = Arc::new(AtomicBool::new(false));
        let first_request = used.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            first_request.store(true, Ordering::Relaxed);
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = shutdown.cancelled() => {
                    // hyper closes a kept-alive connection between requests at once, but waits
                    // for the first request of one that never sent any (up to the header
                    // timeout): nothing has run for it, so it is dropped instead.
                    if !used.load(Ordering::Relaxed) {
                        return;
                    }
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                // A header timeout, a client gone mid-request: theirs, not ours.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}
