//! `sendout migrate` on fresh stores: exit 0, every table there, every migration recorded
//! once; a second run is a no-op that still exits 0.

use std::path::Path;
use std::process::Output;

use sqlx::{Connection, PgConnection, SqliteConnection};
use tokio::process::Command;

use crate::helpers::pg::TestDatabase;

/// The tables every store has after its migrations (both backends name them alike).
const TABLES: [&str; 8] = [
    "management_keys",
    "projects",
    "webhooks",
    "events",
    "send_outs",
    "attempts",
    "distributions",
    "idempotency_keys",
];

/// Runs the binary with `args` and only the `SENDOUT_*` variables in `env`.
async fn sendout(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendout"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SENDOUT_") {
            command.env_remove(name);
        }
    }
    command.args(args).envs(env.iter().copied());
    command.output().await.expect("the sendout binary runs")
}

fn assert_succeeded(output: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} exited with {}:\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("migrations applied"), "{what}: {stdout}");
}

/// How many migration files the store ships for `backend`.
fn migration_files(backend: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sendout-store/migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .unwrap()
        .filter(|entry| {
            let path = entry.as_ref().unwrap().path();
            path.extension().is_some_and(|e| e == "sql")
        })
        .count()
}

/// The tables of a SQLite file and its applied migrations (version, success).
async fn sqlite_state(db: &Path) -> (Vec<String>, Vec<(i64, bool)>) {
    let url = format!("sqlite://{}", db.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let tables = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let applied = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (tables, applied)
}

/// The tables of a PostgreSQL database's public schema and its applied migrations.
async fn postgres_state(url: &str) -> (Vec<String>, Vec<(i64, bool)>) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let tables =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let applied = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (tables, applied)
}

fn assert_migrated(state: &(Vec<String>, Vec<(i64, bool)>), backend: &str) {
    let (tables, applied) = state;
    for table in TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "{backend}: no {table} in {tables:?}"
        );
    }
    assert_eq!(applied.len(), migration_files(backend), "{applied:?}");
    assert!(applied.iter().all(|(_, ok)| *ok), "{applied:?}");
}

#[tokio::test]
async fn migrate_prepares_a_fresh_sqlite_data_dir_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("not-yet-there");
    let env = [("SENDOUT_DATA_DIR", data_dir.to_str().unwrap())];
    let db = data_dir.join("sendout.db");

    assert_succeeded(&sendout(&["migrate"], &env).await, "the first migrate");
    let first = sqlite_state(&db).await;
    assert_migrated(&first, "sqlite");

    assert_succeeded(&sendout(&["migrate"], &env).await, "the second migrate");
    assert_eq!(
        sqlite_state(&db).await,
        first,
        "the second run changed the store"
    );
}

/// `--database-url` picks the store even with `SENDOUT_DATABASE_URL` naming another one.
#[tokio::test]
async fn migrate_prepares_a_fresh_postgres_database_named_by_the_flag_twice() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere.db");
    let env_url = format!("sqlite://{}", elsewhere.display());
    let env = [("SENDOUT_DATABASE_URL", env_url.as_str())];
    let args = ["--database-url", database.url(), "migrate"];

    assert_succeeded(&sendout(&args, &env).await, "the first migrate");
    let first = postgres_state(database.url()).await;
    assert_migrated(&first, "postgres");
    assert!(!elsewhere.exists(), "the environment's store was used");

    assert_succeeded(&sendout(&args, &env).await, "the second migrate");
    assert_eq!(postgres_state(database.url()).await, first);
}

#[tokio::test]
async fn a_database_url_flag_that_cannot_be_used_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let env = [("SENDOUT_DATA_DIR", data_dir)];
    for value in ["mysql://x", ""] {
        let output = sendout(&["--database-url", value, "migrate"], &env).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{value:?} was accepted");
        assert!(stderr.contains("--database-url"), "{value:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a store was made"
    );
}
