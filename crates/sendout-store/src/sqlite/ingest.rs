//! Ingest: storing events with every send out they fan out to, committed before the caller
//! hears back (PRODUCT §4 "durable before acknowledged").
//!
//! **Group commit.** Concurrent ingest calls are handed to one committer task, which writes
//! every call waiting at that moment in one transaction, taking them by project in turns
//! (`group.rs`): one sync and a few statements for the whole group instead of per call. The
//! committer is a task of its own, not one of the callers, so a caller that goes away (a
//! client that hung up) cannot take the others' writes down with it.
//!
//! **A full disk.** A group is not begun while the disk has less room than the store keeps
//! for deliveries (see `room.rs`), and one the disk has no room for is rolled back; either
//! way every call of it is answered [`StoreError::Full`] (not retried alone: it would fail
//! the same way). The
//! committer, the writer connection and the transaction that failed are left as they were
//! before it began, so the next group is tried as if nothing happened, and succeeds as soon
//! as there is room again: no restart, no repair.
//!
//! **The writer only for the inserts.** The fan-out (which webhooks and distributions get
//! each event, their envelopes and rendered payloads) is planned from a reader before the
//! write transaction, whose rows then go in with statements prepared once per transaction,
//! all on one thread (see `direct.rs`).
//!
//! **Handing fresh send outs to the worker.** When this process's worker has asked for it
//! ([`crate::Queue::hand_off`]), the committer leases as many of a group's send outs as the
//! worker's inbox has room for and sends their claims, built from what it just planned, to
//! the inbox after the commit (see `handoff.rs`). Those send outs never pass through a claim
//! transaction: no search of the due index, no read-back, no rebuilt envelope, no lease
//! update. The rest are written due, and wake the workers as before.
//!
//! **Keys.** A call with idempotency keys ([`crate::Queue::ingest_keyed`]) claims them in the
//! group's transaction, inside a savepoint of its own, before its events are written (see
//! `idempotency.rs`): a replay or a reuse rolls back to the savepoint and writes nothing, and
//! the rest of the group goes on. Calls of one group are claimed in order, so of two with
//! one key in one group the second finds the first's row and replays its answer, as it would
//! in the next group. Calls without keys run no statement more.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, Notify};

use super::direct::{Commit, DirectWriter};
use super::room::Room;
use crate::fanout::{self, Limits, Targets};
use crate::group::{self, unanswered, Answer, Call, Done, Job, Jobs, Waiting};
use crate::handoff::{self, Reserved};
use crate::idempotency::{self, Decision, Stored};
use crate::model::{
    Distribution, Handoff, IngestKeys, IngestOutcome, NewEvent, SendOut, SigningSecrets, Webhook,
};
use crate::rows::{self, to_json};
use crate::{sql, StoreError, StoreResult};

/// Where ingest calls are handed to the committer.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    jobs: Jobs,
    /// The local worker's inbox, once it asked for fresh send outs.
    handoff: handoff::Slot,
}

impl Committer {
    /// Starts the committer task on the current runtime; it ends when every store clone
    /// holding this handle is gone. Targets are read on `readers`; rows are written with
    /// `writer` at the store's durability, while the disk has `room`.
    pub(super) fn spawn(
        writer: DirectWriter,
        readers: SqlitePool,
        work: Arc<Notify>,
        room: Room,
    ) -> Self {
        let (jobs, queue) = Jobs::new();
        let handoff = handoff::Slot::default();
        let pools = Pools {
            writer,
            readers,
            handoff: handoff.clone(),
            room,
        };
        tokio::spawn(run(pools, work, queue));
        Self { jobs, handoff }
    }

    /// From the next group on, leases fresh send outs to `handoff`'s inbox (see the module
    /// docs), replacing any earlier inbox.
    pub(super) fn hand_off(&self, handoff: Handoff) {
        self.handoff.set(handoff);
    }

    /// The queue of calls, for ingest (see `group.rs`).
    pub(super) fn jobs(&self) -> &Jobs {
        &self.jobs
    }
}

/// Where the committer reads targets, writes rows and hands claims over, and the room it
/// leaves on the disk.
struct Pools {
    writer: DirectWriter,
    readers: SqlitePool,
    handoff: handoff::Slot,
    room: Room,
}

async fn run(pools: Pools, work: Arc<Notify>, mut queue: mpsc::Receiver<Job>) {
    let mut waiting = Waiting::default();
    while waiting.fill(&mut queue).await {
        let group = waiting.group();
        let made = commit_group(&pools, &work, group).await;
        waiting.learn(made);
    }
}

/// Commits a group, or, if that fails, each of its calls alone; answers every call. Returns
/// each committed call's project, events and send outs made.
async fn commit_group(
    pools: &Pools,
    work: &Notify,
    group: Vec<Job>,
) -> Vec<(ProjectId, usize, u64)> {
    let calls: Vec<(&ProjectId, &Call, &Limits)> = group
        .iter()
        .map(|job| (&job.project, &job.call, &job.limits))
        .collect();
    let written = match pools.room.check() {
        Ok(()) => write(pools, work, &calls).await,
        Err(full) => Err(full),
    };
    let answers = match written {
        Ok(answers) => answers,
        Err(group_error) if calls.len() == 1 => vec![Err(group_error)],
        // A full disk refuses every call alike: writing each alone would only fail again.
        Err(StoreError::Full(cause)) => calls
            .iter()
            .map(|_| Err(StoreError::Full(cause.clone())))
            .collect(),
        Err(_) => {
            let mut answers = Vec::with_capacity(calls.len());
            for call in &calls {
                let answer = write(pools, work, std::slice::from_ref(call)).await;
                answers
                    .push(answer.and_then(|mut single| single.pop().unwrap_or(Err(unanswered()))));
            }
            answers
        }
    };
    group::answer(group, answers)
}

/// A call's answer before the transaction: known, or its keys' decision to come.
enum Pending {
    Ready(Answer),
    /// The keyed call at this position of the transaction's, with every event's outcome.
    Keyed(usize, Vec<IngestOutcome>),
}

/// A keyed call, planned: what the transaction claims and, if it may, writes.
struct KeyedPlan {
    project: String,
    keys: IngestKeys,
    rows: Vec<EventRow>,
    /// Each event's send outs.
    send_outs: Vec<Vec<SendOut>>,
    /// Each event's part of the answer.
    parts: Vec<String>,
}

/// Writes the calls in one transaction. A call naming a missing project is answered
/// `NotFound`, and one whose fan-out its limits refuse `TooManySendOuts`, without failing
/// the others (neither writes anything); any other error fails the whole transaction.
/// Once committed, hands the leased send outs to the worker's inbox, and wakes the workers
/// if any were left due.
///
/// The fan-out is planned before the transaction, from the targets as a reader sees them
/// (the last committed state), so the writer is held only for the inserts. A call sees every
/// change to webhooks and distributions committed before it began; one committed while it
/// runs may or may not apply to it, as it would with the plan made inside the transaction
/// (that change could as well have been queued behind it).
async fn write(
    pools: &Pools,
    work: &Notify,
    calls: &[(&ProjectId, &Call, &Limits)],
) -> StoreResult<Vec<Answer>> {
    let now = Timestamp::now();
    let mut reader = pools.readers.acquire().await?;
    let mut targets: HashMap<&ProjectId, Option<ProjectTargets>> = HashMap::new();
    let mut events: Vec<EventRow> = Vec::new();
    let mut send_outs: Vec<SendOut> = Vec::new();
    let mut keyed: Vec<KeyedPlan> = Vec::new();
    let mut pending = Vec::with_capacity(calls.len());
    for (project, call, limits) in calls {
        if !targets.contains_key(project) {
            let loaded = match sql::project_webhooks(&mut *reader, project, now).await? {
                Some((secrets, webhooks)) => {
                    // Only the triggers among this project's events in the whole group.
                    let types = fanout::trigger_types(
                        calls
                            .iter()
                            .filter(|c| c.0 == *project)
                            .flat_map(|c| c.1.events()),
                    );
                    let live = sql::live(&mut *reader, project, &types).await?;
                    Some((secrets, webhooks, live))
                }
                None => None,
            };
            targets.insert(project, loaded);
        }
        let Some((_, webhooks, distributions)) = &targets[project] else {
            pending.push(Pending::Ready(Err(StoreError::NotFound)));
            continue;
        };
        let targets = Targets {
            webhooks,
            distributions,
        };
        let planned = match fanout::plan_all(project, call.events(), targets, now, limits) {
            Ok(planned) => planned,
            Err(refused) => {
                pending.push(Pending::Ready(Err(refused.into())));
                continue;
            }
        };
        let outcomes: Vec<IngestOutcome> = call
            .events()
            .iter()
            .zip(&planned)
            .map(|(event, planned)| outcome(event, planned))
            .collect();
        match call {
            Call::Plain(call_events) => {
                for (event, planned) in call_events.iter().zip(planned) {
                    events.push(EventRow::of(project, event, now, None));
                    send_outs.extend(planned);
                }
                pending.push(Pending::Ready(Ok(Done::Plain(outcomes))));
            }
            Call::Keyed(call) => {
                let rows = call
                    .events
                    .iter()
                    .enumerate()
                    .map(|(i, event)| EventRow::of(project, event, now, call.keys.event_key(i)))
                    .collect();
                keyed.push(KeyedPlan {
                    project: project.as_str().to_owned(),
                    keys: call.keys.clone(),
                    rows,
                    parts: idempotency::parts(&call.keys, &call.events, &outcomes),
                    send_outs: planned,
                });
                pending.push(Pending::Keyed(keyed.len() - 1, outcomes));
            }
        }
    }
    drop(reader);
    if events.is_empty() && keyed.is_empty() {
        return Ok(pending.into_iter().map(Pending::ready).collect());
    }
    // Every sendable planned send out is fresh and due now; the first `handed` of those
    // written go to the worker (a keyed call's are known to be written only in the
    // transaction, so the reservation covers every sendable one planned).
    let sendable = send_outs
        .iter()
        .chain(keyed.iter().flat_map(|k| k.send_outs.iter().flatten()))
        .filter(|s| s.is_sendable())
        .count();
    let handoff: Option<Handoff> = pools.handoff.current();
    let reserved = handoff
        .as_ref()
        .and_then(|h| pools.handoff.reserve(h, sendable, now));
    let handed = reserved.as_ref().map_or(0, Reserved::len);
    let lease_until = reserved.as_ref().map(|r| r.lease_until);
    let (mut send_outs, decisions, handed, sendable) = pools
        .writer
        .run(Commit::Durable, move |tx| {
            let (mut events, mut send_outs) = (events, send_outs);
            let mut decisions = Vec::with_capacity(keyed.len());
            for plan in keyed {
                let decision = decide(tx, &plan.project, &plan.keys, plan.parts, now)?;
                if let Decision::Write { keep, .. } = &decision {
                    let written = plan.rows.into_iter().zip(plan.send_outs).zip(keep);
                    for ((row, planned), _) in written.filter(|(_, keep)| **keep) {
                        events.push(row);
                        send_outs.extend(planned);
                    }
                }
                decisions.push(decision);
            }
            let sendable = handoff::sendable_first(&mut send_outs);
            let handed = handed.min(sendable);
            insert_events(tx, &events)?;
            insert_send_outs(tx, &send_outs[..handed], lease_until)?;
            insert_send_outs(tx, &send_outs[handed..], None)?;
            Ok((send_outs, decisions, handed, sendable))
        })
        .await?;
    let left_due = sendable > handed;
    // Only the leased ones go to the worker: the reservation may hold more permits.
    send_outs.truncate(handed);
    if let Some(reserved) = reserved {
        reserved.send(send_outs, |send_out| match &targets[&send_out.project_id] {
            Some((secrets, ..)) => secrets.clone(),
            None => unreachable!("send outs are planned only for projects found"),
        });
    }
    if left_due {
        crate::sql::wake(work);
    }
    let mut decisions: Vec<Option<Decision>> = decisions.into_iter().map(Some).collect();
    Ok(pending
        .into_iter()
        .map(|p| match p {
            Pending::Keyed(at, outcomes) => match decisions[at].take() {
                Some(decision) => Ok(Done::Keyed(decision.outcome(outcomes))),
                None => Err(unanswered()),
            },
            ready => ready.ready(),
        })
        .collect())
}

impl Pending {
    /// The answer of a call that needed no decision.
    fn ready(self) -> Answer {
        match self {
            Self::Ready(answer) => answer,
            Self::Keyed(..) => Err(unanswered()),
        }
    }
}

/// What planning `planned` for `event` did.
fn outcome(event: &NewEvent, planned: &[SendOut]) -> IngestOutcome {
    IngestOutcome {
        event_id: event.id.clone(),
        send_outs: u32::try_from(planned.len()).unwrap_or(u32::MAX),
    }
}

/// Claims a keyed call's keys in a savepoint, kept only if the call writes (see the module
/// docs): the event keys, then the request's (see `idempotency.rs`). `parts` are its events'
/// parts of the answer.
fn decide(
    tx: &rusqlite::Connection,
    project: &str,
    keys: &IngestKeys,
    parts: Vec<String>,
    now: Timestamp,
) -> StoreResult<Decision> {
    tx.execute_batch("SAVEPOINT keyed")?;
    let claim_keys = || -> StoreResult<Decision> {
        let claim = |scope, key: &str, fingerprint: &str, response: &str| {
            claim_key(
                tx,
                [project, scope, key, fingerprint, response],
                now,
                keys.expires_at,
            )
        };
        let mut held = Vec::new();
        for (_, key, fingerprint, part) in idempotency::event_claims(keys, &parts) {
            held.extend(claim(idempotency::EVENT, key, fingerprint, part)?);
        }
        let (keep, parts) = match idempotency::settle_events(keys, parts, &held) {
            Ok(settled) => settled,
            Err(reused) => return Ok(reused),
        };
        let body = idempotency::body(keys, &parts);
        let held = match &keys.request_key {
            Some(key) => claim(idempotency::REQUEST, &key.key, &key.fingerprint, &body)?,
            None => None,
        };
        Ok(idempotency::settle_request(keys, keep, body, held))
    };
    let decision = claim_keys();
    if decision.as_ref().is_ok_and(Decision::writes) {
        tx.execute_batch("RELEASE keyed")?;
    } else {
        tx.execute_batch("ROLLBACK TO keyed; RELEASE keyed")?;
    }
    decision
}

/// Claims one key (`[project, scope, key, fingerprint, response]`); the row that holds it if
/// an earlier ingest does.
fn claim_key(
    tx: &rusqlite::Connection,
    [project, scope, key, fingerprint, response]: [&str; 5],
    now: Timestamp,
    expires_at: Timestamp,
) -> StoreResult<Option<Stored>> {
    let claimed = tx
        .prepare_cached(&format!(
            "INSERT INTO idempotency_keys (project_id, scope, idempotency_key, fingerprint, \
             status, response, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) {}",
            idempotency::CLAIM
        ))?
        .query_row(
            params![
                project,
                scope,
                key,
                fingerprint,
                idempotency::ACCEPTED,
                response,
                now.as_millis(),
                expires_at.as_millis()
            ],
            |_| Ok(()),
        )
        .optional()?;
    if claimed.is_some() {
        return Ok(None);
    }
    let held = tx
        .prepare_cached(&format!(
            "SELECT {} FROM idempotency_keys \
             WHERE project_id = ?1 AND scope = ?2 AND idempotency_key = ?3",
            idempotency::STORED_COLUMNS
        ))?
        .query_and_then(params![project, scope, key], |row| idempotency::stored(row))?
        .next()
        .ok_or(StoreError::NotFound)??;
    Ok(Some(held))
}

/// A project's signing secrets, webhooks and live distributions, loaded once per group
/// commit.
type ProjectTargets = (SigningSecrets, Vec<Webhook>, Vec<Distribution>);

/// An event's row. `data` and `event_source` are stored byte for byte as received.
struct EventRow {
    id: String,
    project_id: String,
    event_type: String,
    data: String,
    entity_id: Option<String>,
    group_id: String,
    event_source: String,
    created_at: i64,
    received_at: i64,
    /// The key it was ingested with, if any (see [`IngestKeys`]).
    idempotency_key: Option<String>,
}

impl EventRow {
    fn of(project: &ProjectId, e: &NewEvent, now: Timestamp, key: Option<&str>) -> Self {
        Self {
            id: e.id.as_str().to_owned(),
            project_id: project.as_str().to_owned(),
            event_type: e.event_type.clone(),
            data: e.data.get().to_owned(),
            entity_id: e.entity_id.clone(),
            group_id: e.group_id.as_str().to_owned(),
            event_source: e.event_source.get().to_owned(),
            created_at: e.created_at.as_millis(),
            received_at: now.as_millis(),
            idempotency_key: key.map(str::to_owned),
        }
    }
}

fn insert_events(tx: &rusqlite::Connection, events: &[EventRow]) -> StoreResult<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (id, project_id, event_type, data, entity_id, group_id, \
         event_source, created_at, received_at, idempotency_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for e in events {
        insert.execute(params![
            e.id,
            e.project_id,
            e.event_type,
            e.data,
            e.entity_id,
            e.group_id,
            e.event_source,
            e.created_at,
            e.received_at,
            e.idempotency_key,
        ])?;
    }
    Ok(())
}

/// Inserts send outs as given, leased until `lease_until` if set: the queue rows, then their
/// requests (kept apart so later writes to the queue row do not copy the body; not stored
/// at all where they can be made again from the event, see [`rows::request_stored`]).
pub(super) fn insert_send_outs(
    tx: &rusqlite::Connection,
    send_outs: &[SendOut],
    lease_until: Option<Timestamp>,
) -> StoreResult<()> {
    let lease_until = lease_until.map(Timestamp::as_millis);
    let mut row = tx.prepare_cached(
        "INSERT INTO send_outs (id, project_id, event_id, envelope_type, event_type, \
         source_kind, source_id, channel, target_url, status, attempts, \
         next_attempt_at, last_attempt_at, failure_reason, is_test, group_id, event_created_at, \
         created_at, updated_at, lease_until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
    )?;
    let mut body = tx.prepare_cached(
        "INSERT INTO send_out_bodies (send_out_id, headers, body) VALUES (?1, ?2, ?3)",
    )?;
    for s in send_outs {
        // A leased open send out is not due before its lease ends (see `queue`).
        let next_attempt_at = match (s.next_attempt_at, lease_until) {
            (Some(next), Some(lease)) => Some(next.as_millis().max(lease)),
            (next, _) => next.map(Timestamp::as_millis),
        };
        row.execute(params![
            s.id.as_str(),
            s.project_id.as_str(),
            s.event_id.as_ref().map(|id| id.as_str()),
            s.envelope_type,
            s.event_type,
            s.source_id.kind().as_str(),
            s.source_id.as_str(),
            s.channel,
            s.target_url,
            s.status.as_str(),
            s.attempts,
            next_attempt_at,
            s.last_attempt_at.map(Timestamp::as_millis),
            s.failure_reason,
            s.is_test,
            s.group_id,
            s.event_created_at.map(Timestamp::as_millis),
            s.created_at.as_millis(),
            s.updated_at.as_millis(),
            lease_until,
        ])?;
        if rows::request_stored(s) {
            body.execute(params![s.id.as_str(), to_json(&s.headers)?, s.body])?;
        }
    }
    Ok(())
}
