//! Notices and their mail outbox, for both backends (see `crate::notices` for the model and
//! the delivery guarantee). Claims lease rows `SKIP LOCKED` where other nodes claim at the
//! same time; SQLite's single writer serialises them.

use async_trait::async_trait;
use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;

use super::{ensure_project, query, Backend, Conn};
use crate::model::SendOut;
use crate::model::SourceKind;
use crate::notices::{
    self, MailClaim, MailOutcome, Notice, NoticeKind, PendingOperational, Recipients,
};
use crate::rows::Columns;
use crate::{Notices, StoreResult};

/// Most failing targets warned about in one pass (the next pass takes the rest).
const FAILING_PER_PASS: i64 = 100;

#[async_trait]
impl<B: Backend> Notices for B {
    async fn list_notices(&self, project: &ProjectId, limit: u32) -> StoreResult<Vec<Notice>> {
        let mut conn = self.reader().await?;
        ensure_project(&mut *conn, project).await?;
        query(
            "SELECT * FROM notices WHERE project_id = $1 AND in_app = $2 \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(project.as_str())
        .bind(true)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(notices::notice)
        .collect()
    }

    async fn unread_notices(&self, project: &ProjectId) -> StoreResult<u64> {
        let row = query(
            "SELECT COUNT(*) AS n FROM notices WHERE project_id = $1 AND in_app = $2 \
             AND read_at IS NULL",
        )
        .bind(project.as_str())
        .bind(true)
        .fetch_one(&mut *self.reader().await?)
        .await?;
        let n: i64 = row.get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn mark_notices_read(
        &self,
        project: &ProjectId,
        up_to: i64,
        only: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        query(
            "UPDATE notices SET read_at = $2 WHERE project_id = $1 AND read_at IS NULL \
             AND id <= $3 AND id = COALESCE($4, id) AND in_app = $5",
        )
        .bind(project.as_str())
        .bind(now.as_millis())
        .bind(up_to)
        .bind(only)
        .bind(true)
        .execute(&mut *self.writer().await?)
        .await
    }

    async fn record_failing(&self, min_attempts: u32, now: Timestamp) -> StoreResult<u64> {
        // The oldest open send out of each active target, once it has made `min_attempts`
        // attempts: the incident is keyed by it, so a target is warned once while that send
        // out stays unresolved.
        let candidates = query(
            "SELECT s.id, s.source_kind, p.callout_notifications FROM send_outs s \
             JOIN projects p ON p.id = s.project_id \
             WHERE s.status = 'RETRYING' AND s.attempts >= $1 AND s.is_test = $2 \
             AND NOT EXISTS (SELECT 1 FROM send_outs o WHERE o.project_id = s.project_id \
                 AND o.source_id = s.source_id AND o.status IN ('PENDING', 'RETRYING') \
                 AND o.id < s.id) \
             AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.dedupe_key = 'failing:' || s.id) \
             AND (EXISTS (SELECT 1 FROM webhooks w WHERE w.id = s.source_id AND w.active = $3) \
                 OR EXISTS (SELECT 1 FROM distributions d WHERE d.id = s.source_id \
                     AND d.status = 'LIVE')) \
             ORDER BY s.id LIMIT $4",
        )
        .bind(i64::from(min_attempts))
        .bind(false)
        .bind(true)
        .bind(FAILING_PER_PASS)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let candidates = candidates
            .iter()
            .map(|row| {
                let id: String = row.get("id")?;
                let kind: String = row.get("source_kind")?;
                let settings: Option<String> = row.get("callout_notifications")?;
                Ok((id, kind, settings))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut recorded = 0;
        for (id, kind, settings) in candidates {
            let target = SourceKind::parse(&kind).unwrap_or(SourceKind::Webhook);
            let Some(warning) = NoticeKind::failing(target) else {
                continue;
            };
            let to = Recipients::of(settings.as_deref(), target);
            let dedupe = format!("failing:{id}");
            recorded += query(notices::FOR_SEND_OUT)
                .bind(id.as_str())
                .bind(warning.as_str())
                .bind(None::<&str>)
                .bind(now.as_millis())
                .bind(to.in_app)
                .bind(to.mail_to.as_deref())
                .bind(dedupe.as_str())
                .execute(&mut *self.writer().await?)
                .await?;
        }
        Ok(recorded)
    }

    async fn pending_operational(&self, limit: u32) -> StoreResult<Vec<PendingOperational>> {
        query(
            "SELECT n.*, p.operational_webhook_url FROM notices n \
             JOIN projects p ON p.id = n.project_id \
             WHERE n.operational_state = 'pending' ORDER BY n.id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.reader().await?)
        .await?
        .iter()
        .map(|row| {
            Ok(PendingOperational {
                notice: notices::notice(row)?,
                project_url: row.get("operational_webhook_url")?,
            })
        })
        .collect()
    }

    async fn emit_operational(&self, events: Vec<(i64, Vec<SendOut>)>) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let mut made = 0;
        for (notice, send_outs) in &events {
            // Marking first makes the event once: a node that marks nothing (another did,
            // and made its send outs) makes none.
            let marked = query(
                "UPDATE notices SET operational_state = 'emitted' \
                 WHERE id = $1 AND operational_state = 'pending'",
            )
            .bind(*notice)
            .execute(&mut *tx)
            .await?;
            if marked == 0 {
                continue;
            }
            for s in send_outs {
                insert_operational(&mut *tx, s).await?;
                made += 1;
            }
        }
        if made > 0 {
            self.announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        if made > 0 {
            self.wake_workers();
        }
        Ok(made)
    }

    async fn claim_mails(
        &self,
        now: Timestamp,
        limit: u32,
        lease: std::time::Duration,
    ) -> StoreResult<Vec<MailClaim>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let until = now.plus_millis(lease_ms);
        let sql = format!(
            "UPDATE notices SET mail_lease_until = $1, mail_attempts = mail_attempts + 1 \
             WHERE id IN (SELECT id FROM notices WHERE mail_state = 'pending' \
                 AND mail_next_at <= $2 AND (mail_lease_until IS NULL OR mail_lease_until <= $2) \
                 ORDER BY mail_next_at, id LIMIT $3{}) RETURNING *",
            B::SKIP_LOCKED
        );
        let mut claims: Vec<MailClaim> = query(sql)
            .bind(until.as_millis())
            .bind(now.as_millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.writer().await?)
            .await?
            .iter()
            .map(|row| {
                Ok(MailClaim {
                    notice: notices::notice(row)?,
                    lease_until: until,
                })
            })
            .collect::<StoreResult<_>>()?;
        claims.sort_by_key(|claim| claim.notice.id);
        Ok(claims)
    }

    async fn finish_mail(&self, claim: &MailClaim, outcome: MailOutcome) -> StoreResult<()> {
        // A sent mail is marked sent whoever holds it now: sending it again would be the
        // duplicate. Any other outcome only stands under the lease it was made under.
        let (state, next_at, error, at) = match &outcome {
            MailOutcome::Sent { at } => ("sent", None, None, Some(at.as_millis())),
            MailOutcome::Retry { at, error } => {
                ("pending", Some(at.as_millis()), Some(error), None)
            }
            MailOutcome::Failed { error } => ("failed", None, Some(error), None),
            MailOutcome::Skipped { reason } => ("skipped", None, Some(reason), None),
        };
        let sent = matches!(outcome, MailOutcome::Sent { .. });
        query(
            "UPDATE notices SET mail_state = $3, mail_next_at = COALESCE($4, mail_next_at), \
             mail_error = $5, mail_sent_at = $6, mail_lease_until = NULL \
             WHERE id = $1 AND mail_state = 'pending' AND ($7 OR mail_lease_until = $2)",
        )
        .bind(claim.notice.id)
        .bind(claim.lease_until.as_millis())
        .bind(state)
        .bind(next_at)
        .bind(error.map(String::as_str))
        .bind(at)
        .bind(sent)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }
}

/// Stores an operational event's send out, due now, with its request (never rebuilt).
async fn insert_operational<C: Conn + ?Sized>(conn: &mut C, s: &SendOut) -> StoreResult<()> {
    query(
        "INSERT INTO send_outs (id, project_id, event_id, envelope_type, event_type, \
         source_kind, source_id, channel, target_url, status, attempts, next_attempt_at, \
         is_test, group_id, event_created_at, created_at, updated_at) \
         VALUES ($1, $2, NULL, $3, $4, $5, $6, NULL, $7, $8, 0, $9, $10, NULL, $11, $12, $12)",
    )
    .bind(s.id.as_str())
    .bind(s.project_id.as_str())
    .bind(&s.envelope_type)
    .bind(&s.event_type)
    .bind(s.source_id.kind().as_str())
    .bind(s.source_id.as_str())
    .bind(&s.target_url)
    .bind(s.status.as_str())
    .bind(s.next_attempt_at.map(Timestamp::as_millis))
    .bind(s.is_test)
    .bind(s.event_created_at.map(Timestamp::as_millis))
    .bind(s.created_at.as_millis())
    .execute(&mut *conn)
    .await?;
    let headers = crate::rows::to_json(&s.headers)?;
    query("INSERT INTO send_out_bodies (send_out_id, headers, body) VALUES ($1, $2, $3)")
        .bind(s.id.as_str())
        .bind(headers.as_str())
        .bind(&s.body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that a target sendout had turned off was turned on again, in the caller's
/// transaction, with the recipients its project's settings name now.
pub(crate) async fn record_recovery<C: Conn + ?Sized>(
    conn: &mut C,
    project: &ProjectId,
    kind: NoticeKind,
    target_id: &str,
    target_url: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    let row = query("SELECT callout_notifications FROM projects WHERE id = $1")
        .bind(project.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let settings: Option<String> = row.get("callout_notifications")?;
    let to = Recipients::of(settings.as_deref(), kind.target_kind());
    query(notices::FOR_TARGET)
        .bind(project.as_str())
        .bind(kind.as_str())
        .bind(kind.target_kind().as_str())
        .bind(target_id)
        .bind(target_url)
        .bind(now.as_millis())
        .bind(to.in_app)
        .bind(to.mail_to.as_deref())
        .execute(conn)
        .await?;
    Ok(())
}
