//! The delivery worker: claims due send outs from the store with a lease, runs their attempts
//! with bounded concurrency, and writes the outcomes back in batches.
//!
//! Invariants:
//! - at most `delivery_concurrency` attempts run at once, and at most
//!   `delivery_concurrency_per_host` to one host; the worker claims only as many send outs as
//!   it has room for, and a busy host's claims wait in that host's queue (see [`super::hosts`]),
//!   so one slow host never holds up another's;
//! - at most `delivery_concurrency_per_project` of those slots are held by one project's
//!   claims (running or queued for their host) to hosts that are not known to be quick,
//!   whatever hosts its targets name: while a project holds that many, the worker's claims
//!   skip its send outs ([`sendout_store::Queue::claim_due_except`]), and a claim of it
//!   handed over by ingest for such a host is given back due again after [`PROJECT_DEFER`],
//!   so the other projects always have slots; the store shares each claim between the
//!   projects with due work besides. A slot whose host answers on average within
//!   [`super::hosts::QUICK_HOST`] is lent rather than counted: it is free again within about
//!   that time, so lending it costs another project at most that wait, while counting it
//!   made a lone project's deliveries to one quick receiver defer and claim again (half the
//!   benchmark's batched throughput). A host is not known to be quick until measured, and a
//!   claim counted when placed is let go as counted, so a host turning slow holds at most
//!   the lent slots of one delivery timeout;
//! - it claims in batches: while busy, only once half of its room is free
//!   ([`Worker::should_claim`]), since every claim is a write transaction; claiming
//!   the one slot each finished attempt frees cost a transaction per delivery;
//! - it looks at the store only when there may be work it has not claimed: on the work
//!   signal, at the next due time, or after a claim that filled its room; an attempt's end
//!   alone is no reason; and after a claim that did not fill its room, not again before
//!   [`CLAIM_GAP`] has passed (so one claim takes what several ingest commits made);
//! - it never polls in a loop: when nothing is due it sleeps until the store's next due time,
//!   its own next retry, or the store's work signal (new events, retry requests), and at most
//!   [`IDLE_RECHECK`] (work made by another process sharing the database);
//! - fresh send outs come without a claim where the store can hand them over
//!   ([`Store::hand_off`]): ingest leases as many as the worker's inbox has room for and
//!   sends their claims there after the commit. The inbox holds up to [`INBOX_ROOMS`] times
//!   `delivery_concurrency` claims besides the worker's room, and the worker takes from it
//!   whenever it has room; while the store also holds due work (a backlog, retries), the two
//!   take turns: after a claim of `n` from the store, the inbox may fill `n` slots before the
//!   next claim, so neither the fresh nor the older work waits for the other to run out. A
//!   handed claim whose lease is too near its end to finish within it (it waited too long in
//!   the inbox) is released instead of attempted;
//! - completions go to one writer task that commits them in batches ([`WRITE_BATCH`], or after
//!   [`WRITE_DELAY`]); a batch the store refuses for a full disk is kept and tried again
//!   (every [`FULL_DISK_RETRY`] at most) until it is written, so an attempt made is recorded
//!   once there is room, not made again; meanwhile the writer's queue fills and the worker
//!   stops starting attempts (a claim needs a write too);
//! - on cancellation it stops claiming (abandoning a claim still waiting for the store), lets
//!   running attempts finish (each is bounded by the delivery timeout), releases claims it has
//!   not attempted (and what is left in its inbox, which it closes), flushes the writer, and
//!   only then marks itself not alive; the release and the flush each give up after
//!   [`SHUTDOWN_WRITE_TIMEOUT`] (a database that is gone must not hold the stop: the leases
//!   bring back what was not written).
//!
//! [`deliver_due`] is one worker step as a plain function, for tests and one-shot runs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;
use sendout_store::{Claim, Completion, Handoff, Lease, Next, Store, StoreError, StoreResult};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::hosts::{Hosts, Placement};
use super::Deliverer;
use crate::config::Config;

/// The longest the worker sleeps without checking the store.
pub const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// The most send outs claimed at once.
pub const CLAIM_BATCH: usize = 256;
/// The longest the completion writer waits between two tries of a batch the store refused
/// because its disk is full (see the module docs).
pub const FULL_DISK_RETRY: Duration = Duration::from_secs(1);
/// The most completions committed in one transaction.
pub const WRITE_BATCH: usize = 256;
/// How long the writer waits for more completions before committing.
pub const WRITE_DELAY: Duration = Duration::from_millis(5);
/// How many times its room the worker's inbox of handed-over claims holds. While ingest
/// outpaces delivery, what does not fit waits in the store for a claim transaction; with an
/// inbox four times the room instead of once, the benchmark's batched fan-out-4 run went
/// from 18,300–19,200 to 19,700–21,000 deliveries/s. A claim waits there at most until the
/// worker has room for it, and one left too long is released (see the module docs).
pub const INBOX_ROOMS: usize = 4;
/// Once shutdown has begun, how long releasing unstarted claims, and separately flushing the
/// last outcomes, may take. With the database gone each store call could otherwise wait the
/// pool's acquire timeout, times the writer's retries; what is not written by then comes back
/// when its lease runs out (delivery is at least once).
pub const SHUTDOWN_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// One worker step: claims up to `limit` due send outs, makes their attempts (at most
/// `delivery_concurrency` at once) and commits the outcomes. Returns them; empty when
/// nothing was due.
pub async fn deliver_due(
    store: &dyn Store,
    deliverer: &Deliverer,
    config: &Config,
    limit: u32,
) -> StoreResult<Vec<Completion>> {
    let claims = store
        .claim_due(Timestamp::now(), limit, config.lease)
        .await?;
    let completions: Vec<Completion> = futures::stream::iter(&claims)
        .map(|claim| deliverer.attempt(claim))
        .buffer_unordered(config.delivery_concurrency.max(1))
        .collect()
        .await;
    store.complete(completions.clone()).await?;
    Ok(completions)
}

/// Starts the worker; it runs until `cancel` fires and has shut down gracefully.
pub fn spawn(
    store: Arc<dyn Store>,
    deliverer: Arc<Deliverer>,
    config: Arc<Config>,
    cancel: CancellationToken,
    alive: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        alive.store(true, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(WRITE_BATCH * 4);
        let give_up = CancellationToken::new();
        let mut writer = tokio::spawn(write_completions(store.clone(), rx, give_up.clone()));
        let mut worker = Worker::new(store.clone(), deliverer, &config, tx, cancel.clone());
        let (inbox, handed) = mpsc::channel(worker.capacity * INBOX_ROOMS);
        let handoff = Handoff {
            inbox,
            lease: config.lease,
        };
        if store.hand_off(handoff) {
            worker.inbox = Some(handed);
        }
        worker.run(cancel).await;
        // Only the final flush is left: bound it (see SHUTDOWN_WRITE_TIMEOUT).
        let ended = tokio::select! {
            ended = &mut writer => ended,
            () = tokio::time::sleep(SHUTDOWN_WRITE_TIMEOUT) => {
                give_up.cancel();
                writer.await
            }
        };
        if let Err(e) = ended {
            tracing::error!(error = %e, "the completion writer ended abnormally");
        }
        alive.store(false, Ordering::SeqCst);
        tracing::info!("delivery worker stopped");
    })
}

/// When the worker looks at the store again.
enum LookAgain {
    /// A full batch was claimed and there is room for more.
    Now,
    /// When the next send out falls due.
    At(Instant),
    /// Nothing known: on the work signal, an attempt's end, or after [`IDLE_RECHECK`].
    Idle,
}

/// What a finished attempt task reports to the worker.
struct Done {
    took: Duration,
    retry_at: Option<Timestamp>,
}

struct Worker {
    store: Arc<dyn Store>,
    deliverer: Arc<Deliverer>,
    completions: mpsc::Sender<Completion>,
    /// Fired when shutdown begins; from then on a release is bounded by
    /// [`SHUTDOWN_WRITE_TIMEOUT`].
    stopping: CancellationToken,
    lease: Duration,
    capacity: usize,
    hosts: Hosts<Claim>,
    /// Most counted claims one project may hold at once, running or queued for their host.
    per_project: usize,
    /// How many counted claims each project holds, running or queued (absent: none).
    held: HashMap<ProjectId, usize>,
    /// The claims counted in `held` (those placed for a host not known to be quick).
    counted: HashSet<SendOutId>,
    tasks: JoinSet<Done>,
    /// The host, project and send out of each running task.
    running: HashMap<tokio::task::Id, (String, ProjectId, SendOutId)>,
    /// The earliest retry this worker scheduled (the writer may not have committed it yet).
    own_retry: Option<Timestamp>,
    /// Whether the last claim filled the room, so more may be due at once.
    more_due: bool,
    /// No claim before this, after one that did not fill the room ([`CLAIM_GAP`]).
    hold_until: Option<Instant>,
    /// Where ingest hands over fresh send outs, if the store does (see the module docs).
    inbox: Option<mpsc::Receiver<Claim>>,
    /// How many slots the inbox may still fill before the next claim from the store.
    inbox_turn: usize,
    /// A handed claim with less of its lease left than this is released, not attempted:
    /// it could wait for its host up to the queue's budget, then take the whole timeout.
    least_lease_left: Duration,
}

/// The least time between the start of a claim that did not fill the worker's room and the
/// next claim. A claim is a write transaction whatever it finds, and at moderate rates every
/// ingest commit's work signal would otherwise make one for the one or two send outs it
/// committed: at 1,000 events/s half the writer's transactions were such claims, and ingest
/// waited behind them. Holding claims for a few milliseconds lets one claim take what
/// several commits made. An idle worker's first claim is not held (the last one was long
/// ago), and neither is one after a full claim (more is due at once).
pub const CLAIM_GAP: Duration = Duration::from_millis(4);

/// How long a handed-over claim of a project holding its whole share of the slots waits in
/// the store before it is due again.
pub const PROJECT_DEFER: Duration = Duration::from_millis(250);

/// How soon to look again at a send out due already but not claimed (another worker's).
const RACE_RECHECK: Duration = Duration::from_millis(10);

/// The instant a wall-clock time falls at (now, if it has passed).
fn instant_at(at: Timestamp) -> Instant {
    let ms = (at.as_millis() - Timestamp::now().as_millis()).max(0);
    Instant::now() + Duration::from_millis(ms.unsigned_abs())
}

impl Worker {
    fn new(
        store: Arc<dyn Store>,
        deliverer: Arc<Deliverer>,
        config: &Config,
        completions: mpsc::Sender<Completion>,
        stopping: CancellationToken,
    ) -> Self {
        // A queued claim waits at most about one attempt's timeout, and starts early enough to
        // finish well within its lease.
        let budget = config
            .delivery_timeout
            .min(config.lease.saturating_sub(config.delivery_timeout) / 2);
        Self {
            store,
            deliverer,
            completions,
            stopping,
            lease: config.lease,
            capacity: config.delivery_concurrency.max(1),
            hosts: Hosts::new(config.delivery_concurrency_per_host, budget),
            per_project: config.delivery_concurrency_per_project(),
            held: HashMap::new(),
            counted: HashSet::new(),
            tasks: JoinSet::new(),
            running: HashMap::new(),
            own_retry: None,
            more_due: false,
            hold_until: None,
            inbox: None,
            inbox_turn: 0,
            least_lease_left: budget + config.delivery_timeout,
        }
    }

    /// Whether handed-over claims wait that have the turn before the next claim.
    fn inbox_has_turn(&self) -> bool {
        self.inbox_turn > 0 && self.inbox.as_ref().is_some_and(|inbox| !inbox.is_empty())
    }

    fn free(&self) -> usize {
        self.capacity
            .saturating_sub(self.tasks.len() + self.hosts.queued())
    }

    /// Whether there is room enough to claim: half the capacity, up to a claim batch (so an
    /// idle worker always claims). Claims of a quarter made twice the transactions for the
    /// same work: the benchmark's batched fan-out-4 run was about 15 % slower with them.
    fn should_claim(&self) -> bool {
        self.free() >= (self.capacity / 2).clamp(1, CLAIM_BATCH)
    }

    async fn run(mut self, cancel: CancellationToken) {
        let signal = self.store.work_signal();
        let mut stopping = false;
        // Whether the store may hold due work this worker has not claimed: at the start, on
        // the work signal, at the time the last look named, and after a claim that filled
        // the room. An attempt's end alone is no reason to look: claiming after every one
        // made a write transaction per delivery at moderate rates, and the queue of those
        // transactions, not the work, set the latency.
        let mut look = true;
        let mut wake = Instant::now() + IDLE_RECHECK;
        let mut handed = Vec::new();
        loop {
            // Armed before looking at the store, so a wake-up during the look is not lost.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let held = self.hold_until.is_some_and(|until| Instant::now() < until);
            if look
                && !held
                && !stopping
                && !cancel.is_cancelled()
                && self.should_claim()
                && !self.inbox_has_turn()
            {
                look = false;
                wake = Instant::now() + IDLE_RECHECK;
                match self.claim().await {
                    Ok(LookAgain::Now) => {
                        look = true;
                        continue;
                    }
                    Ok(LookAgain::At(at)) => wake = wake.min(at),
                    Ok(LookAgain::Idle) => {}
                    Err(e) => tracing::error!(error = %e, "claiming due send outs failed"),
                }
            }
            let room = self.free();
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if !stopping => {
                    stopping = true;
                    let mut unstarted = self.hosts.drain();
                    unstarted.extend(self.close_inbox().await);
                    self.release(unstarted).await;
                }
                Some(joined) = self.tasks.join_next_with_id() => {
                    self.finished(joined).await;
                    look |= self.more_due;
                    if let Some(at) = self.own_retry {
                        wake = wake.min(instant_at(at));
                    }
                }
                n = from_inbox(&mut self.inbox, &mut handed, room), if !stopping && room > 0 =>
                {
                    if n == 0 {
                        // Every sender is gone: the store was dropped.
                        self.inbox = None;
                    }
                    self.inbox_turn = self.inbox_turn.saturating_sub(n);
                    self.take_handed(&mut handed).await;
                }
                _ = &mut notified, if !stopping => look = true,
                // While `look` waits for room, the attempts' ends wake the worker.
                _ = tokio::time::sleep_until(wake.into()),
                    if !stopping && (!look || self.tasks.is_empty()) =>
                {
                    look = true;
                    wake = Instant::now() + IDLE_RECHECK;
                }
                // A look held by the claim gap happens when the gap ends.
                _ = tokio::time::sleep_until(self.hold_until.unwrap_or(wake).into()),
                    if !stopping && look && held => {}
                else => break,
            }
            if stopping && self.tasks.is_empty() {
                break;
            }
        }
        // Dropping the last sender lets the writer flush and end.
        drop(self.completions);
    }

    /// Claims as many due send outs as there is room for, places them, and says when to look
    /// at the store again. A claim still waiting for the store [`SHUTDOWN_WRITE_TIMEOUT`]
    /// after shutdown began is abandoned: with the database gone it could wait the pool's
    /// whole acquire timeout, and whatever it may have leased comes back when the lease runs
    /// out.
    async fn claim(&mut self) -> StoreResult<LookAgain> {
        let room = self.free().min(CLAIM_BATCH);
        let now = Timestamp::now();
        let started = Instant::now();
        let full_projects = self.full_projects();
        let claim_due = self.store.claim_due_except(
            now,
            u32::try_from(room).unwrap_or(u32::MAX),
            self.lease,
            &full_projects,
        );
        // Not at once: dropping a claim in the middle of its transaction left the embedded
        // store's write lock taken until the process ended, and a healthy store answers
        // well within the bound.
        let give_up = async {
            self.stopping.cancelled().await;
            tokio::time::sleep(SHUTDOWN_WRITE_TIMEOUT).await;
        };
        let claims = tokio::select! {
            claims = claim_due => claims?,
            () = give_up => return Ok(LookAgain::Idle),
        };
        let full = claims.len() == room;
        self.more_due = full;
        self.inbox_turn = claims.len();
        self.hold_until = (!full).then_some(started + CLAIM_GAP);
        let mut deferred = false;
        for claim in claims {
            deferred |= self.place(claim).await;
        }
        let mut due = match (full, deferred) {
            (true, false) if self.should_claim() => return Ok(LookAgain::Now),
            // More is due, but claiming it at once would only defer more of a saturated
            // host: wait for an attempt to end (or the deferrals to come due).
            (true, true) => None,
            _ => tokio::select! {
                due = self.store.next_due_at() => due?,
                () = self.stopping.cancelled() => return Ok(LookAgain::Idle),
            },
        };
        if let Some(own) = self.own_retry {
            if own <= now {
                self.own_retry = None;
            } else {
                due = Some(due.map_or(own, |d| d.min(own)));
            }
        }
        Ok(match due {
            None => LookAgain::Idle,
            // Due already yet not claimed (a racing worker): look again shortly.
            Some(at) => LookAgain::At(instant_at(at).max(Instant::now() + RACE_RECHECK)),
        })
    }

    /// Places claims ingest handed over, releasing those whose lease is too near its end.
    async fn take_handed(&mut self, handed: &mut Vec<Claim>) {
        let too_late = Timestamp::now().plus(self.least_lease_left);
        let mut stale = Vec::new();
        for claim in handed.drain(..) {
            if claim.lease_until < too_late {
                stale.push(claim);
            } else {
                self.place(claim).await;
            }
        }
        self.release(stale).await;
    }

    /// Closes the inbox and returns what was left in it, including the claims of an ingest
    /// commit that reserved room before the close (waiting for it at most
    /// [`SHUTDOWN_WRITE_TIMEOUT`]).
    async fn close_inbox(&mut self) -> Vec<Claim> {
        let Some(mut inbox) = self.inbox.take() else {
            return Vec::new();
        };
        inbox.close();
        let mut left = Vec::new();
        let drain = async {
            while let Some(claim) = inbox.recv().await {
                left.push(claim);
            }
        };
        if tokio::time::timeout(SHUTDOWN_WRITE_TIMEOUT, drain)
            .await
            .is_err()
        {
            tracing::error!(
                "an ingest commit still holds room in the closed inbox; its leases will expire"
            );
        }
        left
    }

    /// Starts, queues or defers a claim; true if it was deferred.
    async fn place(&mut self, claim: Claim) -> bool {
        if !claim.target_active || !claim.send_out.is_sendable() {
            // No request is made, so no host slot is taken.
            let completion = self.deliverer.attempt(&claim).await;
            self.write(completion).await;
            return false;
        }
        let project = claim.send_out.project_id.clone();
        let id = claim.send_out.id.clone();
        let key = self.deliverer.host_key(&claim.send_out.target_url);
        let counts = !self.hosts.is_quick(&key);
        if counts && self.held.get(&project).copied().unwrap_or(0) >= self.per_project {
            // Only a handed-over claim gets here (claims from the store skip full projects).
            tracing::debug!(sendout.id = %id.as_str(), project = %project.as_str(),
                "project at its share of the slots, deferring");
            self.defer(claim, PROJECT_DEFER).await;
            return true;
        }
        match self.hosts.place(&key, claim, Instant::now()) {
            Placement::Start(claim) => {
                self.hold(&project, &id, counts);
                self.start(key, claim);
            }
            Placement::Queued => self.hold(&project, &id, counts),
            Placement::Defer(claim, after) => {
                tracing::debug!(sendout.id = %claim.send_out.id.as_str(), target = %key,
                    defer_ms = after.as_millis() as u64, "host saturated, deferring");
                self.defer(claim, after).await;
                return true;
            }
        }
        false
    }

    /// The projects that hold their whole share of the slots: the next claim skips them.
    fn full_projects(&self) -> HashSet<ProjectId> {
        self.held
            .iter()
            .filter(|(_, &n)| n >= self.per_project)
            .map(|(project, _)| project.clone())
            .collect()
    }

    /// Counts a placed claim in its project's share, unless its host is lent (`counts` false).
    fn hold(&mut self, project: &ProjectId, id: &SendOutId, counts: bool) {
        if counts && self.counted.insert(id.clone()) {
            *self.held.entry(project.clone()).or_insert(0) += 1;
        }
    }

    /// Takes a claim that ended or was released out of its project's share, if it counted.
    fn let_go(&mut self, project: &ProjectId, id: &SendOutId) {
        if !self.counted.remove(id) {
            return;
        }
        if let Some(n) = self.held.get_mut(project) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.held.remove(project);
            }
        }
    }

    /// Gives a claim back without an attempt, due again `after` from now.
    async fn defer(&mut self, claim: Claim, after: Duration) {
        let now = Timestamp::now();
        let at = now.plus(after);
        self.note_retry(at);
        self.write(Completion {
            send_out_id: claim.send_out.id.clone(),
            attempt: None,
            next: Next::RetryAt(at),
            at: now,
            lease: Some(claim.lease_until),
            exhausted_window: None,
        })
        .await;
    }

    fn start(&mut self, key: String, claim: Claim) {
        let project = claim.send_out.project_id.clone();
        let id = claim.send_out.id.clone();
        let deliverer = self.deliverer.clone();
        let completions = self.completions.clone();
        let handle = self.tasks.spawn(async move {
            let started = Instant::now();
            let completion = deliverer.attempt(&claim).await;
            let took = started.elapsed();
            let retry_at = match completion.next {
                Next::RetryAt(at) => Some(at),
                _ => None,
            };
            if completions.send(completion).await.is_err() {
                tracing::error!("the completion writer is gone; the lease will expire");
            }
            Done { took, retry_at }
        });
        self.running.insert(handle.id(), (key, project, id));
    }

    async fn finished(&mut self, joined: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        let (id, took) = match joined {
            Ok((id, done)) => {
                if let Some(at) = done.retry_at {
                    self.note_retry(at);
                }
                (id, done.took)
            }
            Err(e) => {
                tracing::error!(error = %e, "a delivery attempt task failed");
                (e.id(), Duration::ZERO)
            }
        };
        let Some((key, project, send_out)) = self.running.remove(&id) else {
            return;
        };
        self.let_go(&project, &send_out);
        let next = self.hosts.finished(&key, took, Instant::now());
        if let Some(claim) = next.start {
            // Held since it was queued.
            self.start(key, claim);
        }
        for stale in &next.stale {
            self.let_go(&stale.send_out.project_id, &stale.send_out.id);
        }
        self.release(next.stale).await;
    }

    /// Remembers a retry this worker scheduled, to wake for it even before it is committed.
    fn note_retry(&mut self, at: Timestamp) {
        self.own_retry = Some(self.own_retry.map_or(at, |own| own.min(at)));
    }

    async fn release(&self, claims: Vec<Claim>) {
        if claims.is_empty() {
            return;
        }
        let leases: Vec<Lease> = claims.iter().map(Claim::lease).collect();
        let release = self.store.release(&leases);
        let released = if self.stopping.is_cancelled() {
            tokio::time::timeout(SHUTDOWN_WRITE_TIMEOUT, release).await
        } else {
            Ok(release.await)
        };
        // Either way the leases run out by themselves; the send outs are not lost.
        match released {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, count = leases.len(), "releasing claims failed")
            }
            Err(_) => tracing::error!(
                count = leases.len(),
                "releasing claims at shutdown timed out; their leases will expire"
            ),
        }
    }

    async fn write(&self, completion: Completion) {
        if self.completions.send(completion).await.is_err() {
            tracing::error!("the completion writer is gone; the lease will expire");
        }
    }
}

/// Commits completions in batches until every sender is gone. A batch the store refuses is
/// retried a few times; if it still fails, its leases run out and the send outs are attempted
/// again (delivery is at least once). A batch refused for a full disk is retried for as long
/// as the disk stays full (every [`FULL_DISK_RETRY`] at most), not dropped: the attempts were
/// made, and writing them once there is room spares the receivers a second delivery. When
/// `give_up` fires (the final flush took [`SHUTDOWN_WRITE_TIMEOUT`]) it stops at once, logging
/// how many outcomes it did not write.
async fn write_completions(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Completion>,
    give_up: CancellationToken,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let deadline = tokio::time::sleep(WRITE_DELAY);
        tokio::pin!(deadline);
        while batch.len() < WRITE_BATCH {
            let room = WRITE_BATCH - batch.len();
            tokio::select! {
                more = rx.recv_many(&mut batch, room) => if more == 0 { break },
                _ = &mut deadline => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        let mut gave_up = false;
        let mut attempt = 0;
        let mut full_since: Option<Instant> = None;
        loop {
            let completed = tokio::select! {
                completed = store.complete(batch.clone()) => completed,
                () = give_up.cancelled() => {
                    gave_up = true;
                    break;
                }
            };
            let full = matches!(completed, Err(StoreError::Full(_)));
            if !full {
                attempt += 1;
            }
            match completed {
                Ok(()) => {
                    if let Some(since) = full_since {
                        tracing::info!(
                            count = batch.len(),
                            waited_ms = since.elapsed().as_millis() as u64,
                            "outcomes written now that the store has room again"
                        );
                    }
                    batch
                        .iter()
                        .for_each(|c| crate::metrics::global().completed(c));
                    break;
                }
                Err(e) if !full && attempt == 5 => {
                    tracing::error!(error = %e, count = batch.len(), "writing outcomes failed; their leases will expire");
                    break;
                }
                Err(e) => {
                    if full && full_since.is_none() {
                        full_since = Some(Instant::now());
                        tracing::error!(error = %e, count = batch.len(),
                            "the store is full; keeping the outcomes until there is room");
                    } else if !full {
                        tracing::warn!(error = %e, "writing outcomes failed, retrying");
                    }
                    let wait = if full {
                        backoff.min(FULL_DISK_RETRY)
                    } else {
                        backoff
                    };
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = give_up.cancelled() => {
                            gave_up = true;
                            break;
                        }
                    }
                    backoff = backoff.saturating_mul(4);
                }
            }
        }
        if gave_up {
            let unwritten = batch.len() + rx.len();
            tracing::error!(
                count = unwritten,
                "writing outcomes at shutdown timed out; their leases will expire"
            );
            return;
        }
        batch.clear();
    }
}

/// Waits for up to `limit` claims from the inbox (forever if there is none); returns how
/// many arrived, 0 if every sender is gone.
async fn from_inbox(
    inbox: &mut Option<mpsc::Receiver<Claim>>,
    into: &mut Vec<Claim>,
    limit: usize,
) -> usize {
    match inbox {
        Some(inbox) => inbox.recv_many(into, limit).await,
        None => std::future::pending().await,
    }
}
