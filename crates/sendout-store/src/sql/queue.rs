//! The [`Backlog`] of any [`Backend`]: the statements of the queue that read the same in both
//! dialects and are not on the delivery path. Making failed send outs due again announces the
//! work as the backend does ([`Backend::announce_work`], [`Backend::wake_workers`]).

use std::sync::Arc;

use async_trait::async_trait;
use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use tokio::sync::Notify;

use super::{ensure_project, query, Backend};
use crate::rows::Columns;
use crate::{Backlog, QueueStats, SourceId, StoreResult};

#[async_trait]
impl<B: Backend> Backlog for B {
    fn work_signal(&self) -> Arc<Notify> {
        self.work().clone()
    }

    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>> {
        let next: Option<i64> = query(
            "SELECT MIN(next_attempt_at) AS next_due FROM send_outs \
             WHERE next_attempt_at IS NOT NULL",
        )
        .fetch_one(&mut *self.reader().await?)
        .await?
        .get("next_due")?;
        Ok(next.map(Timestamp::from_millis))
    }

    /// Three counts over the due index (`next_attempt_at` is set exactly on open send outs,
    /// and a leased one is not due before its lease ends), in one statement.
    async fn queue_stats(&self, now: Timestamp) -> StoreResult<QueueStats> {
        let row = query(
            "SELECT (SELECT COUNT(*) FROM send_outs WHERE next_attempt_at IS NOT NULL) AS open_n, \
             (SELECT COUNT(*) FROM send_outs WHERE next_attempt_at <= $1) AS due_n, \
             (SELECT MIN(next_attempt_at) FROM send_outs WHERE next_attempt_at <= $1) AS oldest",
        )
        .bind(now.as_millis())
        .fetch_one(&mut *self.reader().await?)
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

    /// A send out leased for a manual retry right now becomes due when that lease ends.
    async fn requeue_failed(
        &self,
        project: &ProjectId,
        source_id: &SourceId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        ensure_project(&mut *tx, project).await?;
        let requeued = query(
            "UPDATE send_outs SET status = 'RETRYING', failure_reason = NULL, updated_at = $4, \
             next_attempt_at = CASE WHEN lease_until > $4 THEN lease_until ELSE $4 END \
             WHERE project_id = $1 AND source_id = $2 AND status = 'FAILED' \
             AND created_at >= $3",
        )
        .bind(project.as_str())
        .bind(source_id.as_str())
        .bind(since.as_millis())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        if requeued > 0 {
            self.announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        if requeued > 0 {
            self.wake_workers();
        }
        Ok(requeued)
    }
}
