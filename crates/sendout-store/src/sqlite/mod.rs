//! The embedded store: one SQLite file, zero set-up (PRODUCT §7).
//!
//! **Connections.** One writer connection (a pool of one) and a pool of readers, all opened
//! with the store and kept open until it closes (see `kept_open`). Every write
//! goes through the writer inside `BEGIN IMMEDIATE`, so writes queue in the pool instead of
//! fighting over SQLite's lock, and a transaction never has to upgrade a read lock into a write
//! lock (which fails at once with `SQLITE_BUSY` instead of waiting). Readers see the last
//! committed state (WAL), so a read after a write's `await` sees the write. The writes on the
//! delivery path (ingest, claims, outcomes, releases) run on the same writer connection, but
//! each as one closure on a blocking thread rather than a statement per message to sqlx's
//! connection thread (`direct.rs`).
//!
//! **Pragmas.** `journal_mode=WAL` (readers never block the writer), `foreign_keys=ON` (a
//! deleted project takes everything it owns with it), `busy_timeout` (another process, such
//! as a backup or `sendout migrate`, only makes us wait).
//!
//! **Durability.** `synchronous=FULL` by default: in WAL mode that syncs the log at every
//! commit, so once `ingest` returns the event survives a power cut, not only a crash of the
//! process. That is what "durable before acknowledged" (PRODUCT §4) promises a client that got
//! a 202, and what PostgreSQL's default gives the other backend. `synchronous=NORMAL` is also
//! safe against kill -9 (the committed log is in the OS cache, which outlives the process; the
//! crash test of PRODUCT §8) but may lose the last commits on power loss; operators who accept
//! that for throughput choose [`Durability::Normal`]. Ingest's commits, which are direct
//! transactions, get the same guarantee another way: they commit at `NORMAL` and sync the
//! log file after giving the writer back, before answering (see `direct.rs`), so the writer
//! does not wait for the disk. Either way the cost of a sync is paid
//! per transaction, not per row: concurrent ingest calls are group-committed (see
//! `ingest.rs`), and `complete` writes a whole batch of attempts in one transaction. Measured
//! on a development machine, 64 concurrent single-event ingests to four webhooks ran at about
//! 4,000 events/s with `FULL` and 4,600 with `NORMAL`, so the safer default costs little.
//!
//! **Relaxed writes.** Claims (leases) and attempt outcomes commit with `synchronous=NORMAL`
//! even under `Full` ([`direct::Commit::Relaxed`]): losing them in a power cut only means
//! a send out is attempted again, which at-least-once delivery allows, and they are most of
//! the writer's transactions. In WAL mode the next durable commit syncs the log up to itself,
//! so a relaxed commit is never kept while a later durable one is lost. Every other write
//! (ingest, configuration, manual retries) keeps the configured level.
//!
//! **Checkpoints off the writer.** SQLite's automatic checkpoint runs inside the commit that
//! crosses the WAL's size limit, so every few megabytes one commit on the single writer
//! connection also copied the log into the database and synced it: a stall of tens to
//! hundreds of milliseconds for every ingest, claim and outcome queued behind it. The writer
//! has automatic checkpoints off; a task of the store runs `wal_checkpoint(PASSIVE)` on a
//! connection of its own every [`CHECKPOINT_EVERY`], which copies what it can without
//! blocking the writer (SQLite then restarts the log from the start at the next commit).
//! `PASSIVE` never waits for readers, so a long read can only delay a checkpoint, not a write.
//!
//! **A log that starts over.** SQLite writes the log from its start again only when a write
//! transaction begins with every frame already copied into the database. Under a steady load
//! that moment never came: the writer commits while each passive checkpoint runs, so there
//! were always frames left, and the log grew for as long as the load lasted (720 MB in 15
//! seconds of 1,000 events/s, about 48 KB of pages per event). Its growth also made each sync
//! of the log a sync of the file's size, a journal commit of the file system that waits for
//! whatever other data the checkpoints had left unwritten. So when a checkpoint finds the log
//! longer than [`SqliteOptions::wal_restart_bytes`] (copied or not: the file is as long as
//! everything written since the last restart), the checkpoint task takes the writer
//! and checkpoints once more: only what was committed during the first pass is left to copy,
//! so the writer waits little, and the next commit starts the log over. `journal_size_limit`
//! truncates the file to that size when it does.
//!
//! **The queue.** The `send_outs` table is the queue. An open send out (`PENDING`/`RETRYING`)
//! has a `next_attempt_at`; a finished one has none. Claiming sets `lease_until` and moves
//! `next_attempt_at` to the lease's end, so a claimed send out stops being due, comes back on
//! its own if its worker dies, and "the next due time" is one index lookup. A
//! [`Claim`](crate::Claim) shows the send out as it was before the lease (its own schedule). Writing an attempt's result
//! (or releasing the claim) replaces both, if the completion was made under the lease the
//! row holds now (see `postgres/complete.rs` for why). A claim of a finished send out (a
//! manual retry) sets only the lease: it never becomes due by itself.
//!
//! **Waking workers.** After committing new due work, the store calls `notify_waiters()` (wake
//! every worker that is waiting now) and then `notify_one()` (leave one permit for a worker
//! that is between a claim and its next wait, which `notify_waiters` alone would miss: the
//! lost wakeup). The cost is at most one spurious empty claim.

mod backup;
pub use backup::{backup, Backup};
mod direct;
mod ingest;
mod queue;
mod room;
mod rows;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, Notify};

use crate::sql::Backend;
use crate::{Lifecycle, StoreError, StoreResult};

/// How hard a commit tries to reach the disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Sync the log at every commit: an acknowledged write survives power loss.
    #[default]
    Full,
    /// Sync only at checkpoints: an acknowledged write survives a crash of the process, but
    /// the last commits may be lost if the machine loses power.
    Normal,
}

impl Durability {
    /// How a write transaction begins whose commit must reach the disk before it returns.
    /// It sets the level itself, so it holds whatever the connection's last transaction set.
    fn begin(self) -> &'static str {
        match self {
            Durability::Full => "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
            Durability::Normal => "BEGIN IMMEDIATE",
        }
    }
}

/// How often the store's checkpoint task copies the WAL into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// How [`SqliteStore::open_with`] opens the file.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Size of the read pool.
    pub readers: u32,
    /// How long to wait for a lock held by another process.
    pub busy_timeout: Duration,
    /// How long the log may grow before a checkpoint holds the writer for a second pass, so
    /// that the log starts over (see the module docs); also the size
    /// the log file is truncated to when it does.
    pub wal_restart_bytes: u64,
    /// Ingest is refused ([`StoreError::Full`]) while the file system holding the database
    /// has less than this free, so the rest is left to deliveries (see `room.rs`); 0 refuses
    /// only when the disk is full.
    pub min_free_bytes: u64,
}

/// The default of [`SqliteOptions::min_free_bytes`]: as much as the write-ahead log may take
/// under load (see the module docs), which is also a few hundred thousand attempts.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            wal_restart_bytes: 64 * 1024 * 1024,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
        }
    }
}

/// The embedded store: a SQLite database file with one writer and several readers.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    work: Arc<Notify>,
    /// The writer connection again, for transactions run in one go (see `direct.rs`).
    direct: direct::DirectWriter,
    committer: ingest::Committer,
    durability: Durability,
    /// The checkpoint task's connection (see the module docs).
    checkpointer: SqlitePool,
    /// Dropped with the last clone of the store, which ends the checkpoint task.
    _checkpoints: mpsc::Sender<()>,
    /// Where the next claim starts its list of projects (see `fair.rs`).
    claim_cursor: crate::fair::Cursor,
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database at `url_or_path`: a
    /// `sqlite://path?mode=rwc`-style URL or a plain path. Does not migrate; call
    /// [`crate::Lifecycle::migrate`]. Must be called inside a Tokio runtime, which runs the
    /// store's ingest committer for as long as a clone of the store exists.
    pub async fn open(url_or_path: &str) -> StoreResult<Self> {
        Self::open_with(url_or_path, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit options. A store that cannot be opened on a
    /// file system with no room left fails with [`StoreError::Full`].
    pub async fn open_with(url_or_path: &str, options: SqliteOptions) -> StoreResult<Self> {
        let connect = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path)?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        };
        let database = connect.get_filename().to_owned();
        Self::open_on(connect, options)
            .await
            .map_err(|e| room::name_full_disk(e, &database))
    }

    async fn open_on(connect: SqliteConnectOptions, options: SqliteOptions) -> StoreResult<Self> {
        if let Some(dir) = connect.get_filename().parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::io(format_args!("cannot create {}", dir.display()), &e)
                })?;
            }
        }
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            // Checkpoints run on their own connection (see the module docs).
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", options.wal_restart_bytes.to_string());
        // The writer first: it creates the file and switches it to WAL before readers open.
        let writer = kept_open(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(connect.clone())
            .await?;
        let readers = kept_open(options.readers.max(1))
            .connect_with(connect.clone())
            .await?;
        let checkpointer = kept_open(1).connect_with(connect).await?;
        let (checkpoints, stop) = mpsc::channel(1);
        tokio::spawn(checkpoint(
            checkpointer.clone(),
            writer.clone(),
            options.wal_restart_bytes,
            stop,
        ));
        let work = Arc::new(Notify::new());
        let direct =
            direct::DirectWriter::new(writer.clone(), options.durability, connect_path(&writer));
        let room = room::Room::new(connect_path(&writer).as_path(), options.min_free_bytes);
        let committer =
            ingest::Committer::spawn(direct.clone(), readers.clone(), work.clone(), room);
        Ok(Self {
            writer,
            readers,
            work,
            direct,
            committer,
            durability: options.durability,
            checkpointer,
            _checkpoints: checkpoints,
            claim_cursor: crate::fair::Cursor::default(),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> PathBuf {
        connect_path(&self.writer)
    }

    /// Closes every connection (waiting for those in use to come back).
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        self.checkpointer.close().await;
    }

    /// Has every reader read the schema again, after migrations. The pool opens readers in
    /// the background, so one may connect, and read the schema, between two migrations.
    /// SQLite prepares a statement on the schema its connection holds and notices a newer one
    /// only when it runs the statement, preparing it again then: `w.*` then has a column more
    /// than sqlx recorded when it prepared it, which sqlx does not expect (its connection
    /// thread panics). One statement on each reader, holding them all so that each is
    /// reached, settles that before anything else reads.
    async fn read_schema_again(&self) -> StoreResult<()> {
        let mut held = Vec::new();
        for _ in 0..self.readers.options().get_max_connections() {
            let mut reader = self.readers.acquire().await?;
            sqlx::query("SELECT count(*) FROM sqlite_schema")
                .execute(&mut *reader)
                .await?;
            held.push(reader);
        }
        Ok(())
    }

    /// A write transaction on the single writer connection.
    async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with(self.durability.begin()).await?)
    }
}

/// The database file `pool` opens.
fn connect_path(pool: &SqlitePool) -> PathBuf {
    pool.connect_options().get_filename().to_owned()
}

/// A pool of `connections` opened with the store and kept open for its whole life. The pools'
/// defaults suit a server: open on demand, close after 10 minutes idle, replace after 30.
/// Here a connection is a file handle and a thread, and opening one took 5–10 ms in which the
/// request that asked for it waited (the first requests after a start, and again after every
/// quiet spell); a replaced one also starts with no page or statement cache.
fn kept_open(connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] until every store clone is
/// gone (the channel closes), then once more, so a closed store leaves a short log. Holds the
/// `writer` for a second pass when the log is longer than `restart_bytes` (see the module
/// docs).
async fn checkpoint(
    pool: SqlitePool,
    writer: SqlitePool,
    restart_bytes: u64,
    mut stop: mpsc::Receiver<()>,
) {
    // Fixed when the database was made; SQLite's default if it cannot be read now.
    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&pool)
        .await
        .unwrap_or(4096);
    let passive = || async {
        // (busy, frames in the log, frames copied)
        let (_, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await?;
        Ok::<_, sqlx::Error>(u64::try_from(log.saturating_mul(page)).unwrap_or(0))
    };
    loop {
        let stopping = tokio::select! {
            _ = stop.recv() => true,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => false,
        };
        if pool.is_closed() {
            return;
        }
        let checked = match passive().await {
            Ok(log) if log > restart_bytes => match writer.acquire().await {
                // No commit can come between this pass and the next write's start.
                Ok(_held) => passive().await.map(drop),
                Err(e) => Err(e),
            },
            done => done.map(drop),
        };
        if let Err(e) = checked {
            // The next round tries again; the WAL only grows meanwhile.
            tracing::warn!(error = %e, "checkpointing the WAL failed");
        }
        if stopping {
            pool.close().await;
            return;
        }
    }
}

#[async_trait]
impl Lifecycle for SqliteStore {
    /// A migration that fails on a file system with no room left is [`StoreError::Full`].
    /// Afterwards every reader reads the new schema (see `read_schema_again`).
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(|e| room::name_full_disk(e.into(), &self.path()))?;
        self.read_schema_again().await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}

/// The shared SQL's connections: the read pool for reads, the single writer for writes
/// (see the module docs), and no row locks (a write transaction holds the whole database).
#[async_trait]
impl Backend for SqliteStore {
    type Db = Sqlite;

    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const ROW_KEY: &'static str = "rowid";

    async fn reader(&self) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(self.readers.acquire().await?)
    }

    async fn writer(&self) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(self.writer.acquire().await?)
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.write().await
    }

    /// `BEGIN IMMEDIATE` takes the database's write lock before the transaction's first
    /// statement, so another process on the same file waits for it.
    async fn begin_exclusive(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.write().await
    }

    /// One connection, one read transaction: WAL gives it one snapshot.
    async fn snapshot(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.readers.begin().await?)
    }

    /// No other node shares the file: there is nobody beyond this process to tell.
    async fn announce_work(&self, _tx: &mut Transaction<'static, Sqlite>) -> StoreResult<()> {
        Ok(())
    }

    fn work(&self) -> &Arc<Notify> {
        &self.work
    }
}
