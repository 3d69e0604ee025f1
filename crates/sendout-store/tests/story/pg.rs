//! A fresh PostgreSQL database per test, created from the maintenance database named by
//! `SENDOUT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`; CI's
//! `scripts/test.sh` starts that server) and dropped when the test ends, passed or failed.
//!
//! An unreachable server fails the test with a message saying how to start one: the tests
//! never skip silently. Databases left behind by killed runs are recognised by their name
//! (`sendout_test_<unix seconds>_…`) and dropped by a later run once they are an hour old, so
//! concurrent runs never drop each other's databases.
//!
//! Shared by the store's story suite and the binary's multi-node tests (`#[path]`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The variable naming the maintenance database tests create their databases from.
pub const URL_VAR: &str = "SENDOUT_TEST_DATABASE_URL";
/// Where CI's PostgreSQL listens.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "sendout_test_";
/// How old a left-behind test database must be before another run drops it.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The maintenance database URL tests use.
pub fn admin_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database replaced by `name` (user, password, host and query kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// Connects to the maintenance database, or fails the test saying how to get one.
pub async fn connect_admin(url: &str) -> PgConnection {
    match PgConnection::connect(url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {url} ({e}). The PostgreSQL tests need a server: \
             run scripts/setup/postgres.sh (scripts/test.sh does), or set {URL_VAR} to a \
             maintenance database of one (a user that may CREATE DATABASE)."
        ),
    }
}

/// A database that exists for as long as this value does.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database on the server of [`admin_url`].
    pub async fn create() -> Self {
        Self::create_on(&admin_url()).await
    }

    /// Creates an empty database on the server of the maintenance database `admin_url`.
    pub async fn create_on(admin_url: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is past 1970");
        let name = format!(
            "{PREFIX}{}_{}_{}_{}",
            now.as_secs(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            now.subsec_nanos() % 1000
        );
        let mut admin = connect_admin(admin_url).await;
        drop_stale(&mut admin, now).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("could not create the test database {name}: {e}"));
        let _ = admin.close().await;
        Self {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Drops test databases whose name says they are older than [`STALE_AFTER`].
async fn drop_stale(admin: &mut PgConnection, now: Duration) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let born = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if born.is_some_and(|secs| secs + STALE_AFTER.as_secs() < now.as_secs()) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database on a thread of its own (a test's runtime may be shutting down or
    /// be single-threaded), ending any connection still open to it.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "the drop thread panicked".to_owned()) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_keeping_everything_else() {
        assert_eq!(
            with_database(
                "postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable",
                "x"
            ),
            "postgres://u:p@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
    }
}
