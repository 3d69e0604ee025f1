//! The audit log (listing, detail, the dashboard's chart) and retention, for both backends.
//!
//! Listing is newest first by id (send-out ids sort by creation time) with keyset pagination:
//! `starting_after` is the last id of the previous page, and a page fetches one row more than
//! asked to know whether another follows. The page and its `total` are read in one snapshot
//! ([`Backend::snapshot`]), so they agree although others write meanwhile; `total` walks one
//! index of the project, which stays cheap at the sizes retention keeps.

use std::time::Duration;

use async_trait::async_trait;
use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;

use super::{ensure_project, query, Backend, Conn, Query};
use crate::model::{
    Attempt, Page, PublicHeaderSets, SendOut, SendOutFilter, SendOutStatus, SourceId, StatusBucket,
};
use crate::rows::{self, corrupt, Columns, SEND_OUT_COLUMNS, WITH_BODIES};
use crate::{Audit, StoreResult};

/// How many rows one retention statement deletes, so pruning never holds the writer (or
/// many locks) long.
const PRUNE_CHUNK: i64 = 2_000;

/// Appends `WHERE …` for the project and the filter.
fn push_filter<'a>(query: &mut Query<'a>, project: &'a ProjectId, f: &'a SendOutFilter) {
    query
        .push(" WHERE s.project_id = ")
        .push_bind(project.as_str());
    if let Some(status) = f.status {
        query.push(" AND s.status = ").push_bind(status.as_str());
    }
    if let Some(source_id) = &f.source_id {
        query.push(" AND s.source_id = ").push_bind(source_id);
    }
    if let Some(event_type) = &f.event_type {
        // The type a receiver sees, or the event that caused it (a distribution's trigger).
        query
            .push(" AND (s.envelope_type = ")
            .push_bind(event_type)
            .push(" OR s.event_type = ")
            .push_bind(event_type)
            .push(")");
    }
    if let Some(target_url) = &f.target_url {
        query.push(" AND s.target_url = ").push_bind(target_url);
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

fn status(text: &str) -> StoreResult<SendOutStatus> {
    SendOutStatus::parse(text).ok_or_else(|| corrupt("status", text))
}

/// Reads into `sets` what the named webhooks and distributions (of `project`) mark public:
/// one statement per kind, none for a kind with no ids.
async fn marked<C: Conn + ?Sized>(
    conn: &mut C,
    project: &ProjectId,
    webhooks: &[&str],
    distributions: &[&str],
    sets: &mut PublicHeaderSets,
) -> StoreResult<()> {
    if !webhooks.is_empty() {
        let found = query(format!(
            "SELECT id, public_headers FROM webhooks WHERE project_id = $1 AND id {}",
            C::one_of("$2")
        ))
        .bind(project.as_str())
        .bind(webhooks)
        .fetch_all(&mut *conn)
        .await?;
        for row in &found {
            let (id, public) = rows::webhook_public_headers(row)?;
            sets.insert(SourceId::Webhook(id), None, public);
        }
    }
    if !distributions.is_empty() {
        let found = query(format!(
            "SELECT id, spec FROM distributions WHERE project_id = $1 AND id {}",
            C::one_of("$2")
        ))
        .bind(project.as_str())
        .bind(distributions)
        .fetch_all(conn)
        .await?;
        for (id, channels) in found.iter().filter_map(rows::channel_public_headers) {
            for (index, public) in (0u32..).zip(channels) {
                sets.insert(SourceId::Distribution(id.clone()), Some(index), public);
            }
        }
    }
    Ok(())
}

#[async_trait]
impl<B: Backend> Audit for B {
    async fn list_send_outs(
        &self,
        project: &ProjectId,
        filter: &SendOutFilter,
        starting_after: Option<&SendOutId>,
        limit: u32,
    ) -> StoreResult<Page<SendOut>> {
        let mut tx = self.snapshot().await?;
        ensure_project(&mut *tx, project).await?;

        let mut page = query(format!("SELECT {SEND_OUT_COLUMNS} FROM {WITH_BODIES}"));
        push_filter(&mut page, project, filter);
        if let Some(after) = starting_after {
            page.push(" AND s.id < ").push_bind(after.as_str());
        }
        page.push(" ORDER BY s.id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let mut items = page
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(rows::send_out)
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);

        let mut count = query("SELECT COUNT(*) AS n FROM send_outs s");
        push_filter(&mut count, project, filter);
        let total: i64 = count.fetch_one(&mut *tx).await?.get("n")?;
        tx.commit().await?;

        Ok(Page {
            items,
            has_more,
            total: Some(u64::try_from(total).unwrap_or(0)),
        })
    }

    async fn get_send_out(
        &self,
        project: &ProjectId,
        id: &SendOutId,
    ) -> StoreResult<(SendOut, Vec<Attempt>)> {
        let mut tx = self.snapshot().await?;
        let row = query(format!(
            "SELECT {SEND_OUT_COLUMNS} FROM {WITH_BODIES} WHERE s.id = $1 AND s.project_id = $2"
        ))
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let mut send_out = rows::send_out(&row)?;
        if let Some(event) = &send_out.event_id {
            send_out.idempotency_key = query("SELECT idempotency_key FROM events WHERE id = $1")
                .bind(event.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.get("idempotency_key"))
                .transpose()?
                .flatten();
        }
        let attempts = query("SELECT * FROM attempts WHERE send_out_id = $1 ORDER BY number")
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(rows::attempt)
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok((send_out, attempts))
    }

    async fn public_headers(
        &self,
        project: &ProjectId,
        send_outs: &[SendOut],
    ) -> StoreResult<PublicHeaderSets> {
        let (mut webhooks, mut distributions) = (Vec::new(), Vec::new());
        for send_out in send_outs {
            let ids = match &send_out.source_id {
                SourceId::Webhook(id) => (&mut webhooks, id.as_str()),
                SourceId::Distribution(id) => (&mut distributions, id.as_str()),
                SourceId::UnsavedWebhook | SourceId::Operational(_) => continue,
            };
            if !ids.0.contains(&ids.1) {
                ids.0.push(ids.1);
            }
        }
        let mut sets = PublicHeaderSets::default();
        let mut conn = self.reader().await?;
        marked(&mut *conn, project, &webhooks, &distributions, &mut sets).await?;
        Ok(sets)
    }

    async fn send_out_histogram(
        &self,
        project: &ProjectId,
        since: Timestamp,
        bucket: Duration,
    ) -> StoreResult<Vec<StatusBucket>> {
        let mut tx = self.snapshot().await?;
        ensure_project(&mut *tx, project).await?;
        let bucket_ms = i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(1);
        // Integer division in both dialects: created_at is never negative, so this floors.
        let found = query(
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
                let count: i64 = row.get("n")?;
                Ok(StatusBucket {
                    bucket_start: Timestamp::from_millis(row.get("bucket_start")?),
                    status: status(&row.get::<String>("status")?)?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn last_status_by_source(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Vec<(String, SendOutStatus)>> {
        let mut tx = self.snapshot().await?;
        ensure_project(&mut *tx, project).await?;
        let found = query(
            "SELECT id, status FROM (SELECT w.id AS id, (SELECT s.status FROM send_outs s \
                 WHERE s.project_id = w.project_id AND s.source_id = w.id \
                 ORDER BY s.id DESC LIMIT 1) AS status \
             FROM webhooks w WHERE w.project_id = $1) AS last \
             WHERE status IS NOT NULL ORDER BY id",
        )
        .bind(project.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        found
            .iter()
            .map(|row| Ok((row.get("id")?, status(&row.get::<String>("status")?)?)))
            .collect()
    }

    /// Deletes, in chunks, finished send outs created before `before` (their attempts go with
    /// them), then events received before `before` that no send out refers to any more, then
    /// idempotency keys past their expiry. Returns how many send outs were deleted. A send out leased for a manual retry is kept,
    /// and rows another node is deleting (locked) are left for the next pass rather than
    /// waited for. Both passes walk an index of their own (`send_outs_finished`,
    /// `events_by_received`); `next_attempt_at IS NULL` is what the first one is partial on
    /// (it holds for exactly the finished send outs).
    async fn prune(&self, before: Timestamp) -> StoreResult<u64> {
        let (key, skip_locked) = (B::ROW_KEY, B::SKIP_LOCKED);
        let send_outs_sql = format!(
            "DELETE FROM send_outs WHERE {key} IN (SELECT {key} FROM send_outs \
             WHERE next_attempt_at IS NULL AND created_at < $1 \
             AND status IN ('SUCCEEDED', 'FAILED') \
             AND (lease_until IS NULL OR lease_until <= $2) LIMIT $3{skip_locked})"
        );
        let events_sql = format!(
            "DELETE FROM events WHERE {key} IN (SELECT e.{key} FROM events e \
             WHERE e.received_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM send_outs s WHERE s.event_id = e.id) \
             LIMIT $2{skip_locked})"
        );
        let now = Timestamp::now().as_millis();
        let mut send_outs = 0;
        loop {
            let deleted = query(send_outs_sql.as_str())
                .bind(before.as_millis())
                .bind(now)
                .bind(PRUNE_CHUNK)
                .execute(&mut *self.writer().await?)
                .await?;
            send_outs += deleted;
            if deleted < PRUNE_CHUNK as u64 {
                break;
            }
        }
        loop {
            let deleted = query(events_sql.as_str())
                .bind(before.as_millis())
                .bind(PRUNE_CHUNK)
                .execute(&mut *self.writer().await?)
                .await?;
            if deleted < PRUNE_CHUNK as u64 {
                break;
            }
        }
        // Endpoint health: minute rows past the longest window shown (whatever `before`),
        // and the running state of targets with no attempt within the retention.
        query("DELETE FROM target_minutes WHERE minute < $1")
            .bind(now - crate::health::KEPT.as_millis() as i64)
            .execute(&mut *self.writer().await?)
            .await?;
        query("DELETE FROM target_health WHERE last_attempt_at < $1")
            .bind(before.as_millis())
            .execute(&mut *self.writer().await?)
            .await?;
        // Notices past retention, but never a mail or an operational event still waiting in
        // the outbox.
        query(
            "DELETE FROM notices WHERE created_at < $1 \
             AND (mail_state IS NULL OR mail_state <> 'pending') \
             AND (operational_state IS NULL OR operational_state <> 'pending')",
        )
        .bind(before.as_millis())
        .execute(&mut *self.writer().await?)
        .await?;
        // Idempotency keys past their time (`idempotency_keys_by_expiry`), whatever `before`.
        let keys_sql = format!(
            "DELETE FROM idempotency_keys WHERE (project_id, scope, idempotency_key) IN \
             (SELECT project_id, scope, idempotency_key FROM idempotency_keys \
             WHERE expires_at <= $1 LIMIT $2{skip_locked})"
        );
        loop {
            let deleted = query(keys_sql.as_str())
                .bind(now)
                .bind(PRUNE_CHUNK)
                .execute(&mut *self.writer().await?)
                .await?;
            if deleted < PRUNE_CHUNK as u64 {
                break;
            }
        }
        Ok(send_outs)
    }
}
