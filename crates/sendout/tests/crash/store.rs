//! Looks into a killed (or stopped) sendout's SQLite file directly, as an operator's tools
//! would: SQLite's own integrity check, and figures the API does not show (leases).
//!
//! Opening the file after a kill is what any restart does: SQLite replays its write-ahead log
//! by itself. Nothing here writes to the store, and each look closes its connection before
//! the next start.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

/// Milliseconds since the Unix epoch, the store's clock.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit")
}

async fn open(db: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .expect("the store opens without repair")
}

/// What a look after a kill found.
#[derive(Debug)]
pub struct AfterKill {
    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub integrity: String,
    /// Open send outs leased at the moment of the kill: attempts possibly made whose
    /// outcome was not written, the only ones that can be sent twice.
    pub in_flight: u64,
}

/// Checks the store of a process killed at `killed_at_ms`.
pub async fn after_kill(db: &Path, killed_at_ms: i64) -> AfterKill {
    let mut conn = open(db).await;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("the integrity check runs");
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM send_outs \
         WHERE status IN ('PENDING', 'RETRYING') AND lease_until > ?1",
    )
    .bind(killed_at_ms)
    .fetch_one(&mut conn)
    .await
    .expect("leases can be counted");
    conn.close().await.expect("the connection closes");
    AfterKill {
        integrity,
        in_flight: u64::try_from(in_flight).unwrap_or_default(),
    }
}

/// The statuses of each event's send outs, sorted.
pub async fn send_out_statuses_by_event(db: &Path) -> HashMap<String, Vec<String>> {
    let mut conn = open(db).await;
    let rows: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT event_id, status FROM send_outs")
            .fetch_all(&mut conn)
            .await
            .expect("send outs can be read");
    conn.close().await.expect("the connection closes");
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
pub async fn timed_out_attempts(db: &Path) -> u64 {
    let mut conn = open(db).await;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM attempts WHERE error LIKE 'timed out%'")
            .fetch_one(&mut conn)
            .await
            .expect("attempts can be counted");
    conn.close().await.expect("the connection closes");
    u64::try_from(count).unwrap_or_default()
}
