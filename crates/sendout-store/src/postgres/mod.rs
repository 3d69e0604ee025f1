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

mod audit;
mod complete;
mod distributions;
mod ingest;
mod listener;
mod projects;
mod queue;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::ids::{DistributionId, ProjectId, SendOutId, WebhookId};
use sendout_core::time::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{oneshot, watch, Notify};

use crate::model::*;
use crate::{NewProject, QueueStats, Store, StoreError, StoreResult};

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
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`)
    /// with the default options. Does not migrate; call [`Store::migrate`]. Must be called
    /// inside a Tokio runtime, which runs the store's listener task.
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
            .test_before_acquire(true)
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
        Ok(Self {
            pool,
            work,
            listening,
            _stop_listener: Arc::new(stop),
            handoff: crate::handoff::Slot::default(),
        })
    }

    /// How many times the listener has started listening: 1 once it first listens, one more
    /// after each reconnection. Each start has already woken the workers (work may have been
    /// announced while nobody listened) by the time it is counted. For health checks and tests.
    pub fn listening(&self) -> watch::Receiver<u64> {
        self.listening.clone()
    }

    /// Closes every connection of the pool (waiting for those in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Wakes this process's workers after new due work was committed (see the module docs).
    fn wake_workers(&self) {
        wake(&self.work);
    }
}

/// Wakes every worker waiting now, and leaves a permit for one that is between a claim and
/// its next wait (which `notify_waiters` alone would miss).
fn wake(work: &Notify) {
    work.notify_waiters();
    work.notify_one();
}

/// Milliseconds of a duration, saturating (a lease of centuries is as good as forever).
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
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

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }

    async fn management_key(&self, id: &str) -> StoreResult<Option<String>> {
        projects::management_key(self, id).await
    }

    async fn put_management_key(&self, id: &str, token_hash: &str) -> StoreResult<()> {
        projects::put_management_key(self, id, token_hash).await
    }

    async fn has_management_keys(&self) -> StoreResult<bool> {
        projects::has_management_keys(self).await
    }

    async fn create_first_start(
        &self,
        records: crate::FirstStartRecords,
    ) -> StoreResult<crate::FirstStartCreated> {
        projects::create_first_start(self, records).await
    }

    async fn create_project(&self, project: NewProject) -> StoreResult<Project> {
        projects::create_project(self, project).await
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        projects::list_projects(self).await
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<Project> {
        projects::get_project(&self.pool, id).await
    }

    async fn project_by_app_id(&self, app_id: &str) -> StoreResult<Option<Project>> {
        projects::project_by_app_id(self, app_id).await
    }

    async fn update_project(&self, id: &ProjectId, update: ProjectUpdate) -> StoreResult<Project> {
        projects::update_project(self, id, update).await
    }

    async fn delete_project(&self, id: &ProjectId) -> StoreResult<()> {
        projects::delete_project(self, id).await
    }

    async fn rotate_webhook_token(
        &self,
        id: &ProjectId,
        new_token: &str,
        grace_until: Timestamp,
    ) -> StoreResult<Project> {
        projects::rotate_webhook_token(self, id, new_token, grace_until).await
    }

    async fn create_webhook(
        &self,
        project: &ProjectId,
        fields: WebhookFields,
    ) -> StoreResult<Webhook> {
        projects::create_webhook(self, project, fields).await
    }

    async fn list_webhooks(&self, project: &ProjectId) -> StoreResult<Vec<Webhook>> {
        projects::list_webhooks(self, project).await
    }

    async fn get_webhook(&self, project: &ProjectId, id: &WebhookId) -> StoreResult<Webhook> {
        projects::get_webhook(&self.pool, project, id).await
    }

    async fn update_webhook(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        fields: WebhookFields,
    ) -> StoreResult<Webhook> {
        projects::update_webhook(self, project, id, fields).await
    }

    async fn delete_webhook(&self, project: &ProjectId, id: &WebhookId) -> StoreResult<()> {
        projects::delete_webhook(self, project, id).await
    }

    async fn create_distribution(
        &self,
        project: &ProjectId,
        spec: DistributionSpec,
        status: DistributionStatus,
    ) -> StoreResult<Distribution> {
        distributions::create(self, project, spec, status).await
    }

    async fn list_distributions(&self, project: &ProjectId) -> StoreResult<Vec<Distribution>> {
        distributions::list(self, project).await
    }

    async fn get_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
    ) -> StoreResult<Distribution> {
        distributions::get(&self.pool, project, id).await
    }

    async fn update_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
        spec: DistributionSpec,
        status: Option<DistributionStatus>,
    ) -> StoreResult<Distribution> {
        distributions::update(self, project, id, spec, status).await
    }

    async fn delete_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
    ) -> StoreResult<()> {
        distributions::delete(self, project, id).await
    }

    async fn set_distribution_status(
        &self,
        project: &ProjectId,
        id: &DistributionId,
        status: DistributionStatus,
        reason: Option<String>,
    ) -> StoreResult<Distribution> {
        distributions::set_status_of(self, project, id, status, reason).await
    }

    async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        ingest::ingest(self, project, events).await
    }

    fn hand_off(&self, handoff: Handoff) -> bool {
        self.handoff.set(handoff);
        true
    }

    async fn insert_send_out(&self, send_out: SendOut, lease: Duration) -> StoreResult<Claim> {
        queue::insert_send_out(self, send_out, lease).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<Claim>> {
        queue::claim_due(self, now, limit, lease).await
    }

    async fn claim_one(
        &self,
        project: &ProjectId,
        id: &SendOutId,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<Option<Claim>> {
        queue::claim_one(self, project, id, now, lease).await
    }

    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<()> {
        complete::complete(self, completions).await
    }

    async fn release(&self, leases: &[Lease]) -> StoreResult<()> {
        queue::release(self, leases).await
    }

    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>> {
        queue::next_due_at(self).await
    }

    async fn queue_stats(&self, now: Timestamp) -> StoreResult<QueueStats> {
        queue::queue_stats(self, now).await
    }

    async fn requeue_failed(
        &self,
        project: &ProjectId,
        source_id: &str,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        queue::requeue_failed(self, project, source_id, since, now).await
    }

    async fn list_send_outs(
        &self,
        project: &ProjectId,
        filter: &SendOutFilter,
        starting_after: Option<&SendOutId>,
        limit: u32,
    ) -> StoreResult<Page<SendOut>> {
        audit::list_send_outs(self, project, filter, starting_after, limit).await
    }

    async fn get_send_out(
        &self,
        project: &ProjectId,
        id: &SendOutId,
    ) -> StoreResult<(SendOut, Vec<Attempt>)> {
        audit::get_send_out(self, project, id).await
    }

    async fn send_out_histogram(
        &self,
        project: &ProjectId,
        since: Timestamp,
        bucket: Duration,
    ) -> StoreResult<Vec<StatusBucket>> {
        audit::send_out_histogram(self, project, since, bucket).await
    }

    async fn last_status_by_source(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Vec<(String, SendOutStatus)>> {
        audit::last_status_by_source(self, project).await
    }

    async fn prune(&self, before: Timestamp) -> StoreResult<u64> {
        audit::prune(self, before).await
    }
}
