//! Ingest: storing events with every send out they fan out to, committed before the caller
//! hears back (PRODUCT §4 "durable before acknowledged").
//!
//! **Group commit.** Concurrent ingest calls are handed to one committer task, which takes
//! every call waiting at that moment and writes them in one transaction: one sync and a few
//! statements for the whole group instead of per call. Each call still gets its answer only
//! after the commit, and stays atomic: if the group fails (say, one call repeats an event id),
//! the committer writes each call of the group alone, so only the faulty call fails. The
//! committer is a task of its own, not one of the callers, so a caller that goes away (a
//! client that hung up) cannot take the others' writes down with it.
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

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::params;
use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot, Notify};

use super::direct::{Commit, DirectWriter};
use crate::fanout::{self, Targets};
use crate::handoff::{self, Reserved};
use crate::model::{
    Distribution, Handoff, IngestOutcome, NewEvent, SendOut, SigningSecrets, Webhook,
};
use crate::rows::{self, to_json};
use crate::{sql, StoreError, StoreResult};

/// The most events one group commit takes (a single larger call is still one transaction).
const GROUP_EVENTS: usize = 2_000;
/// How many calls may wait for the committer before callers wait to hand theirs over.
const QUEUE: usize = 1_024;

/// One ingest call waiting for the committer.
pub(super) struct Job {
    project: ProjectId,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<StoreResult<Vec<IngestOutcome>>>,
}

/// Where ingest calls are handed to the committer.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
    /// The local worker's inbox, once it asked for fresh send outs.
    handoff: handoff::Slot,
}

impl Committer {
    /// Starts the committer task on the current runtime; it ends when every store clone
    /// holding this handle is gone. Targets are read on `readers`; rows are written with
    /// `writer` at the store's durability.
    pub(super) fn spawn(writer: DirectWriter, readers: SqlitePool, work: Arc<Notify>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let handoff = handoff::Slot::default();
        let pools = Pools {
            writer,
            readers,
            handoff: handoff.clone(),
        };
        tokio::spawn(run(pools, work, queue));
        Self { jobs, handoff }
    }

    /// From the next group on, leases fresh send outs to `handoff`'s inbox (see the module
    /// docs), replacing any earlier inbox.
    pub(super) fn hand_off(&self, handoff: Handoff) {
        self.handoff.set(handoff);
    }

    /// Ingests the events, returning once they are committed.
    pub(super) async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            project: project.clone(),
            events,
            reply,
        };
        let stopped = || StoreError::Database("the ingest committer has stopped".to_owned());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Where the committer reads targets, writes rows and hands claims over.
struct Pools {
    writer: DirectWriter,
    readers: SqlitePool,
    handoff: handoff::Slot,
}

async fn run(pools: Pools, work: Arc<Notify>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut size = first.events.len();
        let mut group = vec![first];
        while size < GROUP_EVENTS {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        commit_group(&pools, &work, group).await;
    }
}

/// Commits a group, or, if that fails, each of its calls alone; answers every call.
async fn commit_group(pools: &Pools, work: &Notify, group: Vec<Job>) {
    let calls: Vec<(&ProjectId, &[NewEvent])> = group
        .iter()
        .map(|job| (&job.project, job.events.as_slice()))
        .collect();
    let mut answers = match write(pools, work, &calls).await {
        Ok(answers) => answers,
        Err(group_error) if calls.len() == 1 => vec![Err(group_error)],
        Err(_) => {
            let mut answers = Vec::with_capacity(calls.len());
            for call in &calls {
                let answer = write(pools, work, std::slice::from_ref(call)).await;
                answers.push(answer.and_then(|mut single| single.pop().unwrap_or(Ok(Vec::new()))));
            }
            answers
        }
    };
    for (job, answer) in group.into_iter().zip(answers.drain(..)) {
        // A caller that stopped waiting has nothing to be told; its events are stored.
        let _ = job.reply.send(answer);
    }
}

type Answer = StoreResult<Vec<IngestOutcome>>;

/// Writes the calls in one transaction. A call naming a missing project is answered
/// `NotFound` without failing the others; any other error fails the whole transaction.
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
    calls: &[(&ProjectId, &[NewEvent])],
) -> StoreResult<Vec<Answer>> {
    let now = Timestamp::now();
    let mut reader = pools.readers.acquire().await?;
    let mut targets: HashMap<&ProjectId, Option<ProjectTargets>> = HashMap::new();
    let mut events: Vec<EventRow> = Vec::new();
    let mut send_outs: Vec<SendOut> = Vec::new();
    let mut answers = Vec::with_capacity(calls.len());
    for (project, call_events) in calls {
        if !targets.contains_key(project) {
            let loaded = match sql::project_webhooks(&mut *reader, project, now).await? {
                Some((secrets, webhooks)) => {
                    // Only the triggers among this project's events in the whole group.
                    let types = fanout::trigger_types(
                        calls.iter().filter(|c| c.0 == *project).flat_map(|c| c.1),
                    );
                    let live = sql::live(&mut *reader, project, &types).await?;
                    Some((secrets, webhooks, live))
                }
                None => None,
            };
            targets.insert(project, loaded);
        }
        let Some((_, webhooks, distributions)) = &targets[project] else {
            answers.push(Err(StoreError::NotFound));
            continue;
        };
        let mut outcomes = Vec::with_capacity(call_events.len());
        for event in call_events.iter() {
            let targets = Targets {
                webhooks,
                distributions,
            };
            let planned = fanout::plan(project, event, targets, now);
            outcomes.push(IngestOutcome {
                event_id: event.id.clone(),
                send_outs: u32::try_from(planned.len()).unwrap_or(u32::MAX),
            });
            events.push(EventRow::of(project, event, now));
            send_outs.extend(planned);
        }
        answers.push(Ok(outcomes));
    }
    drop(reader);
    if events.is_empty() {
        return Ok(answers);
    }
    // Every planned send out is fresh and due now; the first `handed` go to the worker.
    let handoff: Option<Handoff> = pools.handoff.current();
    let reserved = handoff
        .as_ref()
        .and_then(|h| pools.handoff.reserve(h, send_outs.len(), now));
    let handed = reserved.as_ref().map_or(0, Reserved::len);
    let lease_until = reserved.as_ref().map(|r| r.lease_until);
    let left_due = send_outs.len() > handed;
    let send_outs = pools
        .writer
        .run(Commit::Durable, move |tx| {
            insert_events(tx, &events)?;
            insert_send_outs(tx, &send_outs[..handed], lease_until)?;
            insert_send_outs(tx, &send_outs[handed..], None)?;
            Ok(send_outs)
        })
        .await?;
    if let Some(reserved) = reserved {
        reserved.send(send_outs, |send_out| match &targets[&send_out.project_id] {
            Some((secrets, ..)) => secrets.clone(),
            None => unreachable!("send outs are planned only for projects found"),
        });
    }
    if left_due {
        crate::sql::wake(work);
    }
    Ok(answers)
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
}

impl EventRow {
    fn of(project: &ProjectId, e: &NewEvent, now: Timestamp) -> Self {
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
        }
    }
}

fn insert_events(tx: &rusqlite::Connection, events: &[EventRow]) -> StoreResult<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (id, project_id, event_type, data, entity_id, group_id, \
         event_source, created_at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
