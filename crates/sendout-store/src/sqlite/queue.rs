//! The delivery path of the queue: claims with leases, writing attempts back, releases.
//! (Ingest, which fills the queue, is in `ingest.rs`; the backlog, in `sql/`.)
//!
//! Invariants kept here (see the module docs of [`super`]): an open send out has a
//! `next_attempt_at` and a finished one has none; while a send out is leased, its
//! `next_attempt_at` is at least the lease's end, so an unfinished claim of a dead worker
//! comes back by itself when the lease runs out.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;
use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;

use super::direct::Commit;
use super::ingest::insert_send_outs;
use super::rows::{id_list, ColumnIndex, CLAIMS_BY_IDS};
use super::SqliteStore;
use crate::fair;
use crate::fanout::Limits;
use crate::health::{self, Rollup, TargetKey};
use crate::model::{
    Claim, Completion, Handoff, IngestOutcome, KeyedIngest, KeyedOutcome, Lease, NewEvent, Next,
    SendOut, SendOutStatus, SigningSecrets,
};
use crate::notices::{self, NoticeKind, Recipients};
use crate::rows::{self, Columns};
use crate::sql::Backend;
use crate::{Queue, StoreError, StoreResult};

#[async_trait]
impl Queue for SqliteStore {
    async fn ingest_within(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
        limits: Limits,
    ) -> StoreResult<Vec<IngestOutcome>> {
        self.committer.jobs().ingest(project, events, limits).await
    }

    async fn ingest_keyed(
        &self,
        project: &ProjectId,
        ingest: KeyedIngest,
        limits: Limits,
    ) -> StoreResult<KeyedOutcome> {
        self.committer
            .jobs()
            .ingest_keyed(project, ingest, limits)
            .await
    }

    fn hand_off(&self, handoff: Handoff) -> bool {
        self.committer.hand_off(handoff);
        true
    }

    async fn insert_send_out(&self, send_out: SendOut, lease: Duration) -> StoreResult<Claim> {
        let now = Timestamp::now();
        let lease_until = now.plus(lease);
        self.direct
            .run(Commit::Durable, move |tx| {
                tx.prepare_cached("SELECT 1 FROM projects WHERE id = ?1")?
                    .query_row([send_out.project_id.as_str()], |_| Ok(()))?;
                insert_send_outs(tx, std::slice::from_ref(&send_out), Some(lease_until))?;
                let mut claims = load_claims(tx, &[send_out.id.as_str()], now, lease_until)?;
                claims.pop().ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn claim_due_except(
        &self,
        now: Timestamp,
        limit: u32,
        lease_for: Duration,
        skip: &HashSet<ProjectId>,
    ) -> StoreResult<Vec<Claim>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.plus(lease_for);
        let skip: HashSet<String> = skip.iter().map(|p| p.as_str().to_owned()).collect();
        let cursor = self.claim_cursor.clone();
        // A lease lost in a power cut only lets the send out be claimed again: relaxed.
        self.direct
            .run(Commit::Relaxed, move |tx| {
                let due = due_fairly(tx, now, limit as usize, &skip, &cursor)?;
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                let due: Vec<&str> = due.iter().map(String::as_str).collect();
                let claims = load_claims(tx, &due, now, until)?;
                lease(tx, &due, until)?;
                Ok(claims)
            })
            .await
    }

    async fn claim_one(
        &self,
        project: &ProjectId,
        id: &SendOutId,
        now: Timestamp,
        lease_for: Duration,
    ) -> StoreResult<Option<Claim>> {
        let (project, id) = (project.clone(), id.clone());
        self.direct
            .run(Commit::Durable, move |tx| {
                let lease_until: Option<i64> = tx
                    .prepare_cached(
                        "SELECT lease_until FROM send_outs WHERE id = ?1 AND project_id = ?2",
                    )?
                    .query_row([id.as_str(), project.as_str()], |row| row.get(0))?;
                if lease_until.is_some_and(|until| until > now.as_millis()) {
                    return Ok(None);
                }
                let until = now.plus(lease_for);
                let mut claims = load_claims(tx, &[id.as_str()], now, until)?;
                lease(tx, &[id.as_str()], until)?;
                Ok(claims.pop())
            })
            .await
    }

    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<()> {
        if completions.is_empty() {
            return Ok(());
        }
        // An outcome lost in a power cut only makes the send out be attempted again (at least
        // once): relaxed.
        self.direct
            .run(Commit::Relaxed, move |tx| {
                write_completions(tx, &completions)
            })
            .await
    }

    async fn release(&self, leases: &[Lease]) -> StoreResult<()> {
        if leases.is_empty() {
            return Ok(());
        }
        let leases = leases.to_vec();
        let now = Timestamp::now().as_millis();
        // A release lost in a power cut leaves the lease to run out: relaxed.
        self.direct
            .run(Commit::Relaxed, move |tx| {
                let mut release = tx.prepare_cached(
                    "UPDATE send_outs SET lease_until = NULL, \
                     next_attempt_at = MIN(next_attempt_at, ?2) WHERE id = ?1 AND lease_until = ?3",
                )?;
                for lease in &leases {
                    release.execute(params![
                        lease.send_out_id.as_str(),
                        now,
                        lease.until.as_millis()
                    ])?;
                }
                Ok(())
            })
            .await?;
        self.wake_workers();
        Ok(())
    }
}

/// The ids of up to `limit` due send outs, shared between the projects not in `skip` (see
/// `fair.rs`), oldest due first within each project.
fn due_fairly(
    tx: &rusqlite::Connection,
    now: Timestamp,
    limit: usize,
    skip: &HashSet<String>,
    cursor: &fair::Cursor,
) -> StoreResult<Vec<String>> {
    let after = cursor.after();
    let mut active = tx.prepare_cached(fair::ACTIVE_PROJECTS)?;
    let mut list = |after: &str| -> StoreResult<Vec<String>> {
        let most = fair::MAX_PROJECTS_PER_CLAIM as i64;
        Ok(active
            .query_map(params![after, most], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?)
    };
    let from_cursor = list(&after)?;
    let from_start = if fair::wraps(&after, &from_cursor) {
        list("")?
    } else {
        Vec::new()
    };
    let projects = fair::claim_order(cursor, from_cursor, from_start, skip);
    let mut due_of = tx.prepare_cached(
        "SELECT id FROM send_outs INDEXED BY send_outs_due_by_project \
         WHERE project_id = ?1 AND next_attempt_at <= ?2 \
         AND status IN ('PENDING', 'RETRYING') AND (lease_until IS NULL OR lease_until <= ?2) \
         ORDER BY next_attempt_at LIMIT ?3 OFFSET ?4",
    )?;
    let mut shares = fair::Shares::new(projects.len(), limit);
    let mut due = Vec::with_capacity(limit);
    while let Some(asks) = shares.next_round() {
        for ask in asks {
            let before = due.len();
            let found = due_of.query_map(
                params![
                    projects[ask.project],
                    now.as_millis(),
                    ask.count as i64,
                    ask.offset as i64
                ],
                |row| row.get::<_, String>(0),
            )?;
            for id in found {
                due.push(id?);
            }
            shares.got(&ask, due.len() - before);
        }
    }
    Ok(due)
}

/// The claims for the given send outs, as they are now (before the lease ending
/// `lease_until` is written).
fn load_claims(
    tx: &rusqlite::Connection,
    ids: &[&str],
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<Vec<Claim>> {
    let mut projects: HashMap<String, SigningSecrets> = HashMap::new();
    let mut project = tx.prepare_cached("SELECT * FROM projects WHERE id = ?1")?;
    let mut select = tx.prepare_cached(CLAIMS_BY_IDS)?;
    let columns = ColumnIndex::of(&select);
    let mut found = select.query([id_list(ids.iter().copied())?])?;
    let mut claims = Vec::with_capacity(ids.len());
    while let Some(row) = found.next()? {
        let row = columns.row(row);
        let project_id: String = row.get("project_id")?;
        let secrets = match projects.get(&project_id) {
            Some(secrets) => secrets.clone(),
            None => {
                let secrets = project
                    .query_and_then([&project_id], |row| rows::project(row))?
                    .next()
                    .ok_or(StoreError::NotFound)??
                    .signing_secrets(now);
                projects.insert(project_id, secrets.clone());
                secrets
            }
        };
        claims.push(rows::claim(&row, secrets, lease_until)?);
    }
    Ok(claims)
}

/// Sets the lease on the given send outs; open ones stop being due until it ends.
fn lease(tx: &rusqlite::Connection, ids: &[&str], until: Timestamp) -> StoreResult<()> {
    // MAX() of a NULL is NULL: a finished send out (claimed for a manual retry) stays
    // out of the due index.
    let mut update = tx.prepare_cached(
        "UPDATE send_outs SET lease_until = ?2, next_attempt_at = MAX(next_attempt_at, ?2) \
         WHERE id = ?1",
    )?;
    for id in ids {
        update.execute(params![id, until.as_millis()])?;
    }
    Ok(())
}

/// Writes each completion in order: its attempt (numbered from the send out's count before
/// it), then the send out, then the target if the send out was given up. Only a completion
/// made under the lease the row holds now (or under none: a send out never leased) changes
/// the status, the schedule and the lease; every attempt is recorded, and counted in its
/// target's health once the batch is written (one upsert per target and minute).
fn write_completions(tx: &rusqlite::Connection, completions: &[Completion]) -> StoreResult<()> {
    let mut attempt = tx.prepare_cached(
        "INSERT INTO attempts (send_out_id, number, started_at, duration_ms, \
         response_status, response_body, error, succeeded) \
         SELECT id, attempts + 1, ?2, ?3, ?4, ?5, ?6, ?7 FROM send_outs WHERE id = ?1",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE send_outs SET \
         status = CASE WHEN ?2 IS NULL OR lease_until IS ?2 THEN ?3 ELSE status END, \
         next_attempt_at = CASE WHEN ?2 IS NULL OR lease_until IS ?2 THEN ?4 \
             ELSE next_attempt_at END, \
         failure_reason = CASE WHEN ?2 IS NULL OR lease_until IS ?2 THEN ?5 \
             ELSE failure_reason END, \
         lease_until = CASE WHEN ?2 IS NULL OR lease_until IS ?2 THEN NULL ELSE lease_until END, \
         attempts = attempts + ?6, \
         last_attempt_at = COALESCE(?7, last_attempt_at), \
         updated_at = ?8 \
         WHERE id = ?1 \
         RETURNING project_id, source_kind, source_id, channel, is_test",
    )?;
    let mut rollup = Rollup::default();
    for c in completions {
        let id = c.send_out_id.as_str();
        if let Some(a) = &c.attempt {
            attempt.execute(params![
                id,
                a.started_at.as_millis(),
                i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                a.response_status,
                a.response_body,
                a.error,
                a.succeeded,
            ])?;
        }
        let (status, next_attempt_at, failure_reason) = match &c.next {
            Next::Succeeded => (SendOutStatus::Succeeded, None, None),
            Next::RetryAt(at) => (SendOutStatus::Retrying, Some(at.as_millis()), None),
            Next::Failed { reason, .. } => (SendOutStatus::Failed, None, Some(reason.as_str())),
        };
        let mut updated = update.query(params![
            id,
            c.lease.map(Timestamp::as_millis),
            status.as_str(),
            next_attempt_at,
            failure_reason,
            c.attempt.is_some(),
            c.attempt.as_ref().map(|a| a.started_at.as_millis()),
            c.at.as_millis(),
        ])?;
        // Stepping runs the update; its row names the target, for its health figures.
        let row = updated.next()?;
        if let (Some(attempt), Some(row)) = (&c.attempt, row) {
            let target = TargetKey {
                project_id: row.get(0)?,
                source_kind: row.get(1)?,
                source_id: row.get(2)?,
                channel: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
            };
            rollup.add(target, row.get(4)?, attempt);
        }
        drop(updated);
        if let Next::Failed {
            reason,
            disable_target: true,
        } = &c.next
        {
            disable_target(tx, c, reason)?;
            if let Some(window) = c.exhausted_window {
                tx.prepare_cached(&notices::rusqlite_sql(notices::EXHAUSTED))?
                    .execute(params![
                        id,
                        c.at.as_millis(),
                        notices::exhausted_window(c.at, window),
                        false
                    ])?;
            }
        }
    }
    write_health(tx, &rollup)
}

/// Adds a batch's attempts to its targets' health: one upsert per target and minute, and
/// one per target.
fn write_health(tx: &rusqlite::Connection, rollup: &Rollup) -> StoreResult<()> {
    if rollup.is_empty() {
        return Ok(());
    }
    let mut minute = tx.prepare_cached(&notices::rusqlite_sql(&health::UPSERT_MINUTE))?;
    for (target, at, tally) in rollup.minutes() {
        let mut values: Vec<rusqlite::types::Value> = vec![
            target.project_id.clone().into(),
            target.source_kind.clone().into(),
            target.source_id.clone().into(),
            target.channel.into(),
            at.into(),
        ];
        let counts = [tally.attempts, tally.succeeded]
            .into_iter()
            .chain(tally.latencies);
        values.extend(counts.map(|n| i64::try_from(n).unwrap_or(i64::MAX).into()));
        minute.execute(rusqlite::params_from_iter(values))?;
    }
    let mut state = tx.prepare_cached(&notices::rusqlite_sql(health::UPSERT_RUN))?;
    for (target, run) in rollup.runs() {
        state.execute(params![
            target.project_id,
            target.source_kind,
            target.source_id,
            target.channel,
            i64::try_from(run.trailing_failures).unwrap_or(i64::MAX),
            run.last_attempt_at,
            run.last_success_at,
            run.last_failure_at,
        ])?;
    }
    Ok(())
}

/// Turns off the webhook a given-up send out was for, or pauses its distribution, keeping
/// the first reason if it is already off. Only if the send out did end `FAILED`: a stale
/// completion (its lease ran out) does not decide for the newer holder. A target turned off
/// here gets its notice in the same transaction.
fn disable_target(
    tx: &rusqlite::Connection,
    completion: &Completion,
    reason: &str,
) -> StoreResult<()> {
    let id = completion.send_out_id.as_str();
    let at = completion.at.as_millis();
    let disabled = tx
        .prepare_cached(
            "UPDATE webhooks SET active = 0, disabled_reason = ?2, disabled_at = ?3, updated_at = ?3 \
             WHERE active = 1 AND id = (SELECT source_id FROM send_outs \
                 WHERE id = ?1 AND source_kind = 'webhook' AND status = 'FAILED' \
                 AND project_id = webhooks.project_id)",
        )?
        .execute(params![id, reason, at])?;
    if disabled > 0 {
        record_notice(tx, id, NoticeKind::WebhookDisabled, reason, at)?;
    }
    let paused = tx
        .prepare_cached(
            "UPDATE distributions SET status = 'PAUSED', paused_reason = ?2, paused_at = ?3, \
             updated_at = ?3 \
             WHERE status = 'LIVE' AND id = (SELECT source_id FROM send_outs \
                 WHERE id = ?1 AND source_kind = 'distribution' AND status = 'FAILED' \
                 AND project_id = distributions.project_id)",
        )?
        .execute(params![id, reason, at])?;
    if paused > 0 {
        record_notice(tx, id, NoticeKind::DistributionPaused, reason, at)?;
    }
    Ok(())
}

/// Records the notice a send out caused, told as its project's settings say.
fn record_notice(
    tx: &rusqlite::Connection,
    send_out_id: &str,
    kind: NoticeKind,
    reason: &str,
    at: i64,
) -> StoreResult<()> {
    let settings: Option<String> = tx
        .prepare_cached(&notices::rusqlite_sql(notices::SETTINGS_OF_SEND_OUT))?
        .query_row(params![send_out_id], |row| row.get(0))?;
    let to = Recipients::of(settings.as_deref(), kind.target_kind());
    tx.prepare_cached(&notices::rusqlite_sql(notices::FOR_SEND_OUT))?
        .execute(params![
            send_out_id,
            kind.as_str(),
            reason,
            at,
            to.in_app,
            to.mail_to,
            None::<String>
        ])?;
    Ok(())
}
