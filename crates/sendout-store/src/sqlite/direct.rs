//! Direct write transactions: a whole transaction in one go on the writer's SQLite handle.
//!
//! sqlx runs every SQLite connection on a thread of its own and every statement is a message
//! to that thread and an answer back, so a claim of five statements between `BEGIN` and
//! `COMMIT` was a dozen thread hand-offs, and the single writer connection stayed held (by a
//! transaction waiting for its next statement) far longer than SQLite worked on it: the kernel
//! switching those threads was the largest item of the engine's profile, and the writer was
//! busy a third of the time it was held (docs/PERFORMANCE.md).
//!
//! The writes on the delivery path (ingest's inserts, claims, outcomes, releases) therefore
//! run as one closure on a blocking thread: it takes the writer connection from the pool
//! (so they queue with every other write, as before), locks its SQLite handle away from
//! sqlx's thread ([`sqlx::sqlite::SqliteConnection::lock_handle`]), wraps the handle in a
//! rusqlite connection that does not own it, and runs `BEGIN IMMEDIATE`, its statements and
//! `COMMIT` without a hand-off. Both drivers link the same SQLite library (`libsqlite3-sys`,
//! bundled), so the handle is the same kind of object to both.
//!
//! **Durable commits sync after the writer is free.** Under [`Durability::Full`] a durable
//! direct transaction commits with `synchronous=NORMAL` (SQLite appends its frames to the WAL
//! without waiting for the disk), gives the writer connection back, and only then makes the
//! WAL file durable with `fdatasync`; the caller hears back after that. In WAL mode a commit
//! is exactly its frames in the log, so once the log file is synced the commit survives power
//! loss, as `synchronous=FULL` would have made it, but the next transaction (a claim, say)
//! does not wait for this one's sync. Concurrent syncs of the same file share the disk's
//! flush. A log that has been checkpointed and restarted meanwhile holds later frames too;
//! the checkpoint synced the database file with ours in it before the log could restart.
//!
//! A caller that stops waiting does not cut a direct transaction short: it runs to its commit
//! or rollback on its thread and then gives the connection back, so the write lock is never
//! left held by an abandoned transaction.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use rusqlite::TransactionBehavior;
use sqlx::SqlitePool;

use super::Durability;
use crate::{StoreError, StoreResult};

/// How a direct transaction's commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    /// At the store's durability level (see [`Durability`]).
    Durable,
    /// Without waiting for the disk (`synchronous=NORMAL`), whatever the level: for writes
    /// whose loss in a power cut costs only a repeated delivery (see the module docs of
    /// [`super`]).
    Relaxed,
}

/// The writer connection, for direct transactions.
#[derive(Debug, Clone)]
pub(super) struct DirectWriter {
    pool: SqlitePool,
    durability: Durability,
    /// The database's write-ahead log, synced after durable commits under `Full`.
    wal: PathBuf,
}

impl DirectWriter {
    /// `database` is the database file's path; its log is beside it (`…-wal`).
    pub(super) fn new(pool: SqlitePool, durability: Durability, database: PathBuf) -> Self {
        let mut wal = database.into_os_string();
        wal.push("-wal");
        Self {
            pool,
            durability,
            wal: wal.into(),
        }
    }

    /// The log file durable commits sync.
    #[cfg(test)]
    pub(super) fn wal(&self) -> &std::path::Path {
        &self.wal
    }

    /// Runs `work` in one write transaction (`BEGIN IMMEDIATE` … `COMMIT`, rolled back if it
    /// fails) on the writer connection, on a blocking thread; returns what `work` returned
    /// once the transaction has ended.
    pub(super) async fn run<T, F>(&self, commit: Commit, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        let mut conn = self.pool.acquire().await?;
        let full = self.durability == Durability::Full;
        let sync_wal = (commit == Commit::Durable && self.durability == Durability::Full)
            .then(|| self.wal.clone());
        tokio::task::spawn_blocking(move || {
            let mut handle = futures::executor::block_on(conn.lock_handle())?;
            // SAFETY: while `handle` lives, sqlx's thread makes no call on this SQLite handle
            // or its statements (that is what `lock_handle` guarantees), and `db` is dropped
            // (its statements finalized) before `handle`. `from_handle` never closes it.
            #[allow(unsafe_code)]
            let mut db =
                unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr())? };
            let done = panic::catch_unwind(AssertUnwindSafe(|| transaction(&mut db, work)));
            // Statements outside direct transactions keep the store's level, whatever
            // happened inside.
            let reset = if full {
                db.execute_batch(synchronous(Durability::Full))
                    .map_err(StoreError::from)
            } else {
                Ok(())
            };
            drop(db);
            drop(handle);
            // The writer goes back to the pool before the sync.
            drop(conn);
            let done = match done {
                Ok(done) => reset.and(done)?,
                Err(panicked) => panic::resume_unwind(panicked),
            };
            if let Some(wal) = sync_wal {
                sync(&wal)?;
            }
            Ok(done)
        })
        .await
        .map_err(|e| StoreError::Database(format!("a write transaction failed: {e}")))?
    }
}

/// Makes everything written to the log so far durable. A log that is gone was checkpointed
/// (and the database file synced) before it was removed. A sync refused for want of space
/// (some file systems allocate only then) is [`StoreError::Full`]: the commit may not be
/// durable, so the caller is not told it is (an ingest then answers 503, and the client's
/// retry may store the events twice: at least once, never lost).
fn sync(wal: &std::path::Path) -> StoreResult<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|e| StoreError::io(format_args!("cannot sync {}", wal.display()), &e))
}

/// The pragma that sets a connection to `durability`.
fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "PRAGMA synchronous = FULL",
        Durability::Normal => "PRAGMA synchronous = NORMAL",
    }
}

/// `work` in a transaction that commits without waiting for the disk: a durable one is
/// synced afterwards (see the module docs).
fn transaction<T>(
    db: &mut rusqlite::Connection,
    work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    db.execute_batch(synchronous(Durability::Normal))?;
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done = work(&tx)?;
    tx.commit()?;
    Ok(done)
}
