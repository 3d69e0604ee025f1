//! The delivery path of the queue shared by every node: claims with leases, writing attempts
//! back, releases. (Ingest, which fills the queue, is in `ingest.rs`; the backlog, in `sql/`.)
//!
//! Invariants (as in the embedded store): an open send out has a `next_attempt_at` and a
//! finished one has none; while a send out is leased, its `next_attempt_at` is at least the
//! lease's end, so an unfinished claim of a dead node comes back by itself when the lease runs
//! out. PostgreSQL's `GREATEST`/`LEAST` skip NULLs (SQLite's `MAX`/`MIN` return NULL), so the
//! statements below keep a finished send out's NULL explicitly.
//!
//! **Two nodes never hold the same send out.** `claim_due` picks due rows with
//! `FOR UPDATE SKIP LOCKED` and leases them in the same statement: a row another node is
//! claiming is skipped rather than waited for, and a row whose claim committed meanwhile is
//! re-checked against the latest version (its lease now lies in the future) and dropped.
//!
//! Writing attempts back is in `complete.rs`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::PgConnection;

use super::ingest::{insert_send_outs, notify_work};
use super::{complete, ingest, PostgresStore};
use crate::fair;
use crate::fanout::Limits;
use crate::model::{
    Claim, Completion, Handoff, IngestOutcome, KeyedIngest, KeyedOutcome, Lease, NewEvent, Project,
    SendOut,
};
use crate::rows::{self, BODIES, SEND_OUT_COLUMNS, TARGET_STATE, WITH_BODIES};
use crate::sql::{ensure_project, Backend};
use crate::{Queue, StoreError, StoreResult};

/// The projects a claim shares its room between, not in `skip`, starting after `cursor`
/// (see `fair.rs`).
async fn claim_projects(
    tx: &mut PgConnection,
    skip: &HashSet<String>,
    cursor: &fair::Cursor,
) -> StoreResult<Vec<String>> {
    let most = fair::MAX_PROJECTS_PER_CLAIM as i64;
    let after = cursor.after();
    let list = |after: String| {
        sqlx::query_scalar::<_, String>(fair::ACTIVE_PROJECTS)
            .bind(after)
            .bind(most)
    };
    let from_cursor = list(after.clone()).fetch_all(&mut *tx).await?;
    let from_start = if fair::wraps(&after, &from_cursor) {
        list(String::new()).fetch_all(&mut *tx).await?
    } else {
        Vec::new()
    };
    let projects = fair::claim_order(cursor, from_cursor, from_start, skip);
    Ok(projects)
}

/// The ids of up to `limit` due send outs of `projects`, shared between them (see `fair.rs`),
/// locked for this transaction (`SKIP LOCKED`: those another node is claiming are left to
/// it). One statement per round, every project's part of the round in it.
async fn due_fairly(
    tx: &mut PgConnection,
    now: Timestamp,
    limit: usize,
    projects: &[String],
) -> StoreResult<Vec<String>> {
    let mut shares = fair::Shares::new(projects.len(), limit);
    let mut due = Vec::with_capacity(limit);
    while let Some(asks) = shares.next_round() {
        let column = |f: fn(&fair::Ask) -> i64| asks.iter().map(f).collect::<Vec<i64>>();
        let found: Vec<(i64, String)> = sqlx::query_as(
            "SELECT p.ask, d.id FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
                 AS p(project_id, ask, n, skip_n) \
             CROSS JOIN LATERAL (SELECT id FROM send_outs \
                 WHERE project_id = p.project_id AND next_attempt_at <= $5 \
                 AND status IN ('PENDING', 'RETRYING') \
                 AND (lease_until IS NULL OR lease_until <= $5) \
                 ORDER BY next_attempt_at LIMIT p.n OFFSET p.skip_n \
                 FOR UPDATE SKIP LOCKED) d",
        )
        .bind(
            asks.iter()
                .map(|a| projects[a.project].clone())
                .collect::<Vec<_>>(),
        )
        .bind((0..asks.len() as i64).collect::<Vec<_>>())
        .bind(column(|a| a.count as i64))
        .bind(column(|a| a.offset as i64))
        .bind(now.as_millis())
        .fetch_all(&mut *tx)
        .await?;
        let mut got = vec![0; asks.len()];
        for (ask, id) in found {
            got[ask as usize] += 1;
            due.push(id);
        }
        for (ask, got) in asks.iter().zip(got) {
            shares.got(ask, got);
        }
    }
    Ok(due)
}

/// `next_attempt_at` moved to the end of a lease `$2`, unless the send out is finished.
const LEASE_NEXT: &str =
    "CASE WHEN next_attempt_at IS NULL THEN NULL ELSE GREATEST(next_attempt_at, $2) END";

#[async_trait]
impl Queue for PostgresStore {
    async fn ingest_within(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
        limits: Limits,
    ) -> StoreResult<Vec<IngestOutcome>> {
        ingest::ingest(self, project, events, limits).await
    }

    async fn ingest_keyed(
        &self,
        project: &ProjectId,
        ingest: KeyedIngest,
        limits: Limits,
    ) -> StoreResult<KeyedOutcome> {
        ingest::ingest_keyed(self, project, ingest, limits).await
    }

    fn hand_off(&self, handoff: Handoff) -> bool {
        self.handoff.set(handoff);
        true
    }

    async fn insert_send_out(&self, send_out: SendOut, lease: Duration) -> StoreResult<Claim> {
        let now = Timestamp::now();
        let mut tx = self.pool.begin().await?;
        ensure_project(&mut *tx, &send_out.project_id).await?;
        let lease_until = now.plus(lease);
        insert_send_outs(&mut tx, std::slice::from_ref(&send_out), Some(lease_until)).await?;
        let (state, joins) = TARGET_STATE;
        let found = sqlx::query(&format!(
            "SELECT {SEND_OUT_COLUMNS}, {state} FROM {WITH_BODIES} {joins} WHERE s.id = $1"
        ))
        .bind(send_out.id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut claims = to_claims(&mut tx, &found, now, lease_until).await?;
        tx.commit().await?;
        claims.pop().ok_or(StoreError::NotFound)
    }

    async fn claim_due_except(
        &self,
        now: Timestamp,
        limit: u32,
        lease: Duration,
        skip: &HashSet<ProjectId>,
    ) -> StoreResult<Vec<Claim>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.plus(lease);
        let (state, joins) = TARGET_STATE;
        let mut tx = self.pool.begin().await?;
        let skip: HashSet<String> = skip.iter().map(|p| p.as_str().to_owned()).collect();
        let projects = claim_projects(&mut tx, &skip, &self.claim_cursor).await?;
        // `due` keeps the rows as they were before the lease: a claim shows the send out's own
        // schedule. The UPDATE runs whether or not the final SELECT reads from it.
        let leased = |due: &str| {
            format!(
                "WITH due AS MATERIALIZED ({due}), \
                 leased AS (\
                     UPDATE send_outs s SET lease_until = $2, \
                     next_attempt_at = GREATEST(s.next_attempt_at, $2) \
                     FROM due WHERE s.id = due.id) \
                 SELECT {SEND_OUT_COLUMNS}, {state} FROM due s {BODIES} {joins} \
                 ORDER BY s.next_attempt_at, s.id"
            )
        };
        let found = if projects.is_empty() {
            Vec::new()
        } else if projects.len() == 1 && skip.is_empty() {
            // One project with work: its oldest due, as the due index has them.
            sqlx::query(&leased(
                "SELECT * FROM send_outs \
                 WHERE next_attempt_at <= $1 AND status IN ('PENDING', 'RETRYING') \
                 AND (lease_until IS NULL OR lease_until <= $1) \
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED",
            ))
            .bind(now.as_millis())
            .bind(until.as_millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?
        } else {
            let ids = due_fairly(&mut tx, now, limit as usize, &projects).await?;
            // The rows are locked already, by `due_fairly`'s statements.
            sqlx::query(&leased(
                "SELECT * FROM send_outs WHERE id = ANY($3) AND next_attempt_at <= $1",
            ))
            .bind(now.as_millis())
            .bind(until.as_millis())
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?
        };
        if found.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let claims = to_claims(&mut tx, &found, now, until).await?;
        tx.commit().await?;
        Ok(claims)
    }

    async fn claim_one(
        &self,
        project: &ProjectId,
        id: &SendOutId,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<Option<Claim>> {
        let (state, joins) = TARGET_STATE;
        let mut tx = self.pool.begin().await?;
        // Waits for a claim being written by another node, then sees its lease.
        let found = sqlx::query(&format!(
            "SELECT {SEND_OUT_COLUMNS}, s.lease_until, {state} FROM {WITH_BODIES} {joins} \
             WHERE s.id = $1 AND s.project_id = $2 FOR UPDATE OF s"
        ))
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let lease_until: Option<i64> = sqlx::Row::try_get(&found, "lease_until")?;
        if lease_until.is_some_and(|until| until > now.as_millis()) {
            tx.rollback().await?;
            return Ok(None);
        }
        let until = now.plus(lease);
        let mut claims = to_claims(&mut tx, std::slice::from_ref(&found), now, until).await?;
        // A finished send out (a manual retry) is leased but never becomes due by itself.
        sqlx::query(&format!(
            "UPDATE send_outs SET lease_until = $2, next_attempt_at = {LEASE_NEXT} WHERE id = $1"
        ))
        .bind(id.as_str())
        .bind(until.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claims.pop())
    }

    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<()> {
        complete::complete(self, completions).await
    }

    async fn release(&self, leases: &[Lease]) -> StoreResult<()> {
        if leases.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = leases.iter().map(|l| l.send_out_id.as_str()).collect();
        let untils: Vec<i64> = leases.iter().map(|l| l.until.as_millis()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE send_outs s SET lease_until = NULL, next_attempt_at = \
             CASE WHEN s.next_attempt_at IS NULL THEN NULL ELSE LEAST(s.next_attempt_at, $3) END \
             FROM UNNEST($1::text[], $2::bigint[]) AS r(id, lease) \
             WHERE s.id = r.id AND s.lease_until = r.lease",
        )
        .bind(&ids)
        .bind(&untils)
        .bind(Timestamp::now().as_millis())
        .execute(&mut *tx)
        .await?;
        notify_work(&mut tx).await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(())
    }
}

/// Rows with the send-out columns and the target's state as claims under the lease ending
/// `lease_until`, signed with their projects' secrets in force at `now`.
async fn to_claims(
    conn: &mut PgConnection,
    found: &[PgRow],
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<Vec<Claim>> {
    let mut project_ids: Vec<String> = Vec::new();
    for row in found {
        let id: String = sqlx::Row::try_get(row, "project_id")?;
        if !project_ids.contains(&id) {
            project_ids.push(id);
        }
    }
    let mut projects: HashMap<String, Project> = HashMap::new();
    if !project_ids.is_empty() {
        for row in sqlx::query("SELECT * FROM projects WHERE id = ANY($1)")
            .bind(&project_ids)
            .fetch_all(&mut *conn)
            .await?
        {
            let project = rows::project(&row)?;
            projects.insert(project.id.to_string(), project);
        }
    }
    let mut claims = Vec::with_capacity(found.len());
    for row in found {
        let project_id: String = sqlx::Row::try_get(row, "project_id")?;
        // The project cascades to its send outs, so it exists while they do.
        let project = projects
            .get(&project_id)
            .ok_or_else(|| rows::corrupt("project of a send out", &project_id))?;
        claims.push(rows::claim(row, project.signing_secrets(now), lease_until)?);
    }
    Ok(claims)
}
