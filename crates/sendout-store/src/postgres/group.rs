//! Group commit of ingest calls without keys (see `group.rs` for the queue, the turns between
//! projects and the bound on waiting): up to [`PARALLEL`] groups are written at once, each
//! in one transaction, so while they are written the calls arriving gather into the next
//! groups. A single-event call was a transaction of six statements and a commit of its own;
//! in a group of many it shares them all.
//!
//! A group's transaction reads each project's targets once, plans every call (a call its
//! limits refuse is answered so and writes nothing), inserts the events of each project with
//! one statement and every send out with one or two (leased to this node's worker as far as
//! its inbox has room, as `ingest.rs` does for one call), and commits; only then is each call
//! answered. If the transaction fails, each call is written alone (`ingest.rs`), so only a
//! faulty call fails (say, one whose project was deleted meanwhile).
//!
//! Calls with idempotency keys are not grouped: claiming a key may wait on another
//! transaction's row lock, which would hold up the whole group. They run alone as before.

use std::collections::HashMap;

use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::ingest::{commit_rows, write_alone, Writer};
use crate::fanout::{self, Limits, Targets};
use crate::group::{self, Answer, Call, Done, Job, Jobs, Waiting};
use crate::model::{Distribution, IngestOutcome, NewEvent, SendOut, SigningSecrets, Webhook};
use crate::sql::{self, project_webhooks};
use crate::StoreResult;

/// How many groups one process writes at once: enough that a commit waiting for the disk does
/// not stop the next group from being written, few enough to leave the pool's connections to
/// claims and completions.
pub(super) const PARALLEL: usize = 4;

/// Starts the committer task on the current runtime; it ends once every handle is gone.
pub(super) fn spawn(writer: Writer) -> Jobs {
    let (jobs, queue) = Jobs::new();
    tokio::spawn(run(writer, queue));
    jobs
}

async fn run(writer: Writer, mut queue: mpsc::Receiver<Job>) {
    let mut waiting = Waiting::default();
    let mut writing: JoinSet<Vec<(ProjectId, usize, u64)>> = JoinSet::new();
    let mut open = true;
    loop {
        // Room for another group and calls to make it of: write it.
        if writing.len() < PARALLEL && !waiting.is_empty() {
            let group = waiting.group();
            let writer = writer.clone();
            writing.spawn(async move { commit_group(&writer, group).await });
            continue;
        }
        tokio::select! {
            filled = waiting.fill(&mut queue), if open && writing.len() < PARALLEL => {
                open = filled;
            }
            Some(done) = writing.join_next() => match done {
                Ok(made) => waiting.learn(made),
                Err(e) => tracing::error!(error = %e, "an ingest group's task failed"),
            },
            else => return,
        }
    }
}

/// Commits a group, or, if that fails, each of its calls alone; answers every call.
async fn commit_group(writer: &Writer, group: Vec<Job>) -> Vec<(ProjectId, usize, u64)> {
    let answers = match write(writer, &group).await {
        Ok(answers) => answers,
        Err(group_error) if group.len() == 1 => vec![Err(group_error)],
        Err(_) => {
            let mut answers = Vec::with_capacity(group.len());
            for job in &group {
                answers.push(alone(writer, job).await);
            }
            answers
        }
    };
    group::answer(group, answers)
}

/// One call in a transaction of its own.
async fn alone(writer: &Writer, job: &Job) -> Answer {
    match &job.call {
        Call::Plain(events) => write_alone(writer, &job.project, events, None, &job.limits)
            .await
            .map(|(outcomes, _)| Done::Plain(outcomes)),
        Call::Keyed(_) => Err(group::unanswered()),
    }
}

/// A project's targets as the group's transaction read them.
type ProjectTargets = Option<(SigningSecrets, Vec<Webhook>, Vec<Distribution>)>;

/// Writes the group's calls in one transaction (see the module docs).
async fn write(writer: &Writer, group: &[Job]) -> StoreResult<Vec<Answer>> {
    let mut tx = writer.pool.begin().await?;
    let now = Timestamp::now();
    let mut targets: HashMap<&ProjectId, ProjectTargets> = HashMap::new();
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(group.len());
    let mut rows: HashMap<&ProjectId, Vec<(&NewEvent, Option<&str>)>> = HashMap::new();
    let mut send_outs: Vec<SendOut> = Vec::new();
    for job in group {
        let Call::Plain(events) = &job.call else {
            answers.push(Some(Err(group::unanswered())));
            continue;
        };
        let project = &job.project;
        if !targets.contains_key(project) {
            let loaded = match project_webhooks(&mut *tx, project, now).await? {
                Some((secrets, webhooks)) => {
                    let types = fanout::trigger_types(
                        group
                            .iter()
                            .filter(|j| &j.project == project)
                            .flat_map(|j| j.call.events()),
                    );
                    let live = sql::live(&mut *tx, project, &types).await?;
                    Some((secrets, webhooks, live))
                }
                None => None,
            };
            targets.insert(project, loaded);
        }
        let Some((_, webhooks, distributions)) = &targets[project] else {
            answers.push(Some(Err(crate::StoreError::NotFound)));
            continue;
        };
        let planned = match plan(project, events, webhooks, distributions, now, &job.limits) {
            Ok(planned) => planned,
            Err(refused) => {
                answers.push(Some(Err(refused)));
                continue;
            }
        };
        answers.push(Some(Ok(Done::Plain(outcomes(events, &planned)))));
        rows.entry(project)
            .or_default()
            .extend(events.iter().map(|event| (event, None)));
        send_outs.extend(planned.into_iter().flatten());
    }
    if !rows.is_empty() {
        let rows: Vec<_> = rows.into_iter().collect();
        commit_rows(writer, tx, &rows, send_outs, now, |send_out| match &targets
            [&send_out.project_id]
        {
            Some((secrets, ..)) => secrets.clone(),
            None => unreachable!("send outs are planned only for projects found"),
        })
        .await?;
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(group::unanswered())))
        .collect())
}

/// The send outs of each event of a call, or why its limits refuse it.
fn plan(
    project: &ProjectId,
    events: &[NewEvent],
    webhooks: &[Webhook],
    distributions: &[Distribution],
    now: Timestamp,
    limits: &Limits,
) -> StoreResult<Vec<Vec<SendOut>>> {
    let targets = Targets {
        webhooks,
        distributions,
    };
    Ok(fanout::plan_all(project, events, targets, now, limits)?)
}

/// Each event's outcome, from what was planned for it.
fn outcomes(events: &[NewEvent], planned: &[Vec<SendOut>]) -> Vec<IngestOutcome> {
    events
        .iter()
        .zip(planned)
        .map(|(event, send_outs)| IngestOutcome {
            event_id: event.id.clone(),
            send_outs: u32::try_from(send_outs.len()).unwrap_or(u32::MAX),
        })
        .collect()
}
