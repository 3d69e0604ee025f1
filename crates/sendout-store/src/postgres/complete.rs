//! Writing attempts back: each completion records its attempt (if one was made), sets the send
//! out's next state and ends its lease, a whole batch in one transaction; a given-up send out
//! may disable its webhook or pause its distribution in the same transaction, and every
//! attempt is added to its target's health figures there too (`health.rs`).
//!
//! **Attempts are numbered by the store**, from the count the row has when the completion is
//! written: the `UPDATE … RETURNING` that increments `attempts` (only for a completion with an
//! attempt) gives the number its attempt row gets, so two nodes completing the same send out
//! (a lease that ran out) queue on the row lock and number 1, 2 instead of colliding. Rows are
//! locked in id order first, so two batches never wait on each other in a cycle.
//!
//! **Only the current lease decides.** A completion names the lease it was made under
//! ([`Completion::lease`]); if the row's lease is another one (the first worker's ran out and
//! a second claimed the send out), its attempt is recorded and counted, but status, schedule,
//! failure reason and lease stay the newer holder's, and the target is disabled only for a
//! send out that did end `FAILED`.

use std::collections::{HashMap, HashSet};

use sendout_core::ids::SendOutId;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::health::{self, Rollup, TargetKey};
use crate::model::{Completion, Next, SendOutStatus};
use crate::notices::{self, NoticeKind, Recipients};
use crate::StoreResult;

pub(super) async fn complete(
    store: &PostgresStore,
    completions: Vec<Completion>,
) -> StoreResult<()> {
    if completions.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = completions.iter().map(|c| c.send_out_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = store.pool.begin().await?;
    // The lock also reads each send out's target, for its health figures.
    let targets: HashMap<String, (TargetKey, bool)> = sqlx::query(
        "SELECT id, project_id, source_kind, source_id, channel, is_test FROM send_outs \
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| -> Result<_, sqlx::Error> {
        let target = TargetKey {
            project_id: row.try_get("project_id")?,
            source_kind: row.try_get("source_kind")?,
            source_id: row.try_get("source_id")?,
            channel: row.try_get::<Option<i64>, _>("channel")?.unwrap_or(0),
        };
        Ok((row.try_get("id")?, (target, row.try_get("is_test")?)))
    })
    .collect::<Result<_, _>>()?;
    // An UPDATE touches a row once, so a batch naming a send out twice (two nodes' attempts
    // after a lease ran out) is written in rounds, in order: the later one wins.
    for round in rounds(&completions) {
        let c = CompletionColumns::of(&round);
        sqlx::query(
            "WITH c AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], \
                 $5::int8[], $6::bool[], $7::int8[], $8::int8[], $9::int8[], $10::text[], \
                 $11::text[], $12::bool[], $13::int8[]) AS c(id, status, next_attempt_at, \
                 failure_reason, at, attempted, started_at, duration_ms, response_status, \
                 response_body, error, succeeded, lease)), \
             u AS (UPDATE send_outs s SET \
                 status = CASE WHEN (c.lease IS NULL OR s.lease_until = c.lease) THEN c.status ELSE s.status END, \
                 next_attempt_at = CASE WHEN (c.lease IS NULL OR s.lease_until = c.lease) THEN c.next_attempt_at \
                     ELSE s.next_attempt_at END, \
                 failure_reason = CASE WHEN (c.lease IS NULL OR s.lease_until = c.lease) THEN c.failure_reason \
                     ELSE s.failure_reason END, \
                 attempts = s.attempts + CASE WHEN c.attempted THEN 1 ELSE 0 END, \
                 last_attempt_at = COALESCE(c.started_at, s.last_attempt_at), \
                 lease_until = CASE WHEN (c.lease IS NULL OR s.lease_until = c.lease) THEN NULL ELSE s.lease_until END, \
                 updated_at = c.at \
                 FROM c WHERE s.id = c.id RETURNING s.id, s.attempts) \
             INSERT INTO attempts (send_out_id, number, started_at, duration_ms, \
                 response_status, response_body, error, succeeded) \
             SELECT u.id, u.attempts, c.started_at, c.duration_ms, c.response_status, \
                 c.response_body, c.error, c.succeeded \
             FROM u JOIN c ON c.id = u.id WHERE c.attempted",
        )
        .bind(c.id)
        .bind(c.status)
        .bind(c.next_attempt_at)
        .bind(c.failure_reason)
        .bind(c.at)
        .bind(c.attempted)
        .bind(c.started_at)
        .bind(c.duration_ms)
        .bind(c.response_status)
        .bind(c.response_body)
        .bind(c.error)
        .bind(c.succeeded)
        .bind(c.lease)
        .execute(&mut *tx)
        .await?;
    }
    let mut rollup = Rollup::default();
    for completion in &completions {
        let found = targets.get(completion.send_out_id.as_str());
        if let (Some(attempt), Some((target, is_test))) = (&completion.attempt, found) {
            rollup.add(target.clone(), *is_test, attempt);
        }
    }
    write_health(&mut tx, &rollup).await?;
    for completion in &completions {
        if let Next::Failed {
            reason,
            disable_target: true,
        } = &completion.next
        {
            disable_target(&mut tx, completion, reason).await?;
            if let Some(window) = completion.exhausted_window {
                sqlx::query(notices::EXHAUSTED)
                    .bind(completion.send_out_id.as_str())
                    .bind(completion.at.as_millis())
                    .bind(notices::exhausted_window(completion.at, window))
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Adds a batch's attempts to its targets' health, one row of each table per target (and
/// minute), in key order so that two nodes' batches lock them in one order.
async fn write_health(conn: &mut PgConnection, rollup: &Rollup) -> StoreResult<()> {
    for (target, minute, tally) in rollup.minutes() {
        let statement = bind_target(sqlx::query(health::UPSERT_MINUTE.as_str()), target)
            .bind(minute)
            .bind(i64::try_from(tally.attempts).unwrap_or(i64::MAX))
            .bind(i64::try_from(tally.succeeded).unwrap_or(i64::MAX));
        tally
            .latencies
            .iter()
            .fold(statement, |statement, n| {
                statement.bind(i64::try_from(*n).unwrap_or(i64::MAX))
            })
            .execute(&mut *conn)
            .await?;
    }
    for (target, run) in rollup.runs() {
        bind_target(sqlx::query(health::UPSERT_RUN), target)
            .bind(i64::try_from(run.trailing_failures).unwrap_or(i64::MAX))
            .bind(run.last_attempt_at)
            .bind(run.last_success_at)
            .bind(run.last_failure_at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_target<'q>(statement: PgQuery<'q>, target: &'q TargetKey) -> PgQuery<'q> {
    statement
        .bind(target.project_id.as_str())
        .bind(target.source_kind.as_str())
        .bind(target.source_id.as_str())
        .bind(target.channel)
}

/// Splits completions into rounds in which no send out appears twice, keeping their order.
fn rounds(completions: &[Completion]) -> Vec<Vec<&Completion>> {
    let mut rounds: Vec<(HashSet<&SendOutId>, Vec<&Completion>)> = Vec::new();
    for completion in completions {
        let id = &completion.send_out_id;
        match rounds.iter_mut().find(|(ids, _)| !ids.contains(id)) {
            Some((ids, round)) => {
                ids.insert(id);
                round.push(completion);
            }
            None => rounds.push((HashSet::from([id]), vec![completion])),
        }
    }
    rounds.into_iter().map(|(_, round)| round).collect()
}

/// Completions column by column, each bound as one array parameter.
#[derive(Default)]
struct CompletionColumns<'a> {
    id: Vec<&'a str>,
    status: Vec<&'static str>,
    next_attempt_at: Vec<Option<i64>>,
    failure_reason: Vec<Option<&'a str>>,
    at: Vec<i64>,
    attempted: Vec<bool>,
    started_at: Vec<Option<i64>>,
    duration_ms: Vec<Option<i64>>,
    response_status: Vec<Option<i64>>,
    response_body: Vec<Option<&'a str>>,
    error: Vec<Option<&'a str>>,
    succeeded: Vec<Option<bool>>,
    lease: Vec<Option<i64>>,
}

impl<'a> CompletionColumns<'a> {
    fn of(round: &[&'a Completion]) -> Self {
        let mut c = Self::default();
        for completion in round {
            let (status, next_attempt_at, failure_reason) = match &completion.next {
                Next::Succeeded => (SendOutStatus::Succeeded, None, None),
                Next::RetryAt(at) => (SendOutStatus::Retrying, Some(at.as_millis()), None),
                Next::Failed { reason, .. } => (SendOutStatus::Failed, None, Some(reason.as_str())),
            };
            let attempt = completion.attempt.as_ref();
            c.id.push(completion.send_out_id.as_str());
            c.status.push(status.as_str());
            c.next_attempt_at.push(next_attempt_at);
            c.failure_reason.push(failure_reason);
            c.at.push(completion.at.as_millis());
            c.attempted.push(attempt.is_some());
            c.started_at.push(attempt.map(|a| a.started_at.as_millis()));
            c.duration_ms
                .push(attempt.map(|a| i64::try_from(a.duration_ms).unwrap_or(i64::MAX)));
            c.response_status
                .push(attempt.and_then(|a| a.response_status).map(i64::from));
            c.response_body
                .push(attempt.and_then(|a| a.response_body.as_deref()));
            c.error.push(attempt.and_then(|a| a.error.as_deref()));
            c.succeeded.push(attempt.map(|a| a.succeeded));
            c.lease.push(completion.lease.map(|at| at.as_millis()));
        }
        c
    }
}

/// Turns off the webhook a given-up send out was for, or pauses its distribution, keeping
/// the first reason if it is already off; a target turned off here gets its notice in the
/// same transaction. Only a live distribution is paused: a draft stays a draft.
async fn disable_target(
    conn: &mut PgConnection,
    completion: &Completion,
    reason: &str,
) -> StoreResult<()> {
    let id = completion.send_out_id.as_str();
    let at = completion.at.as_millis();
    let disabled = sqlx::query(
        "UPDATE webhooks SET active = FALSE, disabled_reason = $2, disabled_at = $3, \
         updated_at = $3 \
         WHERE active AND id = (SELECT source_id FROM send_outs \
             WHERE id = $1 AND source_kind = 'webhook' AND status = 'FAILED' \
             AND project_id = webhooks.project_id)",
    )
    .bind(id)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if disabled > 0 {
        record_notice(conn, id, NoticeKind::WebhookDisabled, reason, at).await?;
    }
    let paused = sqlx::query(
        "UPDATE distributions SET status = 'PAUSED', paused_reason = $2, paused_at = $3, \
         updated_at = $3 \
         WHERE status = 'LIVE' AND id = (SELECT source_id FROM send_outs \
             WHERE id = $1 AND source_kind = 'distribution' AND status = 'FAILED' \
             AND project_id = distributions.project_id)",
    )
    .bind(id)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if paused > 0 {
        record_notice(conn, id, NoticeKind::DistributionPaused, reason, at).await?;
    }
    Ok(())
}

/// Records the notice a send out caused, told as its project's settings say.
async fn record_notice(
    conn: &mut PgConnection,
    send_out_id: &str,
    kind: NoticeKind,
    reason: &str,
    at: i64,
) -> StoreResult<()> {
    let settings: Option<String> = sqlx::query_scalar(notices::SETTINGS_OF_SEND_OUT)
        .bind(send_out_id)
        .fetch_one(&mut *conn)
        .await?;
    let to = Recipients::of(settings.as_deref(), kind.target_kind());
    sqlx::query(notices::FOR_SEND_OUT)
        .bind(send_out_id)
        .bind(kind.as_str())
        .bind(reason)
        .bind(at)
        .bind(to.in_app)
        .bind(to.mail_to)
        .bind(None::<String>)
        .execute(conn)
        .await?;
    Ok(())
}
