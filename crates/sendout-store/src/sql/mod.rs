//! The SQL both backends run, written once.
//!
//! SQLite and PostgreSQL read most of this crate's statements the same way: `$N`
//! placeholders (sqlx's SQLite driver binds `$N` by number too), the same tables and columns
//! (a test holds the two schemas so), `ON CONFLICT`, `RETURNING`, `CASE`, `COALESCE`. Those
//! statements are here, once: the [`Catalog`](crate::Catalog), the
//! [`Distributions`](crate::Distributions), the [`Backlog`](crate::Backlog) and the
//! [`Audit`](crate::Audit) of any [`Backend`], and the reads fan-out makes at ingest. A
//! statement is a [`Query`]: its SQL and its values, bound by a [`Conn`] of either driver,
//! which also knows how its database takes a list (an array, or one JSON text).
//!
//! What does differ is each backend's [`Backend`] impl: which connection reads and which
//! writes (SQLite's single writer, PostgreSQL's one pool), how a transaction that must see a
//! snapshot or wait for another node begins, how other nodes hear of new work, and the two
//! clauses only PostgreSQL has (`FOR UPDATE`, `SKIP LOCKED`). The delivery path's writes
//! (ingest, claims, outcomes) stay in each backend's own module, where the databases differ
//! most and speed matters most.

mod audit;
mod catalog;
mod distributions;
mod health;
mod notices;
mod queue;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::Transaction;
use tokio::sync::Notify;

use crate::rows::Columns;
use crate::{StoreError, StoreResult};

pub(crate) use catalog::{ensure_project, project_webhooks, within_quota};
pub(crate) use distributions::live;
pub(crate) use notices::record_recovery;

/// A value bound to a placeholder: every column this crate writes is text, an integer or a
/// boolean; a list of texts is what a statement over a set reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
    /// A list, for [`Conn::one_of`].
    Texts(&'a [&'a str]),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Self::Text(Some(value))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(value: &'a String) -> Self {
        Self::Text(Some(value))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Self::Text(value)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(value: &'a Option<String>) -> Self {
        Self::Text(value.as_deref())
    }
}

impl<'a> From<&'a [&'a str]> for Param<'a> {
    fn from(value: &'a [&'a str]) -> Self {
        Self::Texts(value)
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// A statement and the values of its placeholders `$1`, `$2`, … in order.
#[derive(Debug)]
pub(crate) struct Query<'a> {
    sql: Cow<'a, str>,
    params: Vec<Param<'a>>,
}

/// A statement with `sql` as its text, as `sqlx::query` makes one.
pub(crate) fn query<'a>(sql: impl Into<Cow<'a, str>>) -> Query<'a> {
    Query {
        sql: sql.into(),
        params: Vec::new(),
    }
}

impl<'a> Query<'a> {
    /// Binds the next placeholder (`$1` first).
    pub(crate) fn bind(mut self, value: impl Into<Param<'a>>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Appends `sql` to the statement.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends the next placeholder, bound to `value`.
    pub(crate) fn push_bind(&mut self, value: impl Into<Param<'a>>) -> &mut Self {
        self.params.push(value.into());
        let n = self.params.len();
        let _ = write!(self.sql.to_mut(), "${n}");
        self
    }

    pub(crate) async fn fetch_all<C: Conn + ?Sized>(
        &self,
        conn: &mut C,
    ) -> StoreResult<Vec<C::Row>> {
        conn.fetch_all(self).await
    }

    pub(crate) async fn fetch_optional<C: Conn + ?Sized>(
        &self,
        conn: &mut C,
    ) -> StoreResult<Option<C::Row>> {
        conn.fetch_optional(self).await
    }

    /// The first row; `NotFound` if there is none.
    pub(crate) async fn fetch_one<C: Conn + ?Sized>(&self, conn: &mut C) -> StoreResult<C::Row> {
        conn.fetch_optional(self).await?.ok_or(StoreError::NotFound)
    }

    /// Runs the statement; returns how many rows it changed.
    pub(crate) async fn execute<C: Conn + ?Sized>(&self, conn: &mut C) -> StoreResult<u64> {
        conn.execute(self).await
    }

    /// Runs a statement that must change a row (a delete by id, say); `NotFound` if it
    /// changed none.
    pub(crate) async fn execute_found<C: Conn + ?Sized>(&self, conn: &mut C) -> StoreResult<()> {
        match conn.execute(self).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }
}

/// A connection of either driver, running [`Query`]s.
#[async_trait]
pub(crate) trait Conn: Send {
    type Row: Columns + Send;
    /// SQL that holds when the value before it is one of the texts bound to `placeholder`
    /// (as a [`Param::Texts`]).
    fn one_of(placeholder: &str) -> String;
    async fn fetch_all(&mut self, query: &Query<'_>) -> StoreResult<Vec<Self::Row>>;
    async fn fetch_optional(&mut self, query: &Query<'_>) -> StoreResult<Option<Self::Row>>;
    async fn execute(&mut self, query: &Query<'_>) -> StoreResult<u64>;
}

/// [`Conn`] for a sqlx connection type: the statement with each value bound as its sqlx type
/// (`TEXT`, `BIGINT`/`INTEGER`, `BOOLEAN`), and a list of texts as the driver takes one
/// (`$texts`), tested with `$one_of`.
macro_rules! conn {
    ($conn:ty, $db:ty, one_of: $one_of:literal, texts: |$list:ident| $texts:expr) => {
        #[async_trait]
        impl Conn for $conn {
            type Row = <$db as sqlx::Database>::Row;

            fn one_of(placeholder: &str) -> String {
                format!($one_of, placeholder = placeholder)
            }

            async fn fetch_all(&mut self, query: &Query<'_>) -> StoreResult<Vec<Self::Row>> {
                Ok(bound!($db, query, |$list| $texts).fetch_all(self).await?)
            }

            async fn fetch_optional(
                &mut self,
                query: &Query<'_>,
            ) -> StoreResult<Option<Self::Row>> {
                Ok(bound!($db, query, |$list| $texts)
                    .fetch_optional(self)
                    .await?)
            }

            async fn execute(&mut self, query: &Query<'_>) -> StoreResult<u64> {
                Ok(bound!($db, query, |$list| $texts)
                    .execute(self)
                    .await?
                    .rows_affected())
            }
        }
    };
}

/// `$query` as a sqlx statement of `$db`, its values bound.
macro_rules! bound {
    ($db:ty, $query:expr, |$list:ident| $texts:expr) => {
        $query.params.iter().fold(
            sqlx::query::<$db>(&$query.sql),
            |statement, param| match *param {
                Param::Text(value) => statement.bind(value),
                Param::Int(value) => statement.bind(value),
                Param::Bool(value) => statement.bind(value),
                Param::Texts($list) => statement.bind($texts),
            },
        )
    };
}

// SQLite has no arrays: a list is one JSON array, read back with `json_each`, so a statement
// over a set stays one cached statement whatever the set's size.
conn!(
    SqliteConnection,
    sqlx::Sqlite,
    one_of: "IN (SELECT value FROM json_each({placeholder}))",
    texts: |list| serde_json::Value::from(list).to_string()
);
conn!(
    PgConnection,
    sqlx::Postgres,
    one_of: "= ANY({placeholder})",
    texts: |list| list
);

/// What the shared SQL needs of a backend: its connections and transactions, and the clauses
/// only one dialect has. Each backend's is next to its store (`sqlite/mod.rs`,
/// `postgres/mod.rs`).
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: sqlx::Database<Connection: Conn>;

    /// Locks the rows a `SELECT` in a write transaction reads until it ends: `FOR UPDATE`
    /// where other writers run at the same time, nothing where a write transaction holds
    /// the whole database.
    const FOR_UPDATE: &'static str;
    /// Leaves out rows another transaction has locked (a retention pass skips what another
    /// node is deleting), where rows are locked.
    const SKIP_LOCKED: &'static str;
    /// The column retention deletes rows by: the cheapest key to look a row up by.
    const ROW_KEY: &'static str;

    /// A connection for reads.
    async fn reader(&self) -> StoreResult<PoolConnection<Self::Db>>;
    /// A connection for a write of one statement.
    async fn writer(&self) -> StoreResult<PoolConnection<Self::Db>>;
    /// A write transaction.
    async fn begin(&self) -> StoreResult<Transaction<'static, Self::Db>>;
    /// A write transaction that waits for every other one begun this way, on any node, to
    /// end first (the first start).
    async fn begin_exclusive(&self) -> StoreResult<Transaction<'static, Self::Db>>;
    /// A read-only transaction whose statements all see one snapshot.
    async fn snapshot(&self) -> StoreResult<Transaction<'static, Self::Db>>;

    /// Called in a write transaction that makes work due: tells the workers of other nodes
    /// once it commits (PostgreSQL's `NOTIFY`), where there can be other nodes.
    async fn announce_work(&self, tx: &mut Transaction<'static, Self::Db>) -> StoreResult<()>;
    /// What this process's workers wait on ([`crate::Backlog::work_signal`]).
    fn work(&self) -> &Arc<Notify>;
    /// Wakes this process's workers after new due work was committed (see [`wake`]).
    fn wake_workers(&self) {
        wake(self.work());
    }
}

/// Wakes every worker waiting on `work` now (`notify_waiters`), and leaves a permit for one
/// that is between a claim and its next wait, which `notify_waiters` alone would miss (the
/// lost wakeup). The cost is at most one spurious empty claim.
pub(crate) fn wake(work: &Notify) {
    work.notify_waiters();
    work.notify_one();
}
