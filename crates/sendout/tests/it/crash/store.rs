//! Looks into a killed (or stopped) sendout's store directly, as an operator's tools would:
//! SQLite's own integrity check, and figures the API does not show (leases). The store is a
//! SQLite file or a PostgreSQL database; both have the same tables and columns.
//!
//! Opening the store after a kill is what any restart does: SQLite replays its write-ahead log
//! by itself, and PostgreSQL never noticed (only a client died). Nothing here writes to the
//! store, and each look closes its connection before the next start.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, SqliteConnection};

/// Where the store under test lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The SQLite file of the data directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl Backend {
    /// What to add to the binary's environment so that it uses this store (the data
    /// directory is always given; SQLite keeps its file there).
    pub fn env(&self) -> Vec<(&str, &str)> {
        match self {
            Self::Sqlite(_) => Vec::new(),
            Self::Postgres(url) => vec![("SENDOUT_DATABASE_URL", url.as_str())],
        }
    }
}

/// Milliseconds since the Unix epoch, the store's clock.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit")
}

/// One connection to either store.
enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

async fn open(backend: &Backend) -> Conn {
    match backend {
        Backend::Sqlite(db) => Conn::Sqlite(
            SqliteConnectOptions::new()
                .filename(db)
                .connect()
                .await
                .expect("the store opens without repair"),
        ),
        Backend::Postgres(url) => Conn::Postgres(
            PgConnection::connect(url)
                .await
                .expect("the database accepts connections after the kill"),
        ),
    }
}

impl Conn {
    /// A `count(*)` query (no parameters: the SQL is the same on both stores).
    async fn count(&mut self, sql: &str) -> u64 {
        let count: i64 = match self {
            Self::Sqlite(conn) => sqlx::query_scalar(sql).fetch_one(conn).await,
            Self::Postgres(conn) => sqlx::query_scalar(sql).fetch_one(conn).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        u64::try_from(count).unwrap_or_default()
    }

    /// Rows of two text columns, the first nullable.
    async fn pairs(&mut self, sql: &str) -> Vec<(Option<String>, String)> {
        match self {
            Self::Sqlite(conn) => sqlx::query_as(sql).fetch_all(conn).await,
            Self::Postgres(conn) => sqlx::query_as(sql).fetch_all(conn).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn close(self) {
        match self {
            Self::Sqlite(conn) => conn.close().await,
            Self::Postgres(conn) => conn.close().await,
        }
        .expect("the connection closes");
    }
}

/// What a look after a kill found.
#[derive(Debug)]
pub struct AfterKill {
    /// `PRAGMA integrity_check` on SQLite: "ok" when the file is sound. `None` on PostgreSQL:
    /// a killed client cannot damage the server's files, and the server's own crash recovery
    /// (its write-ahead log) is not what is under test.
    pub integrity: Option<String>,
    /// Open send outs the killed process held leased at the moment of the kill: attempts
    /// possibly made whose outcome was not written, the only ones that can be sent twice.
    pub in_flight: u64,
}

/// Checks the store of a process killed at `killed_at_ms`, whose leases end at
/// `its_leases_end_from_ms` or later (leases ending sooner were taken before it started).
pub async fn after_kill(
    backend: &Backend,
    killed_at_ms: i64,
    its_leases_end_from_ms: i64,
) -> AfterKill {
    let mut conn = open(backend).await;
    let integrity = match &mut conn {
        Conn::Sqlite(sqlite) => Some(
            sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(sqlite)
                .await
                .expect("the integrity check runs"),
        ),
        Conn::Postgres(_) => None,
    };
    let in_flight = conn
        .count(&format!(
            "SELECT count(*) FROM send_outs \
             WHERE status IN ('PENDING', 'RETRYING') AND lease_until > {killed_at_ms} \
             AND lease_until >= {its_leases_end_from_ms}"
        ))
        .await;
    conn.close().await;
    AfterKill {
        integrity,
        in_flight,
    }
}

/// The statuses of each event's send outs, sorted.
pub async fn send_out_statuses_by_event(backend: &Backend) -> HashMap<String, Vec<String>> {
    let mut conn = open(backend).await;
    let rows = conn.pairs("SELECT event_id, status FROM send_outs").await;
    conn.close().await;
    let mut by_event: HashMap<String, Vec<String>> = HashMap::new();
    for (event, status) in rows {
        if let Some(event) = event {
            by_event.entry(event).or_default().push(status);
        }
    }
    for statuses in by_event.values_mut() {
        statuses.sort();
    }
    by_event
}

/// Attempts that ended in a timeout: the receiver may have taken them although sendout did
/// not see the answer, so each may be delivered again.
pub async fn timed_out_attempts(backend: &Backend) -> u64 {
    let mut conn = open(backend).await;
    let count = conn
        .count("SELECT count(*) FROM attempts WHERE error LIKE 'timed out%'")
        .await;
    conn.close().await;
    count
}

/// How many events the store holds, and how many distinct `data` texts among them.
pub async fn events_and_distinct_data(backend: &Backend) -> (u64, u64) {
    let mut conn = open(backend).await;
    let events = conn.count("SELECT count(*) FROM events").await;
    let distinct = conn
        .count("SELECT count(*) FROM (SELECT DISTINCT data FROM events) AS d")
        .await;
    conn.close().await;
    (events, distinct)
}
