//! Everything a store holds, as text, to prove that refused input changed nothing: every row
//! of every table of the SQLite file (SQLite's `quote()` of each column), sorted. Read through
//! a connection of its own while the app runs (WAL: it sees what was committed).
#![allow(dead_code)]

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Every row of every table (migration bookkeeping aside), as `table: 'a',1,NULL,…`.
pub async fn rows(db: &Path) -> Vec<String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .expect("the store opens for reading");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the tables are listed");
    let mut rows = Vec::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut conn)
                .await
                .expect("the columns are listed");
        let quoted: Vec<String> = columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
        let sql = format!(
            "SELECT {} AS row FROM \"{table}\" ORDER BY row",
            quoted.join(" || ',' || ")
        );
        let table_rows: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(&mut conn)
            .await
            .expect("the rows are read");
        rows.extend(table_rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    conn.close().await.expect("the connection closes");
    rows
}

/// Every text of `db` files (the database, its WAL) as bytes, to search for secrets.
pub fn raw_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}
