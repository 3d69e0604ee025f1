//! Distributions, for both backends.
//!
//! A distribution is one row: the user's configuration as a JSON document (`spec`), and the
//! columns queries need (`trigger_event`, `status`, the pause bookkeeping). Every statement
//! filters on the project, so another project's id reads as missing.
//!
//! Status rule (the same in every method that sets it): moving to `PAUSED` records the time
//! and the reason given (none when a person paused it); staying `PAUSED` keeps the first ones;
//! `LIVE` and `DRAFT` clear both. Each change is one `UPDATE` whose right-hand sides read the
//! row as it was, so two nodes pausing at once keep the first reason. (The pause of a given-up
//! send out's distribution is written with its outcome, in each backend's completion.)

use async_trait::async_trait;
use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::ids::{DistributionId, ProjectId};
use sendout_core::time::Timestamp;

use super::{ensure_project, query, record_recovery, within_quota, Backend, Conn};
use crate::model::Distribution;
use crate::notices::NoticeKind;
use crate::rows::{self, to_json, Columns};
use crate::{Distributions, StoreResult};

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

#[async_trait]
impl<B: Backend> Distributions for B {
    async fn create_distribution_within(
        &self,
        project: &ProjectId,
        spec: DistributionSpec,
        status: DistributionStatus,
        quota: usize,
    ) -> StoreResult<Distribution> {
        let mut tx = self.begin().await?;
        within_quota::<B, _>(&mut *tx, project, ("distributions", quota)).await?;
        let now = Timestamp::now().as_millis();
        let paused_at = (status == DistributionStatus::Paused).then_some(now);
        let spec_json = to_json(&spec)?;
        let row = query(
            "INSERT INTO distributions (id, project_id, trigger_event, status, spec, paused_at, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *",
        )
        .bind(DistributionId::new().as_str())
        .bind(project.as_str())
        .bind(spec.trigger().event())
        .bind(status.as_str())
        .bind(&spec_json)
        .bind(paused_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let created = rows::distribution(&row)?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_distributions(&self, project: &ProjectId) -> StoreResult<Vec<Distribution>> {
        let mut conn = self.reader().await?;
        ensure_project(&mut *conn, project).await?;
        query("SELECT * FROM distributions WHERE project_id = $1 ORDER BY id")
            .bind(project.as_str())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(rows::distribution)
            .collect()
    }

    async fn get_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
    ) -> StoreResult<Distribution> {
        let row = query("SELECT * FROM distributions WHERE id = $1 AND project_id = $2")
            .bind(id.as_str())
            .bind(project.as_str())
            .fetch_one(&mut *self.reader().await?)
            .await?;
        rows::distribution(&row)
    }

    async fn update_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
        spec: DistributionSpec,
        status: Option<DistributionStatus>,
    ) -> StoreResult<Distribution> {
        // Without a new status the current one is "set again", which changes nothing.
        let sql = format!(
            "UPDATE distributions SET trigger_event = $3, spec = $4, updated_at = $7, {} \
             WHERE id = $1 AND project_id = $2 RETURNING *",
            set_status("COALESCE($5, status)", "$6", "$7")
        );
        let spec_json = to_json(&spec)?;
        let mut tx = self.begin().await?;
        let auto_paused = auto_paused::<B, _>(&mut *tx, project, id).await?;
        let row = query(sql)
            .bind(id.as_str())
            .bind(project.as_str())
            .bind(spec.trigger().event())
            .bind(&spec_json)
            .bind(status.map(DistributionStatus::as_str))
            .bind(None::<&str>)
            .bind(Timestamp::now().as_millis())
            .fetch_one(&mut *tx)
            .await?;
        let updated = rows::distribution(&row)?;
        noticed_if_live(&mut *tx, auto_paused, &updated).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_distribution(
        &self,
        project: &ProjectId,
        id: &DistributionId,
    ) -> StoreResult<()> {
        // Its send outs stay in the audit log; open ones end FAILED (their target is gone).
        query("DELETE FROM distributions WHERE id = $1 AND project_id = $2")
            .bind(id.as_str())
            .bind(project.as_str())
            .execute_found(&mut *self.writer().await?)
            .await
    }

    async fn set_distribution_status(
        &self,
        project: &ProjectId,
        id: &DistributionId,
        status: DistributionStatus,
        reason: Option<String>,
    ) -> StoreResult<Distribution> {
        let sql = format!(
            "UPDATE distributions SET updated_at = $5, {} WHERE id = $1 AND project_id = $2 \
             RETURNING *",
            set_status("$3", "$4", "$5")
        );
        let mut tx = self.begin().await?;
        let auto_paused = auto_paused::<B, _>(&mut *tx, project, id).await?;
        let row = query(sql)
            .bind(id.as_str())
            .bind(project.as_str())
            .bind(status.as_str())
            .bind(reason.as_deref())
            .bind(Timestamp::now().as_millis())
            .fetch_one(&mut *tx)
            .await?;
        let updated = rows::distribution(&row)?;
        noticed_if_live(&mut *tx, auto_paused, &updated).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

/// Whether sendout paused the distribution (it is `PAUSED` with a reason), locking its row
/// until the caller's transaction ends.
async fn auto_paused<B: Backend, C: Conn + ?Sized>(
    conn: &mut C,
    project: &ProjectId,
    id: &DistributionId,
) -> StoreResult<bool> {
    let row = query(format!(
        "SELECT paused_reason FROM distributions WHERE id = $1 AND project_id = $2{}",
        B::FOR_UPDATE
    ))
    .bind(id.as_str())
    .bind(project.as_str())
    .fetch_one(conn)
    .await?;
    let reason: Option<String> = row.get("paused_reason")?;
    Ok(reason.is_some())
}

/// Records a recovery notice when a distribution sendout had paused is live again.
async fn noticed_if_live<C: Conn + ?Sized>(
    conn: &mut C,
    auto_paused: bool,
    updated: &Distribution,
) -> StoreResult<()> {
    if auto_paused && updated.status == DistributionStatus::Live {
        record_recovery(
            conn,
            &updated.project_id,
            NoticeKind::DistributionLive,
            updated.id.as_str(),
            None,
            updated.updated_at,
        )
        .await?;
    }
    Ok(())
}

/// The live distributions of a project triggered by one of `event_types` (fan-out reads them
/// before or inside the ingest transaction, for the types of the events it writes).
///
/// A row that no longer reads (a spec that does not parse, after a hand edit or a downgrade)
/// is skipped and logged with its id: one broken distribution must not refuse every event of
/// its project. It sends nothing until it is saved again or deleted.
pub(crate) async fn live<C: Conn + ?Sized>(
    conn: &mut C,
    project: &ProjectId,
    event_types: &[&str],
) -> StoreResult<Vec<Distribution>> {
    if event_types.is_empty() {
        return Ok(Vec::new());
    }
    let found = query(format!(
        "SELECT * FROM distributions WHERE project_id = $1 AND status = 'LIVE' \
         AND trigger_event {} ORDER BY id",
        C::one_of("$2")
    ))
    .bind(project.as_str())
    .bind(event_types)
    .fetch_all(conn)
    .await?;
    Ok(found
        .iter()
        .filter_map(rows::readable_distribution)
        .collect())
}
