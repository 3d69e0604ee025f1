//! The shared store: any number of sendout processes on one PostgreSQL database (PRODUCT §7).
//!
//! **Connections.** One pool per process (`database_pool_size`, default 10) for every
//! statement, plus one dedicated connection that `LISTEN`s for new work. Connections are
//! checked before use, so after the database restarts the pool replaces dead ones by itself.
//! A transaction cut off fails with [`StoreError::Database`] and, unless it was cut off in the
//! very moment of its commit (the answer lost, not the commit), stores nothing: a client that
//! got an error may retry (at worst its event is delivered twice), and a client that got a 202
//! has its event and send outs committed.
//!
//! **The queue** is the `send_outs` table, with the same invariants as the embedded store (see
//! [`crate::sqlite`]): an open send out has a `next_attempt_at`, a finished one has none, and a
//! claim moves `next_attempt_at` to the lease's end. Claims use `FOR UPDATE SKIP LOCKED`, so
//! nodes claiming at once take disjoint sets without waiting on each other (`queue.rs`).
//!
//! **Waking workers across nodes.** Every transaction that makes work due (ingest, release,
//! requeue) also runs `pg_notify('sendout_work', '')`, which PostgreSQL delivers to every
//! listening connection when — and only if — the transaction commits. Each store's listener
//! task turns a notification into a wake-up of its process's workers (`notify_waiters()` for
//! those waiting now, `notify_one()` for one that is between a claim and its next wait, as in
//! the embedded store). The listener reconnects and re-listens with a back-off when its
//! connection is lost, and wakes the workers once it is back, since notifications sent while
//! nobody listened are gone. Workers still look at the store at least once a second, so a lost
//! notification delays work by that much at most; it never loses it.

mod complete;
mod group;
mod ingest;
mod listener;
mod queue;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::{oneshot, watch, Notify};

use crate::sql::Backend;
use crate::{Lifecycle, StoreError, StoreResult};

/// The channel on which committed work is announced to every node.
pub const WORK_CHANNEL: &str = "sendout_work";
/// The `application_name` of the pool's connections and of the listener's, as
/// `pg_stat_activity` shows them.
pub const APPLICATION_NAME: &str = "sendout";
pub const LISTENER_APPLICATION_NAME: &str = "sendout-listener";

/// How [`PostgresStore::open_with`] connects.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections the pool opens (the listener's comes on top).
    pub pool_size: u32,
    /// How long a statement waits for a free (or new) connection before it fails; while the
    /// database restarts, statements wait up to this long for it to come back.
    pub acquire_timeout: Duration,
}

/// A pooled connection idle this long is pinged before it is used again.
const PING_IDLE: Duration = Duration::from_secs(1);

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 10,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The shared store: a PostgreSQL database that several sendout processes use at once.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    work: Arc<Notify>,
    /// How many times the listener has started listening (see [`PostgresStore::listening`]).
    listening: watch::Receiver<u64>,
    /// Dropped with the last clone of the store, which ends the listener task.
    _stop_listener: Arc<oneshot::Sender<()>>,
    /// This process's worker's inbox, once it asked for fresh send outs (see `ingest.rs`).
    handoff: crate::handoff::Slot,
    /// Where this node's next claim starts its list of projects (see `fair.rs`).
    claim_cursor: crate::fair::Cursor,
    /// Where ingest calls without keys go to be written in groups (see `group.rs`).
    ingest: crate::group::Jobs,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`)
    /// with the default options. Does not migrate; call [`crate::Lifecycle::migrate`]. Must
    /// be called inside a Tokio runtime, which runs the store's listener task.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::open`] with explicit options. Fails at once if the database cannot
    /// be reached, so a misconfigured node does not start.
    pub async fn open_with(url: &str, options: PostgresOptions) -> StoreResult<Self> {
        let invalid = |why: String| StoreError::Database(format!("invalid PostgreSQL URL: {why}"));
        // sqlx reads any scheme as PostgreSQL's; a mistyped URL should not reach the network.
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "it must start with postgres:// or postgresql://".into(),
            ));
        }
        let connect = PgConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A connection that sat idle may be dead (the server restarted): ask it before
            // use. One in use moments ago is not asked: a ping on every acquire was an extra
            // round trip per transaction, an eighth of the engine's time in single-event
            // ingest, and a connection that died since fails its query once and is dropped.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect.clone().application_name(APPLICATION_NAME))
            .await?;
        let work = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel();
        let (sessions, listening) = watch::channel(0);
        tokio::spawn(listener::listen(
            connect.application_name(LISTENER_APPLICATION_NAME),
            work.clone(),
            sessions,
            stopped,
        ));
        let handoff = crate::handoff::Slot::default();
        let ingest = group::spawn(ingest::Writer {
            pool: pool.clone(),
            handoff: handoff.clone(),
            work: work.clone(),
        });
        Ok(Self {
            pool,
            work,
            listening,
            _stop_listener: Arc::new(stop),
            handoff,
            claim_cursor: crate::fair::Cursor::default(),
            ingest,
        })
    }

    /// How many times the listener has started listening: 1 once it first listens, one more
    /// after each reconnection. Each start has already woken the workers (work may have been
    /// announced while nobody listened) by the time it is counted. For health checks and tests.
    pub fn listening(&self) -> watch::Receiver<u64> {
        self.listening.clone()
    }

    /// What a transaction of ingest needs of the store (see `group.rs`).
    fn writer(&self) -> ingest::Writer {
        ingest::Writer {
            pool: self.pool.clone(),
            handoff: self.handoff.clone(),
            work: self.work.clone(),
        }
    }

    /// Closes every connection of the pool (waiting for those in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Lifecycle for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx holds an advisory lock while migrating, so nodes starting together take turns.
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }
}

/// The advisory lock that serializes first starts across nodes (any constant no other code
/// uses: "sendout" in ASCII).
const FIRST_START_LOCK: i64 = 0x73_656e_646f_7574;

/// The shared SQL's connections: one pool for everything, row locks where several nodes may
/// write the same rows at once.
#[async_trait]
impl Backend for PostgresStore {
    type Db = Postgres;

    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const ROW_KEY: &'static str = "id";

    async fn reader(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn writer(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Holds a transaction-level advisory lock until it ends: the same call on another node
    /// waits there.
    async fn begin_exclusive(&self) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_START_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// `REPEATABLE READ`: every statement sees the snapshot of the first, whatever other
    /// nodes commit meanwhile.
    async fn snapshot(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    async fn announce_work(&self, tx: &mut Transaction<'static, Postgres>) -> StoreResult<()> {
        ingest::notify_work(tx).await
    }

    fn work(&self) -> &Arc<Notify> {
        &self.work
    }
}
