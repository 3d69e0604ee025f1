//! Distributions in the embedded store.
//!
//! A distribution is one row: the user's configuration as a JSON document (`spec`), and the
//! columns queries need (`trigger_event`, `status`, the pause bookkeeping). As everywhere in
//! this backend, every statement filters on the project, so another project's id reads as
//! missing.
//!
//! Status rule (the same in every method that sets it): moving to `PAUSED` records the time
//! and the reason given (none when a person paused it); staying `PAUSED` keeps the first ones;
//! `LIVE` and `DRAFT` clear both.

use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::ids::{DistributionId, ProjectId};
use sendout_core::time::Timestamp;
use sqlx::{Executor, Sqlite, SqliteConnection};

use super::projects::ensure_project;
use super::SqliteStore;
use crate::model::Distribution;
use crate::rows::{self, to_json};
use crate::{StoreError, StoreResult};

/// The assignments of the status rule; `?s` is the new status, `?r` the reason, `?t` now.
const SET_STATUS: &str = "status = ?s, \
     paused_reason = CASE WHEN ?s <> 'PAUSED' THEN NULL \
         WHEN status = 'PAUSED' THEN paused_reason ELSE ?r END, \
     paused_at = CASE WHEN ?s <> 'PAUSED' THEN NULL \
         WHEN status = 'PAUSED' THEN paused_at ELSE ?t END";

/// [`SET_STATUS`] with its placeholders numbered from `first` (status, reason, time).
fn set_status(first: u8) -> String {
    SET_STATUS
        .replace("?s", &format!("?{first}"))
        .replace("?r", &format!("?{}", first + 1))
        .replace("?t", &format!("?{}", first + 2))
}

pub(super) async fn create(
    store: &SqliteStore,
    project: &ProjectId,
    spec: DistributionSpec,
    status: DistributionStatus,
) -> StoreResult<Distribution> {
    let mut tx = store.write().await?;
    ensure_project(&mut *tx, project).await?;
    let now = Timestamp::now().as_millis();
    let paused_at = (status == DistributionStatus::Paused).then_some(now);
    let row = sqlx::query(
        "INSERT INTO distributions (id, project_id, trigger_event, status, spec, paused_at, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING *",
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
    store: &SqliteStore,
    project: &ProjectId,
) -> StoreResult<Vec<Distribution>> {
    let mut conn = store.readers.acquire().await?;
    ensure_project(&mut *conn, project).await?;
    sqlx::query("SELECT * FROM distributions WHERE project_id = ?1 ORDER BY id")
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
    E: Executor<'c, Database = Sqlite>,
{
    let row = sqlx::query("SELECT * FROM distributions WHERE id = ?1 AND project_id = ?2")
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_one(conn)
        .await?;
    rows::distribution(&row)
}

pub(super) async fn update(
    store: &SqliteStore,
    project: &ProjectId,
    id: &DistributionId,
    spec: DistributionSpec,
    status: Option<DistributionStatus>,
) -> StoreResult<Distribution> {
    let now = Timestamp::now().as_millis();
    // Without a new status the current one is "set again", which changes nothing.
    let sql = format!(
        "UPDATE distributions SET trigger_event = ?3, spec = ?4, updated_at = ?7, {} \
         WHERE id = ?1 AND project_id = ?2 RETURNING *",
        set_status(5).replace("?5", "COALESCE(?5, status)")
    );
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .bind(project.as_str())
        .bind(spec.trigger().event())
        .bind(to_json(&spec)?)
        .bind(status.map(DistributionStatus::as_str))
        .bind(None::<String>)
        .bind(now)
        .fetch_one(&store.writer)
        .await?;
    rows::distribution(&row)
}

pub(super) async fn delete(
    store: &SqliteStore,
    project: &ProjectId,
    id: &DistributionId,
) -> StoreResult<()> {
    // Its send outs stay in the audit log; open ones end FAILED (their target is gone).
    let done = sqlx::query("DELETE FROM distributions WHERE id = ?1 AND project_id = ?2")
        .bind(id.as_str())
        .bind(project.as_str())
        .execute(&store.writer)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn set_status_of(
    store: &SqliteStore,
    project: &ProjectId,
    id: &DistributionId,
    status: DistributionStatus,
    reason: Option<String>,
) -> StoreResult<Distribution> {
    let sql = format!(
        "UPDATE distributions SET updated_at = ?5, {} WHERE id = ?1 AND project_id = ?2 \
         RETURNING *",
        set_status(3)
    );
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .bind(project.as_str())
        .bind(status.as_str())
        .bind(reason)
        .bind(Timestamp::now().as_millis())
        .fetch_one(&store.writer)
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
    conn: &mut SqliteConnection,
    project: &ProjectId,
    event_types: &[&str],
) -> StoreResult<Vec<Distribution>> {
    if event_types.is_empty() {
        return Ok(Vec::new());
    }
    let found = sqlx::query(
        "SELECT * FROM distributions WHERE project_id = ?1 AND status = 'LIVE' \
         AND trigger_event IN (SELECT value FROM json_each(?2)) ORDER BY id",
    )
    .bind(project.as_str())
    .bind(to_json(&event_types)?)
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
pub(super) fn pause_for_send_out(
    tx: &rusqlite::Connection,
    send_out_id: &str,
    reason: &str,
    at: i64,
) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE distributions SET status = 'PAUSED', paused_reason = ?2, paused_at = ?3, \
         updated_at = ?3 \
         WHERE status = 'LIVE' AND id = (SELECT source_id FROM send_outs \
             WHERE id = ?1 AND source_kind = 'distribution' AND status = 'FAILED' \
             AND project_id = distributions.project_id)",
    )?
    .execute(rusqlite::params![send_out_id, reason, at])?;
    Ok(())
}
