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
//! **Few statements.** Rows go in as one JSON array per table (`json_each`), so a group of
//! any size is one `INSERT` per table, with statements SQLite prepares once. The elements are
//! copied out of the array first (`MATERIALIZED`), which measured about twice as fast as
//! reading every column straight from `json_each`.

use std::collections::HashMap;

use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use serde::Serialize;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot, Notify};

use super::distributions;
use super::rows::{self, to_json};
use crate::fanout::{self, Targets};
use crate::model::{Distribution, IngestOutcome, NewEvent, SendOut, Webhook};
use crate::{StoreError, StoreResult};

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
}

impl Committer {
    /// Starts the committer task on the current runtime; it ends when every store clone
    /// holding this handle is gone.
    /// `begin` starts a transaction that syncs at commit (see [`super::Durability::begin`]).
    pub(super) fn spawn(
        writer: SqlitePool,
        begin: &'static str,
        work: std::sync::Arc<Notify>,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, begin, work, queue));
        Self { jobs }
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

async fn run(
    writer: SqlitePool,
    begin: &'static str,
    work: std::sync::Arc<Notify>,
    mut queue: mpsc::Receiver<Job>,
) {
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
        commit_group(&writer, begin, &work, group).await;
    }
}

/// Commits a group, or, if that fails, each of its calls alone; answers every call.
async fn commit_group(writer: &SqlitePool, begin: &'static str, work: &Notify, group: Vec<Job>) {
    let calls: Vec<(&ProjectId, &[NewEvent])> = group
        .iter()
        .map(|job| (&job.project, job.events.as_slice()))
        .collect();
    let mut answers = match write(writer, begin, &calls).await {
        Ok(answers) => answers,
        Err(group_error) if calls.len() == 1 => vec![Err(group_error)],
        Err(_) => {
            let mut answers = Vec::with_capacity(calls.len());
            for call in &calls {
                let answer = write(writer, begin, std::slice::from_ref(call)).await;
                answers.push(answer.and_then(|mut single| single.pop().unwrap_or(Ok(Vec::new()))));
            }
            answers
        }
    };
    let fanned_out = answers
        .iter()
        .any(|a| a.as_ref().is_ok_and(|o| o.iter().any(|o| o.send_outs > 0)));
    if fanned_out {
        // See the module docs of `sqlite` for why both.
        work.notify_waiters();
        work.notify_one();
    }
    for (job, answer) in group.into_iter().zip(answers.drain(..)) {
        // A caller that stopped waiting has nothing to be told; its events are stored.
        let _ = job.reply.send(answer);
    }
}

type Answer = StoreResult<Vec<IngestOutcome>>;

/// Writes the calls in one transaction. A call naming a missing project is answered
/// `NotFound` without failing the others; any other error fails the whole transaction.
async fn write(
    writer: &SqlitePool,
    begin: &'static str,
    calls: &[(&ProjectId, &[NewEvent])],
) -> StoreResult<Vec<Answer>> {
    let mut tx: Transaction<'static, Sqlite> = writer.begin_with(begin).await?;
    let now = Timestamp::now();
    let mut targets: HashMap<&ProjectId, Option<ProjectTargets>> = HashMap::new();
    let mut events: Vec<(&ProjectId, &NewEvent)> = Vec::new();
    let mut send_outs: Vec<SendOut> = Vec::new();
    let mut answers = Vec::with_capacity(calls.len());
    for (project, call_events) in calls {
        if !targets.contains_key(project) {
            let loaded = match load_targets(&mut tx, project).await? {
                Some(webhooks) => {
                    // Only the triggers among this project's events in the whole group.
                    let types = fanout::trigger_types(
                        calls.iter().filter(|c| c.0 == *project).flat_map(|c| c.1),
                    );
                    let live = distributions::live(&mut tx, project, &types).await?;
                    Some((webhooks, live))
                }
                None => None,
            };
            targets.insert(project, loaded);
        }
        let Some((webhooks, distributions)) = &targets[project] else {
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
            events.push((project, event));
            send_outs.extend(planned);
        }
        answers.push(Ok(outcomes));
    }
    insert_events(&mut tx, &events, now).await?;
    insert_send_outs(&mut tx, &send_outs, None).await?;
    tx.commit().await?;
    Ok(answers)
}

/// A project's webhooks and live distributions, loaded once per group commit.
type ProjectTargets = (Vec<Webhook>, Vec<Distribution>);

/// The project's webhooks, or `None` if the project does not exist.
async fn load_targets(
    conn: &mut SqliteConnection,
    project: &ProjectId,
) -> StoreResult<Option<Vec<Webhook>>> {
    // One statement for both: a project without webhooks is one row of NULLs.
    let found = sqlx::query(
        "SELECT w.* FROM projects p LEFT JOIN webhooks w ON w.project_id = p.id \
         WHERE p.id = ?1 ORDER BY w.id",
    )
    .bind(project.as_str())
    .fetch_all(&mut *conn)
    .await?;
    if found.is_empty() {
        return Ok(None);
    }
    let mut webhooks = Vec::with_capacity(found.len());
    for row in &found {
        if sqlx::Row::try_get::<Option<String>, _>(row, "id")?.is_some() {
            webhooks.push(rows::webhook(row)?);
        }
    }
    Ok(Some(webhooks))
}

/// An event as one element of the JSON array `insert_events` binds. `data` and
/// `event_source` travel as strings so they are stored byte for byte.
#[derive(Serialize)]
struct EventRow<'a> {
    id: &'a str,
    project_id: &'a str,
    event_type: &'a str,
    data: &'a str,
    entity_id: Option<&'a str>,
    group_id: &'a str,
    event_source: &'a str,
    created_at: i64,
    received_at: i64,
}

async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[(&ProjectId, &NewEvent)],
    now: Timestamp,
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<EventRow<'_>> = events
        .iter()
        .map(|(project, e)| EventRow {
            id: e.id.as_str(),
            project_id: project.as_str(),
            event_type: &e.event_type,
            data: e.data.get(),
            entity_id: e.entity_id.as_deref(),
            group_id: e.group_id.as_str(),
            event_source: e.event_source.get(),
            created_at: e.created_at.as_millis(),
            received_at: now.as_millis(),
        })
        .collect();
    sqlx::query(
        "WITH r(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
         INSERT INTO events (id, project_id, event_type, data, entity_id, group_id, \
         event_source, created_at, received_at) \
         SELECT v ->> 'id', v ->> 'project_id', v ->> 'event_type', \
         v ->> 'data', v ->> 'entity_id', v ->> 'group_id', \
         v ->> 'event_source', v ->> 'created_at', v ->> 'received_at' \
         FROM r",
    )
    .bind(to_json(&rows)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// A send out as one element of the JSON array `insert_send_outs` binds.
#[derive(Serialize)]
struct SendOutRow<'a> {
    id: &'a str,
    project_id: &'a str,
    event_id: Option<&'a str>,
    envelope_type: &'a str,
    event_type: &'a str,
    source_kind: &'static str,
    source_id: &'a str,
    channel: Option<u32>,
    target_url: &'a str,
    status: &'static str,
    attempts: u32,
    next_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    failure_reason: Option<&'a str>,
    is_test: bool,
    group_id: Option<&'a str>,
    event_created_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    lease_until: Option<i64>,
}

/// A send out's request as one element of the JSON array for `send_out_bodies`.
#[derive(Serialize)]
struct BodyRow<'a> {
    id: &'a str,
    headers: String,
    body: &'a str,
}

/// Inserts send outs as given, leased until `lease_until` if set: the queue rows, then their
/// requests (kept apart so later writes to the queue row do not copy the body).
pub(super) async fn insert_send_outs(
    conn: &mut SqliteConnection,
    send_outs: &[SendOut],
    lease_until: Option<Timestamp>,
) -> StoreResult<()> {
    if send_outs.is_empty() {
        return Ok(());
    }
    let lease_until = lease_until.map(Timestamp::as_millis);
    let mut rows = Vec::with_capacity(send_outs.len());
    let mut bodies = Vec::with_capacity(send_outs.len());
    for s in send_outs {
        // A leased open send out is not due before its lease ends (see `queue`).
        let next_attempt_at = match (s.next_attempt_at, lease_until) {
            (Some(next), Some(lease)) => Some(next.as_millis().max(lease)),
            (next, _) => next.map(Timestamp::as_millis),
        };
        rows.push(SendOutRow {
            id: s.id.as_str(),
            project_id: s.project_id.as_str(),
            event_id: s.event_id.as_ref().map(|id| id.as_str()),
            envelope_type: &s.envelope_type,
            event_type: &s.event_type,
            source_kind: s.source_kind.as_str(),
            source_id: &s.source_id,
            channel: s.channel,
            target_url: &s.target_url,
            status: s.status.as_str(),
            attempts: s.attempts,
            next_attempt_at,
            last_attempt_at: s.last_attempt_at.map(Timestamp::as_millis),
            failure_reason: s.failure_reason.as_deref(),
            is_test: s.is_test,
            group_id: s.group_id.as_deref(),
            event_created_at: s.event_created_at.map(Timestamp::as_millis),
            created_at: s.created_at.as_millis(),
            updated_at: s.updated_at.as_millis(),
            lease_until,
        });
        bodies.push(BodyRow {
            id: s.id.as_str(),
            headers: to_json(&s.headers)?,
            body: &s.body,
        });
    }
    sqlx::query(
        "WITH r(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
         INSERT INTO send_outs (id, project_id, event_id, envelope_type, event_type, \
         source_kind, source_id, channel, target_url, status, attempts, \
         next_attempt_at, last_attempt_at, failure_reason, is_test, group_id, event_created_at, \
         created_at, updated_at, lease_until) \
         SELECT v ->> 'id', v ->> 'project_id', v ->> 'event_id', \
         v ->> 'envelope_type', v ->> 'event_type', v ->> 'source_kind', \
         v ->> 'source_id', v ->> 'channel', v ->> 'target_url', \
         v ->> 'status', v ->> 'attempts', \
         v ->> 'next_attempt_at', v ->> 'last_attempt_at', v ->> 'failure_reason', \
         v ->> 'is_test', v ->> 'group_id', v ->> 'event_created_at', \
         v ->> 'created_at', v ->> 'updated_at', v ->> 'lease_until' \
         FROM r",
    )
    .bind(to_json(&rows)?)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "WITH r(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
         INSERT INTO send_out_bodies (send_out_id, headers, body) \
         SELECT v ->> 'id', v ->> 'headers', v ->> 'body' FROM r",
    )
    .bind(to_json(&bodies)?)
    .execute(conn)
    .await?;
    Ok(())
}
