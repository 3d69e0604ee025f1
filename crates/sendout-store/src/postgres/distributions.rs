//! Distributions in the shared store, as in the embedded one (`sqlite/distributions.rs`).
//!
//! A distribution is one row: the user's configuration as a JSON document (`spec`), and the
//! columns queries need (`trigger_event`, `status`, the pause bookkeeping). Every statement
//! filters on the project, so another project's id reads as missing.
//!
//! Status rule (the same in every method that sets it): moving to `PAUSED` records the time
//! and the reason given (none when a person paused it); staying `PAUSED` keeps the first ones;
//! `LIVE` and `DRAFT` clear both. Each change is one `UPDATE` whose right-hand sides read the
//! row as it was, so two nodes pausing at once keep the first reason.

use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::ids::{DistributionId, ProjectId};
use sendout_core::time::Timestamp;
use sqlx::{Executor, PgConnection, Postgres};

use super::projects::ensure_project;
use super::PostgresStore;
use crate::model::Distribution;
use crate::rows::{self, to_json};
use crate::{StoreError, StoreResult};

/// The assignments of the status rule, given the SQL of the new status, the reason and now.
fn set_status(status: &str, reason: &str, now: &str) -> String {
    format!(
        "status = {status}, \
         paused_reason = CASE WHEN {status} <> 'PAUSED' THEN NULL \
             WHEN status = 'PAUSED' THEN paused_reason ELSE {reason} END, \
         paused_at = CASE WHEN {status} <> 'PAUSED' THEN NULL \
             WHEN status = 'PAUSED' THEN paused_at ELSE {now} END"
    )
}

pub(super) async fn create(
    store: &PostgresStore,
    project: &ProjectId,
    spec: DistributionSpec,
    status: DistributionStatus,
) -> StoreResult<Distribution> {
    let mut tx = store.pool.begin().await?;
    ensure_project(&mut *tx, project).await?;
    let now = Timestamp::now().as_millis();
    let paused_at = (status == DistributionStatus::Paused).then_some(now);
    let row = sqlx::query(
        "INSERT INTO distributions (id, project_id, trigger_event, status, spec, paused_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *",
    )
    .bind(DistributionId::new().as_str())
    .bind(project.as_str())
    .bind(spec.trigger().event())
    .bind(status.as_str())
    .bind(to_json(&spec)?)
    .bind(paused_at)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let created = rows::distribution(&row)?;
    tx.commit().await?;
    Ok(created)
}

pub(super) async fn list(
    store: &PostgresStore,
    project: &ProjectId,
) -> StoreResult<Vec<Distribution>> {
    let mut conn = store.pool.acquire().await?;
    ensure_project(&mut *conn, project).await?;
    sqlx::query("SELECT * FROM distributions WHERE project_id = $1 ORDER BY id")
        .bind(project.as_str())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(rows::distribution)
        .collect()
}

pub(super) async fn get<'c, E>(
    conn: E,
    project: &ProjectId,
    id: &DistributionId,
) -> StoreResult<Distribution>
where
    E: Executor<'c, Database = Postgres>,
{
    let row = sqlx::query("SELECT * FROM distributions WHERE id = $1 AND project_id = $2")
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_one(conn)
        .await?;
    rows::distribution(&row)
}

pub(super) async fn update(
    store: &PostgresStore,
    project: &ProjectId,
    id: &DistributionId,
    spec: DistributionSpec,
    status: Option<DistributionStatus>,
) -> StoreResult<Distribution> {
    // Without a new status the current one is "set again", which changes nothing.
    let sql = format!(
        "UPDATE distributions SET trigger_event = $3, spec = $4, updated_at = $7, {} \
         WHERE id = $1 AND project_id = $2 RETURNING *",
        set_status("COALESCE($5::text, status)", "$6::text", "$7")
    );
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .bind(project.as_str())
        .bind(spec.trigger().event())
        .bind(to_json(&spec)?)
        .bind(status.map(DistributionStatus::as_str))
        .bind(None::<String>)
        .bind(Timestamp::now().as_millis())
        .fetch_one(&store.pool)
        .await?;
    rows::distribution(&row)
}

pub(super) async fn delete(
    store: &PostgresStore,
    project: &ProjectId,
    id: &DistributionId,
) -> StoreResult<()> {
    // Its send outs stay in the audit log; open ones end FAILED (their target is gone).
    let done = sqlx::query("DELETE FROM distributions WHERE id = $1 AND project_id = $2")
        .bind(id.as_str())
        .bind(project.as_str())
        .execute(&store.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn set_status_of(
    store: &PostgresStore,
    project: &ProjectId,
    id: &DistributionId,
    status: DistributionStatus,
    reason: Option<String>,
) -> StoreResult<Distribution> {
    let sql = format!(
        "UPDATE distributions SET updated_at = $5, {} WHERE id = $1 AND project_id = $2 \
         RETURNING *",
        set_status("$3::text", "$4::text", "$5")
    );
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .bind(project.as_str())
        .bind(status.as_str())
        .bind(reason)
        .bind(Timestamp::now().as_millis())
        .fetch_one(&store.pool)
        .await?;
    rows::distribution(&row)
}

/// The live distributions of a project triggered by one of `event_types` (fan-out reads them
/// inside the ingest transaction, for the types of the events it writes).
///
/// A row that no longer reads (a spec that does not parse, after a hand edit or a downgrade)
/// is skipped and logged with its id: one broken distribution must not refuse every event of
/// its project. It sends nothing until it is saved again or deleted.
pub(super) async fn live(
    conn: &mut PgConnection,
    project: &ProjectId,
    event_types: &[&str],
) -> StoreResult<Vec<Distribution>> {
    if event_types.is_empty() {
        return Ok(Vec::new());
    }
    let found = sqlx::query(
        "SELECT * FROM distributions WHERE project_id = $1 AND status = 'LIVE' \
         AND trigger_event = ANY($2) ORDER BY id",
    )
    .bind(project.as_str())
    .bind(event_types)
    .fetch_all(conn)
    .await?;
    Ok(found
        .iter()
        .filter_map(rows::readable_distribution)
        .collect())
}

/// Pauses the distribution a given-up send out was for (in `complete`'s transaction),
/// keeping the first reason if it is paused already. Only a live distribution is paused: a
/// draft stays a draft.
pub(super) async fn pause_for_send_out(
    conn: &mut PgConnection,
    send_out_id: &str,
    reason: &str,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE distributions SET status = 'PAUSED', paused_reason = $2, paused_at = $3, \
         updated_at = $3 \
         WHERE status = 'LIVE' AND id = (SELECT source_id FROM send_outs \
             WHERE id = $1 AND source_kind = 'distribution' AND status = 'FAILED' \
             AND project_id = distributions.project_id)",
    )
    .bind(send_out_id)
    .bind(reason)
    .bind(at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}
