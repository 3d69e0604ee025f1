//! The delivery queue: claims with leases, writing attempts back, releases and requeues.
//! (Ingest, which fills the queue, is in `ingest.rs`.)
//!
//! Invariants kept here (see the module docs of [`super`]): an open send out has a
//! `next_attempt_at` and a finished one has none; while a send out is leased, its
//! `next_attempt_at` is at least the lease's end, so an unfinished claim of a dead worker
//! comes back by itself when the lease runs out.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;
use serde::Serialize;
use sqlx::{Executor, Sqlite, SqliteConnection};

use super::ingest::insert_send_outs;
use super::projects::ensure_project;
use super::rows::{self, id_list, to_json, CLAIMS_BY_IDS};
use super::{millis, SqliteStore};
use crate::model::{Claim, Completion, Next, Project, SendOut, SendOutStatus};
use crate::{QueueStats, StoreError, StoreResult};

pub(super) async fn insert_send_out(
    store: &SqliteStore,
    send_out: SendOut,
    lease: Duration,
) -> StoreResult<Claim> {
    let now = Timestamp::now();
    let mut tx = store.write().await?;
    ensure_project(&mut *tx, &send_out.project_id).await?;
    let lease_until = now.plus_millis(millis(lease));
    insert_send_outs(&mut tx, std::slice::from_ref(&send_out), Some(lease_until)).await?;
    let mut claims = load_claims(&mut tx, [send_out.id.as_str()], now, lease_until).await?;
    tx.commit().await?;
    claims.pop().ok_or(StoreError::NotFound)
}

/// The claims for the given send outs, as they are now (before the lease ending
/// `lease_until` is written).
async fn load_claims<'a>(
    conn: &mut SqliteConnection,
    ids: impl IntoIterator<Item = &'a str>,
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<Vec<Claim>> {
    let found = sqlx::query(CLAIMS_BY_IDS)
        .bind(id_list(ids)?)
        .fetch_all(&mut *conn)
        .await?;
    let mut projects: HashMap<String, Project> = HashMap::new();
    let mut claims = Vec::with_capacity(found.len());
    for row in &found {
        let project_id: String = sqlx::Row::try_get(row, "project_id")?;
        if !projects.contains_key(&project_id) {
            let project = sqlx::query("SELECT * FROM projects WHERE id = ?1")
                .bind(&project_id)
                .fetch_one(&mut *conn)
                .await?;
            projects.insert(project_id.clone(), rows::project(&project)?);
        }
        let secrets = projects[&project_id].signing_secrets(now);
        claims.push(rows::claim(row, secrets, lease_until)?);
    }
    Ok(claims)
}

/// Sets the lease on the given send outs; open ones stop being due until it ends.
async fn lease<'c, E>(conn: E, ids_json: &str, until: Timestamp) -> StoreResult<()>
where
    E: Executor<'c, Database = Sqlite>,
{
    // MAX() of a NULL is NULL: a finished send out (claimed for a manual retry) stays
    // out of the due index.
    sqlx::query(
        "UPDATE send_outs SET lease_until = ?2, next_attempt_at = MAX(next_attempt_at, ?2) \
         WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(ids_json)
    .bind(until.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn claim_due(
    store: &SqliteStore,
    now: Timestamp,
    limit: u32,
    lease_for: Duration,
) -> StoreResult<Vec<Claim>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // A lease lost in a power cut only lets the send out be claimed again: relaxed.
    store
        .write_relaxed(async |tx| {
            let due: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM send_outs \
                 WHERE next_attempt_at <= ?1 AND status IN ('PENDING', 'RETRYING') \
                 AND (lease_until IS NULL OR lease_until <= ?1) \
                 ORDER BY next_attempt_at LIMIT ?2",
            )
            .bind(now.as_millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            let until = now.plus_millis(millis(lease_for));
            let claims = load_claims(tx, due.iter().map(String::as_str), now, until).await?;
            lease(&mut *tx, &id_list(due.iter().map(String::as_str))?, until).await?;
            Ok(claims)
        })
        .await
}

pub(super) async fn claim_one(
    store: &SqliteStore,
    project: &ProjectId,
    id: &SendOutId,
    now: Timestamp,
    lease_for: Duration,
) -> StoreResult<Option<Claim>> {
    let mut tx = store.write().await?;
    let lease_until: Option<Option<i64>> =
        sqlx::query_scalar("SELECT lease_until FROM send_outs WHERE id = ?1 AND project_id = ?2")
            .bind(id.as_str())
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    match lease_until {
        None => return Err(StoreError::NotFound),
        Some(Some(until)) if until > now.as_millis() => return Ok(None),
        Some(_) => {}
    }
    let until = now.plus_millis(millis(lease_for));
    let mut claims = load_claims(&mut tx, [id.as_str()], now, until).await?;
    lease(&mut *tx, &id_list([id.as_str()])?, until).await?;
    tx.commit().await?;
    Ok(claims.pop())
}

pub(super) async fn complete(store: &SqliteStore, completions: Vec<Completion>) -> StoreResult<()> {
    if completions.is_empty() {
        return Ok(());
    }
    // An outcome lost in a power cut only makes the send out be attempted again (at least
    // once): relaxed.
    store
        .write_relaxed(async |tx| write_completions(tx, &completions).await)
        .await
}

async fn write_completions(
    conn: &mut SqliteConnection,
    completions: &[Completion],
) -> StoreResult<()> {
    // Each statement below touches a send out once, so a batch naming one twice (two
    // workers' attempts after a lease ran out) is written in rounds.
    for round in rounds(completions) {
        let json = to_json(
            &round
                .iter()
                .map(|c| CompletionRow::of(c))
                .collect::<Vec<_>>(),
        )?;
        // Attempts first: they are numbered from the count before this completion.
        sqlx::query(
            "WITH c(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
             INSERT INTO attempts (send_out_id, number, started_at, duration_ms, \
             response_status, response_body, error, succeeded) \
             SELECT s.id, s.attempts + 1, c.v ->> 'started_at', c.v ->> 'duration_ms', \
             c.v ->> 'response_status', c.v ->> 'response_body', c.v ->> 'error', \
             c.v ->> 'succeeded' \
             FROM c JOIN send_outs s ON s.id = c.v ->> 'id' \
             WHERE c.v ->> 'attempted'",
        )
        .bind(&json)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "WITH c(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
             UPDATE send_outs SET \
             status = CASE WHEN (u.lease IS NULL OR send_outs.lease_until IS u.lease) THEN u.status ELSE send_outs.status END, \
             next_attempt_at = CASE WHEN (u.lease IS NULL OR send_outs.lease_until IS u.lease) THEN u.next_attempt_at \
                 ELSE send_outs.next_attempt_at END, \
             failure_reason = CASE WHEN (u.lease IS NULL OR send_outs.lease_until IS u.lease) THEN u.failure_reason \
                 ELSE send_outs.failure_reason END, \
             attempts = send_outs.attempts + u.attempted, \
             last_attempt_at = COALESCE(u.started_at, send_outs.last_attempt_at), \
             lease_until = CASE WHEN (u.lease IS NULL OR send_outs.lease_until IS u.lease) THEN NULL ELSE send_outs.lease_until END, \
             updated_at = u.at \
             FROM (SELECT v ->> 'id' AS id, v ->> 'status' AS status, \
                 v ->> 'next_attempt_at' AS next_attempt_at, \
                 v ->> 'failure_reason' AS failure_reason, v ->> 'attempted' AS attempted, \
                 v ->> 'started_at' AS started_at, v ->> 'at' AS at, v ->> 'lease' AS lease \
                 FROM c) AS u \
             WHERE send_outs.id = u.id",
        )
        .bind(&json)
        .execute(&mut *conn)
        .await?;
    }
    for completion in completions {
        if let Next::Failed {
            reason,
            disable_target: true,
        } = &completion.next
        {
            disable_target(conn, completion, reason).await?;
        }
    }
    Ok(())
}

/// Splits completions into rounds in which no send out appears twice, keeping their order.
fn rounds(completions: &[Completion]) -> Vec<Vec<&Completion>> {
    let mut rounds: Vec<(HashSet<&SendOutId>, Vec<&Completion>)> = Vec::new();
    for completion in completions {
        let id = &completion.send_out_id;
        match rounds.iter_mut().find(|(ids, _)| !ids.contains(id)) {
            Some((ids, round)) => {
                ids.insert(id);
                round.push(completion);
            }
            None => rounds.push((HashSet::from([id]), vec![completion])),
        }
    }
    rounds.into_iter().map(|(_, round)| round).collect()
}

/// One completion as an element of the JSON array `complete` binds.
#[derive(Serialize)]
struct CompletionRow<'a> {
    id: &'a str,
    status: &'static str,
    next_attempt_at: Option<i64>,
    failure_reason: Option<&'a str>,
    at: i64,
    lease: Option<i64>,
    attempted: bool,
    started_at: Option<i64>,
    duration_ms: Option<i64>,
    response_status: Option<u16>,
    response_body: Option<&'a str>,
    error: Option<&'a str>,
    succeeded: Option<bool>,
}

impl<'a> CompletionRow<'a> {
    fn of(c: &'a Completion) -> Self {
        let (status, next_attempt_at, failure_reason) = match &c.next {
            Next::Succeeded => (SendOutStatus::Succeeded, None, None),
            Next::RetryAt(at) => (SendOutStatus::Retrying, Some(at.as_millis()), None),
            Next::Failed { reason, .. } => (SendOutStatus::Failed, None, Some(reason.as_str())),
        };
        let attempt = c.attempt.as_ref();
        Self {
            id: c.send_out_id.as_str(),
            status: status.as_str(),
            next_attempt_at,
            failure_reason,
            at: c.at.as_millis(),
            lease: c.lease.map(Timestamp::as_millis),
            attempted: attempt.is_some(),
            started_at: attempt.map(|a| a.started_at.as_millis()),
            duration_ms: attempt.map(|a| i64::try_from(a.duration_ms).unwrap_or(i64::MAX)),
            response_status: attempt.and_then(|a| a.response_status),
            response_body: attempt.and_then(|a| a.response_body.as_deref()),
            error: attempt.and_then(|a| a.error.as_deref()),
            succeeded: attempt.map(|a| a.succeeded),
        }
    }
}

/// Turns off the webhook a given-up send out was for, or pauses its distribution, keeping
/// the first reason if it is already off. Only if the send out did end `FAILED`: a stale
/// completion (its lease ran out) does not decide for the newer holder.
async fn disable_target(
    conn: &mut SqliteConnection,
    completion: &Completion,
    reason: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhooks SET active = 0, disabled_reason = ?2, disabled_at = ?3, updated_at = ?3 \
         WHERE active = 1 AND id = (SELECT source_id FROM send_outs \
             WHERE id = ?1 AND source_kind = 'webhook' AND status = 'FAILED' \
             AND project_id = webhooks.project_id)",
    )
    .bind(completion.send_out_id.as_str())
    .bind(reason)
    .bind(completion.at.as_millis())
    .execute(&mut *conn)
    .await?;
    super::distributions::pause_for_send_out(
        conn,
        completion.send_out_id.as_str(),
        reason,
        completion.at,
    )
    .await
}

pub(super) async fn release(store: &SqliteStore, ids: &[SendOutId]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now().as_millis();
    sqlx::query(
        "UPDATE send_outs SET lease_until = NULL, next_attempt_at = MIN(next_attempt_at, ?2) \
         WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(id_list(ids.iter().map(SendOutId::as_str))?)
    .bind(now)
    .execute(&store.writer)
    .await?;
    store.wake_workers();
    Ok(())
}

pub(super) async fn next_due_at(store: &SqliteStore) -> StoreResult<Option<Timestamp>> {
    let next: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM send_outs WHERE next_attempt_at IS NOT NULL",
    )
    .fetch_one(&store.readers)
    .await?;
    Ok(next.map(Timestamp::from_millis))
}

/// Three counts over the due index (`next_attempt_at` is set exactly on open send outs, and
/// a leased one is not due before its lease ends), read on a reader connection.
pub(super) async fn queue_stats(store: &SqliteStore, now: Timestamp) -> StoreResult<QueueStats> {
    let (open, due, oldest): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM send_outs WHERE next_attempt_at IS NOT NULL), \
         (SELECT COUNT(*) FROM send_outs WHERE next_attempt_at <= ?1), \
         (SELECT MIN(next_attempt_at) FROM send_outs WHERE next_attempt_at <= ?1)",
    )
    .bind(now.as_millis())
    .fetch_one(&store.readers)
    .await?;
    Ok(QueueStats {
        open: u64::try_from(open).unwrap_or(0),
        due: u64::try_from(due).unwrap_or(0),
        oldest_due_at: oldest.map(Timestamp::from_millis),
    })
}

pub(super) async fn requeue_failed(
    store: &SqliteStore,
    project: &ProjectId,
    source_id: &str,
    since: Timestamp,
    now: Timestamp,
) -> StoreResult<u64> {
    let mut tx = store.write().await?;
    ensure_project(&mut *tx, project).await?;
    // A send out leased for a manual retry right now becomes due when that lease ends.
    let done = sqlx::query(
        "UPDATE send_outs SET status = 'RETRYING', failure_reason = NULL, updated_at = ?4, \
         next_attempt_at = MAX(?4, COALESCE(lease_until, ?4)) \
         WHERE project_id = ?1 AND source_id = ?2 AND status = 'FAILED' AND created_at >= ?3",
    )
    .bind(project.as_str())
    .bind(source_id)
    .bind(since.as_millis())
    .bind(now.as_millis())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if done.rows_affected() > 0 {
        store.wake_workers();
    }
    Ok(done.rows_affected())
}
