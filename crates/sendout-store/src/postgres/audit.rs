//! The audit log (listing, detail, the dashboard's chart) and retention.
//!
//! Listing is newest first by id (send-out ids sort by creation time) with keyset pagination:
//! `starting_after` is the last id of the previous page, and a page fetches one row more than
//! asked to know whether another follows. The page and its `total` are read in one
//! `REPEATABLE READ` transaction, so they see the same snapshot although other nodes write
//! meanwhile.

use std::time::Duration;

use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;
use sqlx::{Postgres, QueryBuilder, Row};

use super::projects::ensure_project;
use super::{millis, PostgresStore};
use crate::model::{Attempt, Page, SendOut, SendOutFilter, SendOutStatus, StatusBucket};
use crate::rows::{self, corrupt, SEND_OUT_COLUMNS, WITH_BODIES};
use crate::StoreResult;

/// How many rows one retention statement deletes, so pruning never holds many locks long.
const PRUNE_CHUNK: i64 = 2_000;

/// Appends `WHERE …` for the project and the filter.
fn push_filter(query: &mut QueryBuilder<'_, Postgres>, project: &ProjectId, f: &SendOutFilter) {
    query
        .push(" WHERE s.project_id = ")
        .push_bind(project.to_string());
    if let Some(status) = f.status {
        query.push(" AND s.status = ").push_bind(status.as_str());
    }
    if let Some(source_id) = &f.source_id {
        query
            .push(" AND s.source_id = ")
            .push_bind(source_id.clone());
    }
    if let Some(event_type) = &f.event_type {
        // The type a receiver sees, or the event that caused it (a distribution's trigger).
        query
            .push(" AND (s.envelope_type = ")
            .push_bind(event_type.clone())
            .push(" OR s.event_type = ")
            .push_bind(event_type.clone())
            .push(")");
    }
    if let Some(target_url) = &f.target_url {
        query
            .push(" AND s.target_url = ")
            .push_bind(target_url.clone());
    }
    if let Some(after) = f.created_after {
        query
            .push(" AND s.created_at >= ")
            .push_bind(after.as_millis());
    }
    if let Some(before) = f.created_before {
        query
            .push(" AND s.created_at < ")
            .push_bind(before.as_millis());
    }
    if let Some(is_test) = f.is_test {
        query.push(" AND s.is_test = ").push_bind(is_test);
    }
}

/// A read-only transaction whose statements all see one snapshot.
async fn snapshot(store: &PostgresStore) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
    Ok(store
        .pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?)
}

pub(super) async fn list_send_outs(
    store: &PostgresStore,
    project: &ProjectId,
    filter: &SendOutFilter,
    starting_after: Option<&SendOutId>,
    limit: u32,
) -> StoreResult<Page<SendOut>> {
    let mut tx = snapshot(store).await?;
    ensure_project(&mut *tx, project).await?;

    let mut page = QueryBuilder::new(format!("SELECT {SEND_OUT_COLUMNS} FROM {WITH_BODIES}"));
    push_filter(&mut page, project, filter);
    if let Some(after) = starting_after {
        page.push(" AND s.id < ").push_bind(after.to_string());
    }
    page.push(" ORDER BY s.id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let found = page.build().fetch_all(&mut *tx).await?;
    let mut items = found
        .iter()
        .map(rows::send_out)
        .collect::<StoreResult<Vec<_>>>()?;
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);

    let mut count = QueryBuilder::new("SELECT COUNT(*) FROM send_outs s");
    push_filter(&mut count, project, filter);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
    tx.commit().await?;

    Ok(Page {
        items,
        has_more,
        total: Some(u64::try_from(total).unwrap_or(0)),
    })
}

pub(super) async fn get_send_out(
    store: &PostgresStore,
    project: &ProjectId,
    id: &SendOutId,
) -> StoreResult<(SendOut, Vec<Attempt>)> {
    let mut tx = snapshot(store).await?;
    let row = sqlx::query(&format!(
        "SELECT {SEND_OUT_COLUMNS} FROM {WITH_BODIES} WHERE s.id = $1 AND s.project_id = $2"
    ))
    .bind(id.as_str())
    .bind(project.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let send_out = rows::send_out(&row)?;
    let attempts = sqlx::query("SELECT * FROM attempts WHERE send_out_id = $1 ORDER BY number")
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::attempt)
        .collect::<StoreResult<Vec<_>>>()?;
    tx.commit().await?;
    Ok((send_out, attempts))
}

pub(super) async fn send_out_histogram(
    store: &PostgresStore,
    project: &ProjectId,
    since: Timestamp,
    bucket: Duration,
) -> StoreResult<Vec<StatusBucket>> {
    let mut tx = snapshot(store).await?;
    ensure_project(&mut *tx, project).await?;
    let bucket_ms = millis(bucket).max(1);
    // Integer division: created_at is never negative, so this floors like the embedded store.
    let found = sqlx::query(
        "SELECT (created_at / $3) * $3 AS bucket_start, status, COUNT(*) AS n \
         FROM send_outs WHERE project_id = $1 AND created_at >= $2 \
         GROUP BY bucket_start, status ORDER BY bucket_start, status",
    )
    .bind(project.as_str())
    .bind(since.as_millis())
    .bind(bucket_ms)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    found
        .iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            let count: i64 = row.try_get("n")?;
            Ok(StatusBucket {
                bucket_start: Timestamp::from_millis(row.try_get("bucket_start")?),
                status: SendOutStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect()
}

pub(super) async fn last_status_by_source(
    store: &PostgresStore,
    project: &ProjectId,
) -> StoreResult<Vec<(String, SendOutStatus)>> {
    let mut tx = snapshot(store).await?;
    ensure_project(&mut *tx, project).await?;
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT w.id, last.status FROM webhooks w \
         JOIN LATERAL (SELECT s.status FROM send_outs s \
             WHERE s.project_id = w.project_id AND s.source_id = w.id \
             ORDER BY s.id DESC LIMIT 1) AS last ON TRUE \
         WHERE w.project_id = $1 ORDER BY w.id",
    )
    .bind(project.as_str())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    found
        .into_iter()
        .map(|(source, status)| {
            let parsed = SendOutStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?;
            Ok((source, parsed))
        })
        .collect()
}

/// Deletes, in chunks, finished send outs created before `before` (their attempts go with
/// them) and then events received before `before` that no send out refers to any more.
/// Returns how many send outs were deleted. A send out leased for a manual retry is kept, and
/// rows another node is working on (locked) are left for the next pass rather than waited for.
pub(super) async fn prune(store: &PostgresStore, before: Timestamp) -> StoreResult<u64> {
    let now = Timestamp::now().as_millis();
    let mut send_outs = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM send_outs WHERE id IN (SELECT id FROM send_outs \
             WHERE next_attempt_at IS NULL AND created_at < $1 \
             AND status IN ('SUCCEEDED', 'FAILED') \
             AND (lease_until IS NULL OR lease_until <= $2) \
             LIMIT $3 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before.as_millis())
        .bind(now)
        .bind(PRUNE_CHUNK)
        .execute(&store.pool)
        .await?;
        send_outs += done.rows_affected();
        if done.rows_affected() < PRUNE_CHUNK as u64 {
            break;
        }
    }
    loop {
        let done = sqlx::query(
            "DELETE FROM events WHERE id IN (SELECT e.id FROM events e \
             WHERE e.received_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM send_outs s WHERE s.event_id = e.id) \
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before.as_millis())
        .bind(PRUNE_CHUNK)
        .execute(&store.pool)
        .await?;
        if done.rows_affected() < PRUNE_CHUNK as u64 {
            break;
        }
    }
    Ok(send_outs)
}
