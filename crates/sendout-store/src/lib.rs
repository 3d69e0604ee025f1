//! sendout's storage. [`Store`] is everything the HTTP layer and the workers ask of a
//! database, in eight roles: [`Lifecycle`], [`Catalog`], [`Distributions`], [`Queue`],
//! [`Backlog`], [`Audit`], [`Notices`] and [`Health`]. [`sqlite`] (the embedded default) and [`postgres`] (shared by several nodes)
//! implement them, and one story test suite runs against each.
//!
//! Each backend implements its roles directly, with no forwarding layer. What reads the same
//! in both SQL dialects is written once: the catalog, distributions, the backlog and the audit
//! log for any backend in `sql/` (over a small `sql::Backend` trait: which connection reads, which writes,
//! how a snapshot or an exclusive transaction begins), and the mapping of rows to records in
//! `rows.rs`. A backend's own module keeps only what differs: its [`Lifecycle`] and its
//! [`Queue`], where SQLite has a single writer, direct rusqlite transactions and group commit,
//! and PostgreSQL has `SKIP LOCKED` claims and `LISTEN`/`NOTIFY`.
//!
//! The send-out table is both the delivery queue and the audit log: ingest writes an event and
//! all its send outs in one transaction (so a 202 means nothing can be lost), workers claim due
//! send outs with a lease (so a crashed worker's claims come back when the lease runs out), and
//! each attempt's result is written back with the send out's next state.
// One block may use `unsafe`: handing the writer's SQLite handle from sqlx to rusqlite for a
// direct transaction (`sqlite/direct.rs`).
#![deny(unsafe_code)]

mod fair;
pub mod fanout;
mod group;
mod handoff;
pub mod health;
mod idempotency;
pub mod model;
pub mod notices;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::ids::{DistributionId, ProjectId, SendOutId, WebhookId};
use sendout_core::input::TargetUrl;
use sendout_core::time::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

pub use fair::MAX_PROJECTS_PER_CLAIM;
pub use model::*;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist (or belongs to another project).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The disk holding the database is full (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`, or `ENOSPC`/`EDQUOT` from a file the store writes itself): the call's
    /// write was rolled back, so nothing of it is stored. It lasts only as long as the disk
    /// stays full; the same call succeeds once space is freed. The message is for logs.
    #[error("storage full: {0}")]
    Full(String),
    /// The database failed; the message is for logs, never for API clients.
    #[error("database error: {0}")]
    Database(String),
    /// An ingest call would make more send outs than its limits allow; nothing was stored.
    #[error(transparent)]
    TooManySendOuts(#[from] fanout::TooManySendOuts),
    /// The project already holds as many objects of a kind as its quota allows; nothing was
    /// stored.
    #[error("the project already has {limit} {what}, the most it may have")]
    QuotaExceeded { what: &'static str, limit: usize },
}

impl StoreError {
    /// The error of a file the store reads or writes itself (not through the database),
    /// `context` naming what it was doing: [`StoreError::Full`] when the disk is full.
    pub(crate) fn io(context: impl std::fmt::Display, error: &std::io::Error) -> Self {
        let full = matches!(
            error.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        );
        let message = format!("{context}: {error}");
        if full {
            Self::Full(message)
        } else {
            Self::Database(message)
        }
    }
}

/// SQLite's `SQLITE_FULL` as sqlx reports it (the extended result code, in decimal), and
/// PostgreSQL's SQLSTATE `disk_full`: the two can never be confused, a SQLSTATE has five
/// characters.
const FULL_CODES: [&str; 2] = ["13", "53100"];

pub type StoreResult<T> = Result<T, StoreError>;

/// Shared by every sqlx backend: a missing row is `NotFound`, a unique violation is a
/// `Conflict`, anything else a `Database` error whose text is for logs only.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| FULL_CODES.contains(&code.as_ref())) =>
            {
                Self::Full(error.to_string())
            }
            sqlx::Error::Io(io) => Self::io("database I/O", io),
            _ => Self::Database(error.to_string()),
        }
    }
}

/// The same rules for the embedded store's direct write transactions (see `sqlite/direct.rs`).
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::QueryReturnedNoRows => Self::NotFound,
            rusqlite::Error::SqliteFailure(e, message)
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                Self::Conflict(message.clone().unwrap_or_else(|| error.to_string()))
            }
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull => {
                Self::Full(error.to_string())
            }
            _ => Self::Database(error.to_string()),
        }
    }
}

/// A migration that failed on a full disk is [`StoreError::Full`] (it was rolled back, and
/// runs again at the next start); any other failure is a `Database` error.
impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError;
        let message = format!("migration failed: {error}");
        let cause = match error {
            MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => Some(Self::from(e)),
            _ => None,
        };
        match cause {
            Some(Self::Full(_)) => Self::Full(message),
            _ => Self::Database(message),
        }
    }
}

/// The one-way hash under which tokens are kept. Tokens are long random strings, so an
/// unsalted SHA-256 is enough to make a stolen database useless for authentication.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new project as the management API creates it.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    pub timezone: String,
    pub webhook_version: String,
    pub webhook_token: String,
    pub app_id: String,
    pub app_token_hash: String,
    pub callout_notifications: CalloutNotifications,
    pub operational_webhook_url: Option<TargetUrl>,
}

/// What the first start on an empty database creates, each record only if none of its kind
/// exists yet (see [`Catalog::create_first_start`]).
#[derive(Debug, Clone)]
pub struct FirstStartRecords {
    /// A generated management key as `(id, token hash)`: created only if no management key
    /// exists. `None` when the key comes from the configuration.
    pub management_key: Option<(String, String)>,
    /// The default project: created only if no project exists.
    pub project: NewProject,
}

/// Which of the [`FirstStartRecords`] were created (the others existed already).
#[derive(Debug, Clone)]
pub struct FirstStartCreated {
    pub management_key: bool,
    pub project: Option<Project>,
}

/// The delivery queue as the metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Open send outs (`PENDING` or `RETRYING`), due or scheduled, leased or not.
    pub open: u64,
    /// Open send outs due now and not leased.
    pub due: u64,
    /// When the longest-waiting of those became due.
    pub oldest_due_at: Option<Timestamp>,
}

/// Everything sendout keeps: the six roles of a store in one trait, for callers that hold
/// one as `Arc<dyn Store>`. Implementations must be safe to share between tasks and, for
/// PostgreSQL, between processes.
///
/// Each backend implements the roles directly: [`Lifecycle`] and [`Queue`] in its own
/// module (migrations, single writer or `SKIP LOCKED`, wake-ups), [`Catalog`],
/// [`Distributions`], [`Backlog`] and [`Audit`] once for both in `sql/`, whose SQL reads the
/// same in both dialects. Any type with all six roles is a `Store`. A method of a role called on a
/// `dyn Store` needs no import; called on a concrete store, it needs its role in scope
/// (`use sendout_store::prelude::*`).
pub trait Store:
    Lifecycle
    + Catalog
    + Distributions
    + Queue
    + Backlog
    + Audit
    + Notices
    + Health
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Lifecycle
        + Catalog
        + Distributions
        + Queue
        + Backlog
        + Audit
        + Notices
        + Health
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// The store's role traits, for calling a store's methods on a concrete store
/// (`use sendout_store::prelude::*`).
pub mod prelude {
    pub use crate::{
        Audit as _, Backlog as _, Catalog as _, Distributions as _, Health as _, Lifecycle as _,
        Notices as _, Queue as _,
    };
}

/// Setting the database up and checking it answers.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes every connection, waiting for those in use to come back; for a process that
    /// has stopped using the store. The embedded store's last connection then copies its
    /// write-ahead log into the database and removes the log and its shared-memory file, so
    /// a stopped server leaves only the database file (a process that exits with
    /// connections open leaves both, and the next start depends on finding them whole).
    async fn close(&self);
}

/// Management keys, projects and their webhooks: what the management API configures.
#[async_trait]
pub trait Catalog: Send + Sync {
    // --- management keys ---
    /// The token hash of a management key, if it exists.
    async fn management_key(&self, id: &str) -> StoreResult<Option<String>>;
    /// Stores a management key (replacing the hash of one with the same id).
    async fn put_management_key(&self, id: &str, token_hash: &str) -> StoreResult<()>;
    /// Whether any management key exists (the first start creates one).
    async fn has_management_keys(&self) -> StoreResult<bool>;
    /// Creates those first-start records whose kind has none yet. The checks and the inserts
    /// are one transaction that the same call on other nodes waits for, so nodes starting
    /// together on an empty database create one default project and at most one key.
    async fn create_first_start(
        &self,
        records: FirstStartRecords,
    ) -> StoreResult<FirstStartCreated>;

    // --- projects ---
    async fn create_project(&self, project: NewProject) -> StoreResult<Project>;
    async fn list_projects(&self) -> StoreResult<Vec<Project>>;
    async fn get_project(&self, id: &ProjectId) -> StoreResult<Project>;
    async fn project_by_app_id(&self, app_id: &str) -> StoreResult<Option<Project>>;
    async fn update_project(&self, id: &ProjectId, update: ProjectUpdate) -> StoreResult<Project>;
    /// Deletes a project with everything it owns.
    async fn delete_project(&self, id: &ProjectId) -> StoreResult<()>;
    /// Makes `new_token` the signing secret; the old one keeps signing until `grace_until`.
    async fn rotate_webhook_token(
        &self,
        id: &ProjectId,
        new_token: &str,
        grace_until: Timestamp,
    ) -> StoreResult<Project>;

    // --- webhooks ---
    /// [`Catalog::create_webhook_within`] with no quota.
    async fn create_webhook(
        &self,
        project: &ProjectId,
        fields: WebhookFields,
    ) -> StoreResult<Webhook> {
        self.create_webhook_within(project, fields, usize::MAX)
            .await
    }
    /// Creates a webhook unless the project already has `quota` of them
    /// ([`StoreError::QuotaExceeded`]); the count and the insert are one transaction that
    /// holds the project, so creations at once cannot pass the quota together.
    async fn create_webhook_within(
        &self,
        project: &ProjectId,
        fields: WebhookFields,
        quota: usize,
    ) -> StoreResult<Webhook>;
    async fn list_webhooks(&self, project: &ProjectId) -> StoreResult<Vec<Webhook>>;
    async fn get_webhook(&self, project: &ProjectId, id: &WebhookId) -> StoreResult<Webhook>;
    /// Replaces the writable fields. Setting `active` clears the disabled reason.
    async fn update_webhook(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        fields: WebhookFields,
    ) -> StoreResult<Webhook>;
    async fn delete_webhook(&self, project: &ProjectId, id: &WebhookId) -> StoreResult<()>;
}

/// A project's distributions and their status.
#[async_trait]
pub trait Distributions: Send + Sync {
    /// [`Distributions::create_distribution_within`] with no quota.
    async fn create_distribution(
        &self,
        project: &ProjectId,
        spec: DistributionSpec,
        status: DistributionStatus,
    ) -> StoreResult<Distribution> {
        self.create_distribution_within(project, spec, status, usize::MAX)
            .await
    }
    /// Stores a new distribution with `status` (`PAUSED` records the time, no reason),
    /// unless the project already has `quota` of them ([`StoreError::QuotaExceeded`], checked
    /// as [`Catalog::create_webhook_within`] checks its quota).
    async fn create_distribution_within(
        &self,
        project: &ProjectId,
        spec: DistributionSpec,
        status: DistributionStatus,
        quota: usize,
    ) -> StoreResult<Distribution>;
    /// Oldest first.
    async fn list_distributions(&self, project: &ProjectId) -> StoreResult<Vec<Distribution>>;
    async fn get_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
    ) -> StoreResult<Distribution>;
    /// Replaces the spec; with `status`, also sets it as
    /// [`Distributions::set_distribution_status`] does (with no reason).
    async fn update_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
        spec: DistributionSpec,
        status: Option<DistributionStatus>,
    ) -> StoreResult<Distribution>;
    /// Deletes it; its send outs stay in the audit log (and are not sent any more).
    async fn delete_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
    ) -> StoreResult<()>;
    /// Sets the status. Moving to `PAUSED` records the time and `reason` (`None`: a person
    /// paused it); staying `PAUSED` keeps the first reason and time; `LIVE` and `DRAFT` clear
    /// both.
    async fn set_distribution_status(
        &self,
        project: &ProjectId,
        id: &DistributionId,
        status: DistributionStatus,
        reason: Option<String>,
    ) -> StoreResult<Distribution>;
}

/// Ingest and the delivery path: what the API's ingest and the workers ask of the store.
#[async_trait]
pub trait Queue: Send + Sync {
    /// [`Queue::ingest_within`] with the documented default [`fanout::Limits`].
    async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        self.ingest_within(project, events, fanout::Limits::default())
            .await
    }
    /// Stores the events and every send out they fan out to, in one transaction, and wakes
    /// the workers. Returns when all of it is committed. A call whose fan-out is larger than
    /// `limits` allow stores nothing and fails with [`StoreError::TooManySendOuts`]; the
    /// send outs are counted before any body is made.
    async fn ingest_within(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
        limits: fanout::Limits,
    ) -> StoreResult<Vec<IngestOutcome>>;
    /// [`Queue::ingest`] made idempotent by keys: in the same transaction, each key is
    /// claimed with its answer (see `idempotency.rs`), or found held by an earlier ingest,
    /// whose answer is replayed if it was made with the same fingerprint and which refuses
    /// this one if not. Events whose own key was held are not stored again. Ingests with one
    /// key at the same moment make one event: a later one waits for the earlier one's
    /// transaction to end and then replays it. A failed ingest keeps no key.
    /// Its fan-out is bounded by `limits` as [`Queue::ingest_within`]'s is; one refused by
    /// them keeps no key.
    async fn ingest_keyed(
        &self,
        project: &ProjectId,
        ingest: KeyedIngest,
        limits: fanout::Limits,
    ) -> StoreResult<KeyedOutcome>;
    /// Asks ingest to lease the fresh send outs it commits to this process's worker, as
    /// many as `handoff.inbox` has room for, and to send their claims there once they are
    /// committed: the worker gets them without a claim transaction, and without reading back
    /// what ingest had in hand. The rest stay due in the store as before. Returns false if
    /// this store does not hand over (the worker then claims everything). A later call
    /// replaces an earlier one; a closed inbox ends the handover.
    fn hand_off(&self, handoff: Handoff) -> bool {
        let _ = handoff;
        false
    }
    /// Stores a send out made outside ingest (a test webhook), leased to the caller, who
    /// attempts it at once and completes it.
    async fn insert_send_out(&self, send_out: SendOut, lease: Duration) -> StoreResult<Claim>;
    /// Leases up to `limit` due, open, unleased send outs for `lease`, shared fairly between
    /// the projects that have some (see `fair.rs`: an equal part each, oldest due first
    /// within each, what one leaves over going to the others).
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<Claim>> {
        self.claim_due_except(now, limit, lease, &HashSet::new())
            .await
    }
    /// [`Queue::claim_due`] without the send outs of the projects in `skip` (the worker's
    /// projects that hold their share of its slots already).
    async fn claim_due_except(
        &self,
        now: Timestamp,
        limit: u32,
        lease: Duration,
        skip: &HashSet<ProjectId>,
    ) -> StoreResult<Vec<Claim>>;
    /// Leases one send out whatever its status (manual retry), unless another worker holds it.
    async fn claim_one(
        &self,
        project: &ProjectId,
        id: &SendOutId,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<Option<Claim>>;
    /// Writes back attempts and next states, releasing the leases, in one transaction;
    /// disables targets where asked.
    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<()>;
    /// Gives leased send outs back without an attempt (graceful shutdown): each becomes due
    /// at once, if it still holds the lease named (a worker that outlived its lease does not
    /// take the send out from its newer holder).
    async fn release(&self, leases: &[Lease]) -> StoreResult<()>;
}

/// What waits in the queue: the signal workers wait on, when the next send out falls due, how
/// many wait, and putting failed ones back.
#[async_trait]
pub trait Backlog: Send + Sync {
    /// Woken whenever new work may be due (ingest, retry requests); workers wait on it
    /// instead of polling.
    fn work_signal(&self) -> Arc<Notify>;
    /// When the earliest open send out falls due, if any.
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>>;
    /// The queue at `now`, for the metrics endpoint; cheap enough to call at every scrape.
    async fn queue_stats(&self, now: Timestamp) -> StoreResult<QueueStats>;
    /// Makes every `FAILED` send out of a target created at or after `since` due now for one
    /// more attempt. Returns how many.
    async fn requeue_failed(
        &self,
        project: &ProjectId,
        source_id: &SourceId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64>;
}

/// The audit log, as the API and the dashboard read it, and its retention.
#[async_trait]
pub trait Audit: Send + Sync {
    /// Newest first; `starting_after` is the last id of the previous page.
    async fn list_send_outs(
        &self,
        project: &ProjectId,
        filter: &SendOutFilter,
        starting_after: Option<&SendOutId>,
        limit: u32,
    ) -> StoreResult<Page<SendOut>>;
    /// One send out with its attempts, and (unlike lists and claims) its event's
    /// idempotency key.
    async fn get_send_out(
        &self,
        project: &ProjectId,
        id: &SendOutId,
    ) -> StoreResult<(SendOut, Vec<Attempt>)>;
    /// What the targets of `send_outs` mark public now: each webhook's `public_headers` and
    /// each distribution channel's, read in one statement per kind of target (not one per
    /// send out). A deleted target is left out, and so is a distribution whose stored spec
    /// does not read: their values are all secrets.
    async fn public_headers(
        &self,
        project: &ProjectId,
        send_outs: &[SendOut],
    ) -> StoreResult<PublicHeaderSets>;
    /// Counts of send outs by status in buckets of `bucket` since `since` (dashboard chart).
    async fn send_out_histogram(
        &self,
        project: &ProjectId,
        since: Timestamp,
        bucket: Duration,
    ) -> StoreResult<Vec<StatusBucket>>;
    /// The status of the newest send out of each of the project's webhooks.
    async fn last_status_by_source(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Vec<(String, SendOutStatus)>>;
    /// Deletes finished send outs (and their attempts) and events created before `before`,
    /// and idempotency keys past their expiry; notices created before `before` whose mail is not
    /// pending go too, and so do health's minute rows older than a day
    /// ([`health::KEPT`]) and the running state of targets not attempted since `before`.
    async fn prune(&self, before: Timestamp) -> StoreResult<u64>;
}

/// Endpoint health (see [`health`]): the figures [`Queue::complete`] keeps per target in the
/// transaction that records the attempts, read here without scanning attempts.
#[async_trait]
pub trait Health: Send + Sync {
    /// The health of the target `source_id` of `kind` as of `now`: a webhook's, or each
    /// channel of a distribution that has figures, by channel index. A target with nothing
    /// recorded is left out (the caller shows it empty).
    async fn target_health(
        &self,
        project: &ProjectId,
        kind: SourceKind,
        source_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<health::TargetHealth>>;
    /// Every target of the project with figures, without [`health::TargetHealth::hours`],
    /// from at most two summed rows per target.
    async fn project_health(
        &self,
        project: &ProjectId,
        now: Timestamp,
    ) -> StoreResult<Vec<health::TargetHealth>>;
}

/// Callout notices (see [`notices`]): the dashboard's list, warnings about failing targets,
/// and the mail outbox. Notices about a target turned off or on again are written by the
/// calls that turn it so ([`Queue::complete`], [`Catalog::update_webhook`],
/// [`Distributions::set_distribution_status`]), in their transactions.
#[async_trait]
pub trait Notices: Send + Sync {
    /// The project's in-app notices, newest first.
    async fn list_notices(
        &self,
        project: &ProjectId,
        limit: u32,
    ) -> StoreResult<Vec<notices::Notice>>;
    /// How many of them are unread.
    async fn unread_notices(&self, project: &ProjectId) -> StoreResult<u64>;
    /// Marks unread notices with an id up to `up_to` read at `now` (only the one with id
    /// `only`, if given), so a notice that came after the page was shown stays unread.
    /// Returns how many.
    async fn mark_notices_read(
        &self,
        project: &ProjectId,
        up_to: i64,
        only: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// Warns about every active target whose oldest open send out has made at least
    /// `min_attempts` attempts, once per such send out (nodes doing it at once record one).
    /// Returns how many warnings were recorded.
    async fn record_failing(&self, min_attempts: u32, now: Timestamp) -> StoreResult<u64>;
    /// Up to `limit` notices whose operational event is still to be made, oldest first.
    async fn pending_operational(
        &self,
        limit: u32,
    ) -> StoreResult<Vec<notices::PendingOperational>>;
    /// Makes the operational events of notices: for each `(notice id, send outs)` the
    /// notice is marked emitted and its send outs (made by [`SendOut::operational`]; none
    /// when no URL is configured) stored, in one transaction; a notice another call marked
    /// first gets none. Returns how many send outs were stored.
    async fn emit_operational(&self, events: Vec<(i64, Vec<SendOut>)>) -> StoreResult<u64>;
    /// Leases up to `limit` pending mails due at `now` for `lease`, counting an attempt.
    async fn claim_mails(
        &self,
        now: Timestamp,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<notices::MailClaim>>;
    /// Writes how sending a claimed mail ended. `Sent` stands whoever holds the mail now;
    /// the other outcomes only under the claim's lease.
    async fn finish_mail(
        &self,
        claim: &notices::MailClaim,
        outcome: notices::MailOutcome,
    ) -> StoreResult<()>;
}
