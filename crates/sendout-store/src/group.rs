//! Group commit of ingest calls, shared by both stores: callers hand their call to a
//! committer task and wait for its answer; the committer takes every call waiting at that
//! moment and writes them in one transaction (one commit, one sync and a few statements for
//! the whole group instead of per call). Each call still gets its answer only after the
//! commit, and stays atomic: if the group fails, each of its calls is written alone, so only
//! a faulty call fails. There is no timer: a call waits for the transactions already being
//! written (one on the embedded store, up to a few on PostgreSQL) and then for its own.
//!
//! **Fair between projects.** The committer keeps the calls waiting for it by project and
//! makes each group by taking one call of each project in turn, until the group holds
//! [`GROUP_EVENTS`] events or about [`GROUP_SEND_OUTS`] send outs (estimated from each
//! project's fan-out in its last committed call). A project that sends a burst of large calls
//! therefore fills groups only with what the others leave: another project's call waits for
//! the groups being written and is in the next one, whatever the burst's size.
//!
//! How a group is written is each store's (`sqlite/ingest.rs`, `postgres/group.rs`).

use std::collections::{HashMap, VecDeque};

use sendout_core::ids::ProjectId;
use tokio::sync::{mpsc, oneshot};

use crate::fanout::Limits;
use crate::model::{IngestOutcome, KeyedIngest, KeyedOutcome, NewEvent};
use crate::{StoreError, StoreResult};

/// The most events one group commit takes (a single larger call is still one transaction).
pub(crate) const GROUP_EVENTS: usize = 2_000;
/// About the most send outs one group commit takes, by each project's fan-out so far (a
/// single larger call is still one transaction, up to `max_send_outs_per_request`).
pub(crate) const GROUP_SEND_OUTS: f64 = 20_000.0;
/// How many calls may wait for the committer before callers wait to hand theirs over.
pub(crate) const QUEUE: usize = 1_024;

/// What one ingest call asks for: events, or events with keys.
pub(crate) enum Call {
    Plain(Vec<NewEvent>),
    Keyed(KeyedIngest),
}

impl Call {
    pub(crate) fn events(&self) -> &[NewEvent] {
        match self {
            Self::Plain(events) => events,
            Self::Keyed(keyed) => &keyed.events,
        }
    }
}

/// What one ingest call is answered.
pub(crate) enum Done {
    Plain(Vec<IngestOutcome>),
    Keyed(KeyedOutcome),
}

pub(crate) type Answer = StoreResult<Done>;

/// One ingest call waiting for the committer.
pub(crate) struct Job {
    pub(crate) project: ProjectId,
    pub(crate) call: Call,
    pub(crate) limits: Limits,
    reply: oneshot::Sender<Answer>,
}

/// Where callers hand their calls to a committer task.
#[derive(Debug, Clone)]
pub(crate) struct Jobs(mpsc::Sender<Job>);

impl Jobs {
    /// The handle, and the queue its committer takes calls from.
    pub(crate) fn new() -> (Self, mpsc::Receiver<Job>) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        (Self(jobs), queue)
    }

    /// Ingests the events, returning once they are committed.
    pub(crate) async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<NewEvent>,
        limits: Limits,
    ) -> StoreResult<Vec<IngestOutcome>> {
        match self.submit(project, Call::Plain(events), limits).await? {
            Done::Plain(outcomes) => Ok(outcomes),
            Done::Keyed(_) => Err(unanswered()),
        }
    }

    /// Ingests the events with their keys, returning once the outcome is committed.
    pub(crate) async fn ingest_keyed(
        &self,
        project: &ProjectId,
        keyed: KeyedIngest,
        limits: Limits,
    ) -> StoreResult<KeyedOutcome> {
        match self.submit(project, Call::Keyed(keyed), limits).await? {
            Done::Keyed(outcome) => Ok(outcome),
            Done::Plain(_) => Err(unanswered()),
        }
    }

    async fn submit(&self, project: &ProjectId, call: Call, limits: Limits) -> Answer {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            project: project.clone(),
            call,
            limits,
            reply,
        };
        let stopped = || StoreError::Database("the ingest committer has stopped".to_owned());
        self.0.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A call answered in another kind than it asked: a bug in the committer.
pub(crate) fn unanswered() -> StoreError {
    StoreError::Database("the ingest committer answered another kind of call".to_owned())
}

/// Tells each call of a group its answer (in the group's order); returns each committed
/// call's project, events and send outs made, for [`Waiting::learn`].
pub(crate) fn answer(group: Vec<Job>, answers: Vec<Answer>) -> Vec<(ProjectId, usize, u64)> {
    let mut made = Vec::with_capacity(group.len());
    let mut answers = answers.into_iter();
    for job in group {
        let answer = answers.next().unwrap_or_else(|| Err(unanswered()));
        if let Ok(done) = &answer {
            let outcomes = match done {
                Done::Plain(outcomes) => outcomes.as_slice(),
                Done::Keyed(KeyedOutcome::Answered { created, .. }) => created.as_slice(),
                Done::Keyed(KeyedOutcome::Reused { .. }) => &[],
            };
            let send_outs = outcomes.iter().map(|o| u64::from(o.send_outs)).sum();
            made.push((job.project.clone(), outcomes.len(), send_outs));
        }
        // A caller that stopped waiting has nothing to be told; its events are stored.
        let _ = job.reply.send(answer);
    }
    made
}

/// The calls waiting for a committer, by project, taken into groups in turns (see the
/// module docs), and what each project's calls made so far.
#[derive(Default)]
pub(crate) struct Waiting {
    calls: HashMap<ProjectId, VecDeque<Job>>,
    /// The projects with calls waiting, the next to serve first.
    turns: VecDeque<ProjectId>,
    len: usize,
    /// Send outs per event of each project's last committed call (1 before its first).
    fan_out: HashMap<ProjectId, f64>,
}

impl Waiting {
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes every call waiting in `queue` now, up to [`QUEUE`] held; with none held, first
    /// waits for one. False once every caller's handle is gone and nothing is held.
    pub(crate) async fn fill(&mut self, queue: &mut mpsc::Receiver<Job>) -> bool {
        if self.is_empty() {
            match queue.recv().await {
                Some(job) => self.push(job),
                None => return false,
            }
        }
        while self.len < QUEUE {
            match queue.try_recv() {
                Ok(job) => self.push(job),
                Err(_) => break,
            }
        }
        true
    }

    fn push(&mut self, job: Job) {
        let calls = self.calls.entry(job.project.clone()).or_default();
        if calls.is_empty() {
            self.turns.push_back(job.project.clone());
        }
        calls.push_back(job);
        self.len += 1;
    }

    /// The next group: one call of each project in turn, until it holds [`GROUP_EVENTS`]
    /// events or about [`GROUP_SEND_OUTS`] send outs (by each project's last fan-out). Never
    /// empty while calls wait; a single larger call is a group of its own.
    pub(crate) fn group(&mut self) -> Vec<Job> {
        let (mut events, mut send_outs) = (0usize, 0f64);
        let mut group = Vec::new();
        while let Some(project) = self.turns.pop_front() {
            let Some(calls) = self.calls.get_mut(&project) else {
                continue;
            };
            let Some(next) = calls.front() else {
                self.calls.remove(&project);
                continue;
            };
            let size = next.call.events().len();
            let fan_out = self.fan_out.get(&project).copied().unwrap_or(1.0);
            let weight = size as f64 * fan_out;
            if !group.is_empty()
                && (events + size > GROUP_EVENTS || send_outs + weight > GROUP_SEND_OUTS)
            {
                self.turns.push_front(project);
                break;
            }
            let Some(job) = calls.pop_front() else {
                continue;
            };
            events += size;
            send_outs += weight;
            self.len -= 1;
            if calls.is_empty() {
                self.calls.remove(&project);
            } else {
                self.turns.push_back(project);
            }
            group.push(job);
        }
        group
    }

    /// Remembers each project's fan-out from a group's answers.
    pub(crate) fn learn(&mut self, made: Vec<(ProjectId, usize, u64)>) {
        for (project, events, send_outs) in made {
            if events > 0 {
                self.fan_out
                    .insert(project, send_outs as f64 / events as f64);
            }
        }
        // Projects gone quiet are forgotten once the map grows large: the estimate is only
        // for the projects with calls waiting, and starts again from 1.
        if self.fan_out.len() > 4 * QUEUE {
            let calls = &self.calls;
            self.fan_out
                .retain(|project, _| calls.contains_key(project));
        }
    }
}
