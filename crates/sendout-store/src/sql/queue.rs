//! The statements of the queue that read the same in both dialects and are not on the
//! delivery path; each backend's `Queue` runs them on its own connections, around its own
//! wake-ups.

use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;

use super::{ensure_project, query, Conn};
use crate::rows::Columns;
use crate::{QueueStats, StoreResult};

/// When the earliest open send out falls due, if any.
pub(crate) async fn next_due_at<C: Conn + ?Sized>(conn: &mut C) -> StoreResult<Option<Timestamp>> {
    let next: Option<i64> = query(
        "SELECT MIN(next_attempt_at) AS next_due FROM send_outs WHERE next_attempt_at IS NOT NULL",
    )
    .fetch_one(conn)
    .await?
    .get("next_due")?;
    Ok(next.map(Timestamp::from_millis))
}

/// Three counts over the due index (`next_attempt_at` is set exactly on open send outs, and
/// a leased one is not due before its lease ends), in one statement.
pub(crate) async fn queue_stats<C: Conn + ?Sized>(
    conn: &mut C,
    now: Timestamp,
) -> StoreResult<QueueStats> {
    let row = query(
        "SELECT (SELECT COUNT(*) FROM send_outs WHERE next_attempt_at IS NOT NULL) AS open_n, \
         (SELECT COUNT(*) FROM send_outs WHERE next_attempt_at <= $1) AS due_n, \
         (SELECT MIN(next_attempt_at) FROM send_outs WHERE next_attempt_at <= $1) AS oldest",
    )
    .bind(now.as_millis())
    .fetch_one(conn)
    .await?;
    let (open, due): (i64, i64) = (row.get("open_n")?, row.get("due_n")?);
    Ok(QueueStats {
        open: u64::try_from(open).unwrap_or(0),
        due: u64::try_from(due).unwrap_or(0),
        oldest_due_at: row
            .get::<Option<i64>>("oldest")?
            .map(Timestamp::from_millis),
    })
}

/// Makes every `FAILED` send out of `source_id` created at or after `since` due at `now`, in
/// the caller's write transaction; returns how many. A send out leased for a manual retry
/// right now becomes due when that lease ends.
pub(crate) async fn requeue_failed<C: Conn + ?Sized>(
    tx: &mut C,
    project: &ProjectId,
    source_id: &str,
    since: Timestamp,
    now: Timestamp,
) -> StoreResult<u64> {
    ensure_project(tx, project).await?;
    query(
        "UPDATE send_outs SET status = 'RETRYING', failure_reason = NULL, updated_at = $4, \
         next_attempt_at = CASE WHEN lease_until > $4 THEN lease_until ELSE $4 END \
         WHERE project_id = $1 AND source_id = $2 AND status = 'FAILED' AND created_at >= $3",
    )
    .bind(project.as_str())
    .bind(source_id)
    .bind(since.as_millis())
    .bind(now.as_millis())
    .execute(tx)
    .await
}
