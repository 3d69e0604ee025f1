//! The two stores' migrations make the same schema: the same tables with the same columns,
//! and the same indexes on the same tables. Each is applied to a fresh database and read back
//! from the database's own catalog (SQLite's `sqlite_master` and `pragma_table_info`,
//! PostgreSQL's `information_schema` and `pg_indexes`), so a migration added to one store and
//! not the other fails here. Types are not compared: they differ by design (`INTEGER` and
//! `BIGINT`, `0/1` and `BOOLEAN`); names are what the shared SQL and row mapping rely on.

use std::collections::BTreeSet;

use sendout_store::postgres::PostgresStore;
use sendout_store::prelude::*;
use sendout_store::sqlite::SqliteStore;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::pg;

/// `(table, column)` pairs and `(index, table)` pairs.
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    columns: BTreeSet<(String, String)>,
    indexes: BTreeSet<(String, String)>,
}

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sendout.db");
    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrations apply");
    store.close().await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connects");
    let columns = sqlx::query_as(
        "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    // Indexes made by a statement of a migration (SQLite's own, behind keys, have no SQL).
    let indexes = sqlx::query_as(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .expect("indexes");
    Schema {
        columns: columns.into_iter().collect(),
        indexes: indexes.into_iter().collect(),
    }
}

async fn postgres_schema() -> Schema {
    let database = pg::TestDatabase::create().await;
    let store = PostgresStore::open(database.url())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrations apply");
    store.close().await;
    let mut conn = PgConnection::connect(database.url())
        .await
        .expect("connects");
    let columns = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    // Indexes made by a statement of a migration (not those behind keys and constraints).
    let indexes = sqlx::query_as(
        "SELECT indexname::text, tablename::text FROM pg_indexes WHERE schemaname = 'public' \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(&mut conn)
    .await
    .expect("indexes");
    conn.close().await.expect("closes");
    Schema {
        columns: columns.into_iter().collect(),
        indexes: indexes.into_iter().collect(),
    }
}

#[tokio::test]
async fn both_stores_migrate_to_the_same_tables_columns_and_indexes() {
    let (sqlite, postgres) = (sqlite_schema().await, postgres_schema().await);
    let only = |a: &BTreeSet<(String, String)>, b: &BTreeSet<(String, String)>| {
        a.difference(b).cloned().collect::<Vec<_>>()
    };
    assert!(
        sqlite == postgres,
        "the migrations differ:\n columns only in SQLite {:?}\n columns only in PostgreSQL \
         {:?}\n indexes only in SQLite {:?}\n indexes only in PostgreSQL {:?}",
        only(&sqlite.columns, &postgres.columns),
        only(&postgres.columns, &sqlite.columns),
        only(&sqlite.indexes, &postgres.indexes),
        only(&postgres.indexes, &sqlite.indexes),
    );
    // Not two empty sets: the catalogs were read.
    assert!(sqlite
        .indexes
        .contains(&("send_outs_finished".into(), "send_outs".into())));
    assert!(sqlite
        .columns
        .contains(&("send_out_bodies".into(), "body".into())));
}
