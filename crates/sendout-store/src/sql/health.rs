//! Reading endpoint health (see `health.rs`) for both backends: a target's figures from its
//! minute rows of the last day (at most 1,440 per channel) and its running state; a
//! project's summaries from the same rows, summed by the database into two rows per target
//! (the last hour, and the rest of the day).

use std::collections::BTreeMap;

use async_trait::async_trait;
use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;

use super::{ensure_project, query, Backend};
use crate::health::{bucket_columns, window_start, HourCount, Tally, TargetHealth, DAY, HOUR};
use crate::model::SourceKind;
use crate::rows::{corrupt, Columns};
use crate::{Health, StoreResult};

const HOUR_MS: i64 = 3_600_000;

/// The tally of a row: `attempts`, `succeeded` and the bucket columns.
fn tally(row: &impl Columns) -> StoreResult<Tally> {
    let mut tally = Tally {
        attempts: count(row.get("attempts")?),
        succeeded: count(row.get("succeeded")?),
        ..Tally::default()
    };
    for (bucket, column) in bucket_columns().iter().enumerate() {
        tally.latencies[bucket] = count(row.get(column)?);
    }
    Ok(tally)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn channel_of(kind: SourceKind, channel: i64) -> StoreResult<Option<u32>> {
    match kind {
        SourceKind::Webhook | SourceKind::Operational => Ok(None),
        SourceKind::Distribution => u32::try_from(channel)
            .map(Some)
            .map_err(|_| corrupt("health channel", channel)),
    }
}

fn kind_of(text: &str) -> StoreResult<SourceKind> {
    SourceKind::parse(text).ok_or_else(|| corrupt("health source kind", text))
}

/// Sets the running state of `health` from a `target_health` row.
fn apply_state(health: &mut TargetHealth, row: &impl Columns) -> StoreResult<()> {
    let at = |column: &str| -> StoreResult<Option<Timestamp>> {
        Ok(row.get::<Option<i64>>(column)?.map(Timestamp::from_millis))
    };
    health.consecutive_failures = count(row.get("consecutive_failures")?);
    health.last_attempt_at = at("last_attempt_at")?;
    health.last_success_at = at("last_success_at")?;
    health.last_failure_at = at("last_failure_at")?;
    Ok(())
}

const STATE_COLUMNS: &str =
    "source_kind, source_id, channel, consecutive_failures, last_attempt_at, last_success_at, \
     last_failure_at";

#[async_trait]
impl<B: Backend> Health for B {
    async fn target_health(
        &self,
        project: &ProjectId,
        kind: SourceKind,
        source_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<TargetHealth>> {
        let mut tx = self.snapshot().await?;
        ensure_project(&mut *tx, project).await?;
        let day_start = window_start(now, DAY);
        let hour_start = window_start(now, HOUR);
        let minutes = query(format!(
            "SELECT channel, minute, attempts, succeeded, {} FROM target_minutes \
             WHERE project_id = $1 AND source_kind = $2 AND source_id = $3 AND minute >= $4 \
             ORDER BY channel, minute",
            bucket_columns().join(", ")
        ))
        .bind(project.as_str())
        .bind(kind.as_str())
        .bind(source_id)
        .bind(day_start)
        .fetch_all(&mut *tx)
        .await?;
        let states = query(format!(
            "SELECT {STATE_COLUMNS} FROM target_health \
             WHERE project_id = $1 AND source_kind = $2 AND source_id = $3"
        ))
        .bind(project.as_str())
        .bind(kind.as_str())
        .bind(source_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut by_channel: BTreeMap<i64, TargetHealth> = BTreeMap::new();
        fn entry<'m>(
            by_channel: &'m mut BTreeMap<i64, TargetHealth>,
            (kind, source_id): (SourceKind, &str),
            channel: i64,
        ) -> StoreResult<&'m mut TargetHealth> {
            let shown = channel_of(kind, channel)?;
            Ok(by_channel
                .entry(channel)
                .or_insert_with(|| TargetHealth::empty(kind, source_id.to_owned(), shown)))
        }
        let target = (kind, source_id);
        for row in &minutes {
            let minute: i64 = row.get("minute")?;
            let tally = tally(row)?;
            let health = entry(&mut by_channel, target, row.get("channel")?)?;
            health.last_day.add(&tally);
            if minute >= hour_start {
                health.last_hour.add(&tally);
            }
            let hour_start = minute.div_euclid(HOUR_MS) * HOUR_MS;
            match health.hours.last_mut() {
                Some(last) if last.hour_start.as_millis() == hour_start => {
                    last.attempts += tally.attempts;
                    last.succeeded += tally.succeeded;
                }
                _ => health.hours.push(HourCount {
                    hour_start: Timestamp::from_millis(hour_start),
                    attempts: tally.attempts,
                    succeeded: tally.succeeded,
                }),
            }
        }
        for row in &states {
            apply_state(entry(&mut by_channel, target, row.get("channel")?)?, row)?;
        }
        Ok(by_channel.into_values().collect())
    }

    async fn project_health(
        &self,
        project: &ProjectId,
        now: Timestamp,
    ) -> StoreResult<Vec<TargetHealth>> {
        let mut tx = self.snapshot().await?;
        ensure_project(&mut *tx, project).await?;
        let sums: Vec<String> = bucket_columns()
            .iter()
            .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
            .collect();
        let minutes = query(format!(
            "SELECT source_kind, source_id, channel, \
             CAST(CASE WHEN minute >= $3 THEN 1 ELSE 0 END AS BIGINT) AS recent, \
             CAST(SUM(attempts) AS BIGINT) AS attempts, \
             CAST(SUM(succeeded) AS BIGINT) AS succeeded, {} \
             FROM target_minutes WHERE project_id = $1 AND minute >= $2 \
             GROUP BY source_kind, source_id, channel, recent",
            sums.join(", ")
        ))
        .bind(project.as_str())
        .bind(window_start(now, DAY))
        .bind(window_start(now, HOUR))
        .fetch_all(&mut *tx)
        .await?;
        let states = query(format!(
            "SELECT {STATE_COLUMNS} FROM target_health WHERE project_id = $1"
        ))
        .bind(project.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        type Key = (String, String, i64);
        let mut targets: BTreeMap<Key, TargetHealth> = BTreeMap::new();
        fn key(row: &impl Columns) -> StoreResult<Key> {
            Ok((
                row.get("source_kind")?,
                row.get("source_id")?,
                row.get("channel")?,
            ))
        }
        fn target(
            targets: &mut BTreeMap<Key, TargetHealth>,
            key: Key,
        ) -> StoreResult<&mut TargetHealth> {
            let kind = kind_of(&key.0)?;
            let channel = channel_of(kind, key.2)?;
            let id = key.1.clone();
            Ok(targets
                .entry(key)
                .or_insert_with(|| TargetHealth::empty(kind, id, channel)))
        }
        for row in &minutes {
            let tally = tally(row)?;
            let recent: i64 = row.get("recent")?;
            let health = target(&mut targets, key(row)?)?;
            health.last_day.add(&tally);
            if recent == 1 {
                health.last_hour.add(&tally);
            }
        }
        for row in &states {
            apply_state(target(&mut targets, key(row)?)?, row)?;
        }
        Ok(targets.into_values().collect())
    }
}
