//! Ingest: storing events with every send out they fan out to, committed before the caller
//! hears back (PRODUCT §4 "durable before acknowledged").
//!
//! Calls without idempotency keys are written in groups (`group.rs`); this module writes one
//! call in a transaction of its own: keyed calls, and the calls of a group that failed.
//!
//! One call is one transaction: the project's targets are read, [`fanout::plan_all`] decides
//! the send outs (or refuses the call, which then writes nothing), and the events and send outs go in with one `INSERT … SELECT FROM UNNEST(…)`
//! per table (one array parameter per column, so a batch of any size is two statements). The
//! transaction also queues a `NOTIFY` on the work channel, which PostgreSQL delivers to every
//! listening node only at commit, so no node is woken for work it cannot see yet.
//!
//! Targets are read without locks (`READ COMMITTED`): a webhook switched off by a
//! transaction that commits while an ingest runs may still get that ingest's send outs, which
//! then end `FAILED` as "inactive" when their attempt comes, as any send out whose target is
//! switched off before delivery does.
//!
//! **Handing fresh send outs to the worker.** When this process's worker has asked for it
//! ([`crate::Queue::hand_off`]), as many of the call's send outs as its inbox has room for are
//! written leased to it, and their claims, built from what was just planned, go to the inbox
//! after the commit (see `handoff.rs`): this node's worker gets its own node's fresh work
//! without a claim. The other nodes only ever see those send outs leased; they are notified
//! only when some were left due.
//!
//! **Keys.** An ingest with idempotency keys ([`crate::Queue::ingest_keyed`]) claims them in
//! its transaction once fan-out is planned and before anything is written: one statement for
//! the events' own keys (all of them, in key order, so that two ingests sharing keys take
//! their row locks in one order and cannot deadlock) and one for the request's (see
//! `idempotency.rs`). A key another transaction is claiming makes this one wait on the row
//! until it ends: if it committed, this one replays its answer (or is refused), rolling back;
//! if it rolled back, this one claims the key. An ingest without keys runs no statement more.

use std::sync::Arc;

use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;

use super::{PostgresStore, WORK_CHANNEL};
use crate::fanout::{self, Limits, Targets};
use crate::handoff::{sendable_first, Reserved};
use crate::idempotency::{self, Decision, Stored};
use crate::model::{
    IngestKeys, IngestOutcome, KeyedIngest, KeyedOutcome, NewEvent, SendOut, SigningSecrets,
};
use crate::rows::{request_stored, to_json};
use crate::sql::{self, project_webhooks};
use crate::{StoreError, StoreResult};

/// What an ingest transaction (one call's or a group's) needs of the store: its pool, the
/// worker's inbox, and the workers' wake-up. Not the store itself, whose last clone must be
/// able to end its tasks.
#[derive(Clone)]
pub(super) struct Writer {
    pub(super) pool: PgPool,
    pub(super) handoff: crate::handoff::Slot,
    pub(super) work: Arc<Notify>,
}

pub(super) async fn ingest(
    store: &PostgresStore,
    project: &ProjectId,
    events: Vec<NewEvent>,
    limits: Limits,
) -> StoreResult<Vec<IngestOutcome>> {
    store.ingest.ingest(project, events, limits).await
}

pub(super) async fn ingest_keyed(
    store: &PostgresStore,
    project: &ProjectId,
    keyed: KeyedIngest,
    limits: Limits,
) -> StoreResult<KeyedOutcome> {
    let writer = store.writer();
    match write_alone(&writer, project, &keyed.events, Some(&keyed.keys), &limits).await? {
        (outcomes, Some(decision)) => Ok(decision.outcome(outcomes)),
        (_, None) => Err(StoreError::Database(
            "a keyed ingest was not decided".to_owned(),
        )),
    }
}

/// One ingest's transaction; with `keys`, also what they decided (an ingest they refuse or
/// replay writes nothing).
pub(super) async fn write_alone(
    store: &Writer,
    project: &ProjectId,
    events: &[NewEvent],
    keys: Option<&IngestKeys>,
    limits: &Limits,
) -> StoreResult<(Vec<IngestOutcome>, Option<Decision>)> {
    let mut tx = store.pool.begin().await?;
    let now = Timestamp::now();
    let (secrets, webhooks) = project_webhooks(&mut *tx, project, now)
        .await?
        .ok_or(StoreError::NotFound)?;
    let distributions = sql::live(&mut *tx, project, &fanout::trigger_types(events)).await?;
    let targets = Targets {
        webhooks: &webhooks,
        distributions: &distributions,
    };
    // Refused before anything is written; dropping the transaction rolls it back.
    let planned = fanout::plan_all(project, events, targets, now, limits)?;
    let outcomes: Vec<IngestOutcome> = events
        .iter()
        .zip(&planned)
        .map(|(event, send_outs)| IngestOutcome {
            event_id: event.id.clone(),
            send_outs: u32::try_from(send_outs.len()).unwrap_or(u32::MAX),
        })
        .collect();
    let decision = match keys {
        None => None,
        Some(keys) => {
            let parts = idempotency::parts(keys, events, &outcomes);
            let decision = claim_keys(&mut tx, project, keys, parts, now).await?;
            if !decision.writes() {
                tx.rollback().await?;
                return Ok((outcomes, Some(decision)));
            }
            Some(decision)
        }
    };
    let keep = |i: usize| match &decision {
        Some(Decision::Write { keep, .. }) => keep[i],
        _ => true,
    };
    let rows: Vec<(&NewEvent, Option<&str>)> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, event)| (event, keys.and_then(|k| k.event_key(i))))
        .collect();
    let send_outs: Vec<SendOut> = planned
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .flat_map(|(_, send_outs)| send_outs)
        .collect();
    commit_rows(store, tx, &[(project, rows)], send_outs, now, |_| {
        secrets.clone()
    })
    .await?;
    Ok((outcomes, decision))
}

/// A project's events to insert, each with the key it was ingested with, if any.
pub(super) type ProjectRows<'a> = (&'a ProjectId, Vec<(&'a NewEvent, Option<&'a str>)>);

/// Writes the planned rows (events by project, and their send outs) and commits: every
/// sendable send out is fresh and due now, and the first of them, as far as this node's
/// worker has room, are written leased to it and handed over after the commit (`secrets`
/// signs their claims); if any are left due, the nodes are told.
pub(super) async fn commit_rows(
    store: &Writer,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    rows: &[ProjectRows<'_>],
    mut send_outs: Vec<SendOut>,
    now: Timestamp,
    secrets: impl Fn(&SendOut) -> SigningSecrets,
) -> StoreResult<()> {
    let sendable = sendable_first(&mut send_outs);
    let handoff = store.handoff.current();
    let reserved = handoff
        .as_ref()
        .and_then(|h| store.handoff.reserve(h, sendable, now));
    let handed = reserved.as_ref().map_or(0, Reserved::len);
    for (project, rows) in rows {
        insert_events(&mut tx, project, rows, now).await?;
    }
    let lease_until = reserved.as_ref().map(|r| r.lease_until);
    insert_send_outs(&mut tx, &send_outs[..handed], lease_until).await?;
    insert_send_outs(&mut tx, &send_outs[handed..], None).await?;
    let left_due = sendable > handed;
    if left_due {
        notify_work(&mut tx).await?;
    }
    tx.commit().await?;
    if let Some(reserved) = reserved {
        send_outs.truncate(handed);
        reserved.send(send_outs, secrets);
    }
    if left_due {
        sql::wake(&store.work);
    }
    Ok(())
}

/// The event keys, then the request's (see `idempotency.rs` and the module docs).
async fn claim_keys(
    conn: &mut PgConnection,
    project: &ProjectId,
    keys: &IngestKeys,
    parts: Vec<String>,
    now: Timestamp,
) -> StoreResult<Decision> {
    let insert = |values: &str| {
        format!(
            "INSERT INTO idempotency_keys (project_id, scope, idempotency_key, fingerprint, \
             status, response, created_at, expires_at) {values} {}",
            idempotency::CLAIM
        )
    };
    let mut claims = idempotency::event_claims(keys, &parts);
    let mut held = Vec::new();
    if !claims.is_empty() {
        claims.sort_by_key(|c| c.1);
        let claimed: Vec<String> = sqlx::query_scalar(&insert(
            "SELECT $1, $2, k.key, k.fingerprint, $3, k.response, $4, $5 \
             FROM UNNEST($6::text[], $7::text[], $8::text[]) AS k(key, fingerprint, response) \
             ORDER BY k.key",
        ))
        .bind(project.as_str())
        .bind(idempotency::EVENT)
        .bind(idempotency::ACCEPTED)
        .bind(now.as_millis())
        .bind(keys.expires_at.as_millis())
        .bind(claims.iter().map(|c| c.1).collect::<Vec<_>>())
        .bind(claims.iter().map(|c| c.2).collect::<Vec<_>>())
        .bind(claims.iter().map(|c| c.3).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
        let taken: Vec<&str> = claims
            .iter()
            .map(|c| c.1)
            .filter(|key| !claimed.iter().any(|c| c == key))
            .collect();
        if !taken.is_empty() {
            held = held_by_others(&mut *conn, project, idempotency::EVENT, &taken).await?;
        }
    }
    let (keep, parts) = match idempotency::settle_events(keys, parts, &held) {
        Ok(settled) => settled,
        Err(reused) => return Ok(reused),
    };
    let body = idempotency::body(keys, &parts);
    let held = match &keys.request_key {
        None => None,
        Some(key) => {
            let claimed: Option<String> =
                sqlx::query_scalar(&insert("VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(project.as_str())
                    .bind(idempotency::REQUEST)
                    .bind(&key.key)
                    .bind(&key.fingerprint)
                    .bind(idempotency::ACCEPTED)
                    .bind(&body)
                    .bind(now.as_millis())
                    .bind(keys.expires_at.as_millis())
                    .fetch_optional(&mut *conn)
                    .await?;
            match claimed {
                Some(_) => None,
                None => held_by_others(conn, project, idempotency::REQUEST, &[&key.key])
                    .await?
                    .pop(),
            }
        }
    };
    Ok(idempotency::settle_request(keys, keep, body, held))
}

/// The rows of keys of `scope` that earlier ingests hold.
async fn held_by_others(
    conn: &mut PgConnection,
    project: &ProjectId,
    scope: &str,
    keys: &[&str],
) -> StoreResult<Vec<Stored>> {
    sqlx::query(&format!(
        "SELECT {} FROM idempotency_keys \
         WHERE project_id = $1 AND scope = $2 AND idempotency_key = ANY($3)",
        idempotency::STORED_COLUMNS
    ))
    .bind(project.as_str())
    .bind(scope)
    .bind(keys)
    .fetch_all(conn)
    .await?
    .iter()
    .map(idempotency::stored)
    .collect()
}

/// Queues a notification on the work channel; PostgreSQL sends it when the transaction
/// commits (and drops it if the transaction rolls back).
pub(super) async fn notify_work(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WORK_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts events, each with the key it was ingested with, if any.
pub(super) async fn insert_events(
    conn: &mut PgConnection,
    project: &ProjectId,
    events: &[(&NewEvent, Option<&str>)],
    now: Timestamp,
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    // `data` and `event_source` go in as text, so they are stored byte for byte.
    let ids: Vec<&str> = events.iter().map(|(e, _)| e.id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|(e, _)| e.event_type.as_str()).collect();
    let data: Vec<&str> = events.iter().map(|(e, _)| e.data.get()).collect();
    let entities: Vec<Option<&str>> = events.iter().map(|(e, _)| e.entity_id.as_deref()).collect();
    let groups: Vec<&str> = events.iter().map(|(e, _)| e.group_id.as_str()).collect();
    let sources: Vec<&str> = events.iter().map(|(e, _)| e.event_source.get()).collect();
    let created: Vec<i64> = events
        .iter()
        .map(|(e, _)| e.created_at.as_millis())
        .collect();
    // UNNEST pads a shorter array with NULLs: no keys, no array to send.
    let mut keys: Vec<Option<&str>> = events.iter().map(|(_, key)| *key).collect();
    if keys.iter().all(Option::is_none) {
        keys.clear();
    }
    sqlx::query(
        "INSERT INTO events (id, project_id, event_type, data, entity_id, group_id, \
         event_source, created_at, received_at, idempotency_key) \
         SELECT e.id, $1, e.event_type, e.data, e.entity_id, e.group_id, e.event_source, \
         e.created_at, $2, e.idempotency_key \
         FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
         $9::int8[], $10::text[]) \
         AS e(id, event_type, data, entity_id, group_id, event_source, created_at, \
         idempotency_key)",
    )
    .bind(project.as_str())
    .bind(now.as_millis())
    .bind(ids)
    .bind(types)
    .bind(data)
    .bind(entities)
    .bind(groups)
    .bind(sources)
    .bind(created)
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts send outs as given, leased until `lease_until` if set: the queue rows, then their
/// requests, kept apart as in the embedded store (and not stored at all where they can be
/// made again from the event, see [`request_stored`]).
pub(super) async fn insert_send_outs(
    conn: &mut PgConnection,
    send_outs: &[SendOut],
    lease_until: Option<Timestamp>,
) -> StoreResult<()> {
    if send_outs.is_empty() {
        return Ok(());
    }
    let lease = lease_until.map(Timestamp::as_millis);
    let mut c = Columns::default();
    for s in send_outs {
        // A leased open send out is not due before its lease ends (see `queue`).
        let next_attempt_at = match (s.next_attempt_at, lease) {
            (Some(next), Some(lease)) => Some(next.as_millis().max(lease)),
            (next, _) => next.map(Timestamp::as_millis),
        };
        c.id.push(s.id.as_str());
        c.project_id.push(s.project_id.as_str());
        c.event_id.push(s.event_id.as_ref().map(|id| id.as_str()));
        c.envelope_type.push(&s.envelope_type);
        c.event_type.push(&s.event_type);
        c.source_kind.push(s.source_id.kind().as_str());
        c.source_id.push(s.source_id.as_str());
        c.channel.push(s.channel.map(i64::from));
        c.target_url.push(&s.target_url);
        if request_stored(s) {
            c.stored_id.push(s.id.as_str());
            c.headers.push(to_json(&s.headers)?);
            c.body.push(&s.body);
        }
        c.status.push(s.status.as_str());
        c.attempts.push(i64::from(s.attempts));
        c.next_attempt_at.push(next_attempt_at);
        c.last_attempt_at
            .push(s.last_attempt_at.map(Timestamp::as_millis));
        c.failure_reason.push(s.failure_reason.as_deref());
        c.is_test.push(s.is_test);
        c.group_id.push(s.group_id.as_deref());
        c.event_created_at
            .push(s.event_created_at.map(Timestamp::as_millis));
        c.created_at.push(s.created_at.as_millis());
        c.updated_at.push(s.updated_at.as_millis());
    }
    sqlx::query(
        "INSERT INTO send_outs (id, project_id, event_id, envelope_type, event_type, \
         source_kind, source_id, channel, target_url, status, attempts, \
         next_attempt_at, last_attempt_at, failure_reason, is_test, group_id, event_created_at, \
         created_at, updated_at, lease_until) \
         SELECT u.*, $1 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], $11::text[], \
         $12::int8[], $13::int8[], $14::int8[], $15::text[], $16::bool[], \
         $17::text[], $18::int8[], $19::int8[], $20::int8[]) AS u",
    )
    .bind(lease)
    .bind(c.id)
    .bind(c.project_id)
    .bind(c.event_id)
    .bind(c.envelope_type)
    .bind(c.event_type)
    .bind(c.source_kind)
    .bind(c.source_id)
    .bind(c.channel)
    .bind(c.target_url)
    .bind(c.status)
    .bind(c.attempts)
    .bind(c.next_attempt_at)
    .bind(c.last_attempt_at)
    .bind(c.failure_reason)
    .bind(c.is_test)
    .bind(c.group_id)
    .bind(c.event_created_at)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(&mut *conn)
    .await?;
    if !c.stored_id.is_empty() {
        sqlx::query(
            "INSERT INTO send_out_bodies (send_out_id, headers, body) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])",
        )
        .bind(c.stored_id)
        .bind(c.headers)
        .bind(c.body)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Send outs column by column, each bound as one array parameter.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<&'a str>,
    project_id: Vec<&'a str>,
    event_id: Vec<Option<&'a str>>,
    envelope_type: Vec<&'a str>,
    event_type: Vec<&'a str>,
    source_kind: Vec<&'static str>,
    source_id: Vec<&'a str>,
    channel: Vec<Option<i64>>,
    target_url: Vec<&'a str>,
    /// The requests that are stored (see [`request_stored`]), by send-out id.
    stored_id: Vec<&'a str>,
    headers: Vec<String>,
    body: Vec<&'a str>,
    status: Vec<&'static str>,
    attempts: Vec<i64>,
    next_attempt_at: Vec<Option<i64>>,
    last_attempt_at: Vec<Option<i64>>,
    failure_reason: Vec<Option<&'a str>>,
    is_test: Vec<bool>,
    group_id: Vec<Option<&'a str>>,
    event_created_at: Vec<Option<i64>>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
}
