//! The listener task of a [`PostgresStore`](super::PostgresStore): one connection that
//! `LISTEN`s on [`WORK_CHANNEL`] and wakes this process's workers on every notification.
//!
//! Notifications sent while nobody listens are gone, so each time listening (re)starts the
//! workers are woken once, to look for work announced meanwhile. A lost connection is replaced
//! with a back-off; sqlx's own reconnection inside `try_recv` counts as a restart too. The task
//! ends when the store's last clone drops its end of the `stop` channel.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::{oneshot, watch, Notify};

use super::WORK_CHANNEL;
use crate::sql::wake;

/// The shortest and longest wait before the listener reconnects.
const LISTEN_RETRY_MIN: Duration = Duration::from_millis(100);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(5);

/// The listener task: wakes the workers on every notification of the work channel, and
/// reconnects (re-listening) with a back-off when the connection is lost, until `stop` fires.
pub(super) async fn listen(
    connect: PgConnectOptions,
    work: Arc<Notify>,
    sessions: watch::Sender<u64>,
    mut stop: oneshot::Receiver<()>,
) {
    // A pool of one only to (re)open the connection; it is never shared.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(LISTEN_RETRY_MAX)
        .connect_lazy_with(connect);
    let mut retry = LISTEN_RETRY_MIN;
    loop {
        let mut listened = false;
        let error = tokio::select! {
            _ = &mut stop => return,
            error = session(&pool, &work, &sessions, &mut listened) => error,
        };
        if listened {
            retry = LISTEN_RETRY_MIN;
        }
        tracing::warn!(error = %error, retry_ms = retry.as_millis() as u64,
            "listening for new work on PostgreSQL failed; reconnecting");
        // Workers fall back to looking at the store every second meanwhile.
        wake(&work);
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LISTEN_RETRY_MAX);
    }
}

/// One listening connection, until it fails; sets `listened` once `LISTEN` succeeded and
/// counts every (re)start of listening in `sessions`.
async fn session(
    pool: &PgPool,
    work: &Notify,
    sessions: &watch::Sender<u64>,
    listened: &mut bool,
) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => return error,
    };
    if let Err(error) = listener.listen(WORK_CHANNEL).await {
        return error;
    }
    *listened = true;
    // Work committed while nobody listened was announced to nobody: look now.
    wake(work);
    sessions.send_modify(|n| *n += 1);
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => wake(work),
            // The connection was lost and has been re-opened and re-listened: as above.
            Ok(None) => {
                wake(work);
                sessions.send_modify(|n| *n += 1);
            }
            Err(error) => return error,
        }
    }
}
