//! Endpoint health: how each target (a project-settings webhook, or one channel of a
//! distribution) has been answering, read without scanning the attempts.
//!
//! **Rollups, not scans.** The completion writer of each backend adds every attempt it
//! records to a [`Rollup`] and, in the same transaction, upserts one row of `target_minutes`
//! per target and minute of the batch (attempts, successes and a latency histogram) and one
//! row of `target_health` per target (consecutive failures, last success, failure and
//! attempt). So a busy target costs two upserts per batch, not per attempt, and its figures
//! are read from at most 1,440 minute rows a day, whatever its attempt volume. Minute rows
//! older than [`KEPT`] go with the retention sweep ([`crate::Audit::prune`]).
//!
//! **The latency histogram** has [`LATENCY_BUCKETS`] buckets on a log scale: bucket 0 holds
//! durations under 2 ms, bucket `k` those from [`LATENCY_BOUNDS_MS`]`[k-1]` up to (not
//! including) `LATENCY_BOUNDS_MS[k]`, the bounds being `2^(k/2)` ms rounded (2, 3, 4, 6, 8,
//! 11, 16, …, 32768), and the last bucket 32,768 ms and more. A percentile is the upper bound
//! of the bucket its rank falls in, so the true value is below it and at least the bound
//! before it: within a factor of √2 (41 %). The last bucket reports its lower bound, 32768.
//!
//! **What counts**: every attempt recorded for a send out that is not a test (Send test
//! webhook is left out: it may go to a URL not saved yet), with the duration the audit log
//! shows for it, whatever the outcome (a timeout counts its wait, a refused connection its
//! few milliseconds). A send out failed without an attempt (its target was off) is not an
//! attempt. A webhook is a target with channel 0; a distribution has one per channel index.

use std::collections::BTreeMap;
use std::time::Duration;

use sendout_core::time::Timestamp;
use serde::Serialize;

use crate::model::{Attempt, SourceId, SourceKind};

/// The upper bounds (exclusive) of the latency buckets but the last, in milliseconds.
pub const LATENCY_BOUNDS_MS: [u64; LATENCY_BUCKETS - 1] = [
    2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048,
    2896, 4096, 5793, 8192, 11585, 16384, 23170, 32768,
];

/// How many latency buckets a minute row has (columns `b00` … `b29`).
pub const LATENCY_BUCKETS: usize = 30;

/// The length of a rollup row.
pub const MINUTE: Duration = Duration::from_secs(60);

/// The two windows shown: the last hour and the last day, each the minutes ending with the
/// current one.
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

/// How long minute rows are kept: the longest window, and the minute running.
pub const KEPT: Duration = Duration::from_secs(86_400 + 60);

const MINUTE_MS: i64 = 60_000;

/// The start of the minute `at` falls in (as the rows are keyed).
pub fn minute_of(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(MINUTE_MS) * MINUTE_MS
}

/// The first minute of the window of length `span` ending with the minute of `now`.
pub fn window_start(now: Timestamp, span: Duration) -> i64 {
    let minutes = i64::try_from(span.as_secs() / 60).unwrap_or(i64::MAX);
    minute_of(now) - (minutes - 1) * MINUTE_MS
}

/// The bucket of a duration.
pub fn latency_bucket(duration_ms: u64) -> usize {
    LATENCY_BOUNDS_MS.partition_point(|&bound| bound <= duration_ms)
}

/// The value a percentile falling in `bucket` is reported as: its upper bound, or for the
/// last bucket its lower bound.
pub fn bucket_bound(bucket: usize) -> u64 {
    LATENCY_BOUNDS_MS[bucket.min(LATENCY_BOUNDS_MS.len() - 1)]
}

/// A target: what health is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub project_id: String,
    pub source_kind: String,
    pub source_id: String,
    /// The channel's index for a distribution; 0 for a webhook.
    pub channel: i64,
}

/// How many attempts were made, how many succeeded, and how long they took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub attempts: u64,
    pub succeeded: u64,
    pub latencies: [u64; LATENCY_BUCKETS],
}

impl Tally {
    /// Counts one attempt.
    pub fn record(&mut self, succeeded: bool, duration_ms: u64) {
        self.attempts += 1;
        self.succeeded += u64::from(succeeded);
        self.latencies[latency_bucket(duration_ms)] += 1;
    }

    /// Adds another tally to this one.
    pub fn add(&mut self, other: &Tally) {
        self.attempts += other.attempts;
        self.succeeded += other.succeeded;
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            *mine += theirs;
        }
    }

    /// The share of attempts that succeeded, 0 to 1; `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.succeeded as f64 / self.attempts as f64)
    }

    /// The `q`-quantile (0 < q ≤ 1) of the durations, as [`bucket_bound`] reports it: the
    /// bucket holding the attempt of rank ⌈q·n⌉. `None` without attempts.
    pub fn percentile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latencies.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, count) in self.latencies.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_bound(bucket));
            }
        }
        Some(bucket_bound(LATENCY_BUCKETS - 1))
    }
}

/// What one batch changes of a target's running state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Run {
    /// Failures after the batch's last success (all of them if none succeeded).
    pub trailing_failures: u64,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
}

/// A batch's attempts by target and minute, and by target: what the completion writer
/// upserts, in key order (so two writers of PostgreSQL lock the rows in one order).
#[derive(Debug, Default)]
pub struct Rollup {
    attempts: BTreeMap<TargetKey, Vec<(i64, bool, u64)>>,
}

impl Rollup {
    /// Counts `attempt`, made for the send out of `target` (test send outs, and operational
    /// ones, whose targets are no webhook or channel, are left out).
    pub fn add(&mut self, target: TargetKey, is_test: bool, attempt: &Attempt) {
        if is_test
            || target.source_id == SourceId::UNSAVED_WEBHOOK
            || target.source_kind == SourceKind::Operational.as_str()
        {
            return;
        }
        self.attempts.entry(target).or_default().push((
            attempt.started_at.as_millis(),
            attempt.succeeded,
            attempt.duration_ms,
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// The minute rows to add: one per target and minute.
    pub fn minutes(&self) -> Vec<(&TargetKey, i64, Tally)> {
        let mut rows = Vec::new();
        for (target, attempts) in &self.attempts {
            let mut by_minute: BTreeMap<i64, Tally> = BTreeMap::new();
            for &(at, succeeded, duration_ms) in attempts {
                by_minute
                    .entry(minute_of(Timestamp::from_millis(at)))
                    .or_default()
                    .record(succeeded, duration_ms);
            }
            rows.extend(by_minute.into_iter().map(|(m, t)| (target, m, t)));
        }
        rows
    }

    /// Each target's run, its attempts taken in the order they started.
    pub fn runs(&self) -> Vec<(&TargetKey, Run)> {
        self.attempts
            .iter()
            .map(|(target, attempts)| {
                let mut ordered = attempts.clone();
                ordered.sort_by_key(|&(at, _, _)| at);
                let mut run = Run::default();
                for (at, succeeded, _) in ordered {
                    run.last_attempt_at = Some(at);
                    if succeeded {
                        run.last_success_at = Some(at);
                        run.trailing_failures = 0;
                    } else {
                        run.last_failure_at = Some(at);
                        run.trailing_failures += 1;
                    }
                }
                (target, run)
            })
            .collect()
    }
}

/// The histogram's columns, `b00` to `b29`.
pub(crate) fn bucket_columns() -> Vec<String> {
    (0..LATENCY_BUCKETS).map(|b| format!("b{b:02}")).collect()
}

/// Adds one minute row (`$1`–`$7`: project, kind, id, channel, minute, attempts, succeeded;
/// then one placeholder per bucket), in both dialects.
pub(crate) static UPSERT_MINUTE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = bucket_columns();
    let values: Vec<String> = (0..LATENCY_BUCKETS)
        .map(|b| format!("${}", b + 8))
        .collect();
    let sums: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = target_minutes.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO target_minutes (project_id, source_kind, source_id, channel, minute, \
         attempts, succeeded, {}) VALUES ($1, $2, $3, $4, $5, $6, $7, {}) \
         ON CONFLICT (project_id, source_kind, source_id, channel, minute) DO UPDATE SET \
         attempts = target_minutes.attempts + excluded.attempts, \
         succeeded = target_minutes.succeeded + excluded.succeeded, {}",
        columns.join(", "),
        values.join(", "),
        sums.join(", ")
    )
});

/// Moves one target's running state on by a batch's [`Run`] (`$1`–`$4` the target, then
/// trailing failures, last attempt, last success, last failure): a batch with a success
/// starts the count of consecutive failures again from its trailing ones.
pub(crate) const UPSERT_RUN: &str = "INSERT INTO target_health (project_id, source_kind, \
     source_id, channel, consecutive_failures, last_attempt_at, last_success_at, \
     last_failure_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (project_id, source_kind, source_id, channel) DO UPDATE SET \
     consecutive_failures = CASE WHEN excluded.last_success_at IS NULL \
         THEN target_health.consecutive_failures + excluded.consecutive_failures \
         ELSE excluded.consecutive_failures END, \
     last_attempt_at = COALESCE(excluded.last_attempt_at, target_health.last_attempt_at), \
     last_success_at = COALESCE(excluded.last_success_at, target_health.last_success_at), \
     last_failure_at = COALESCE(excluded.last_failure_at, target_health.last_failure_at)";

/// One hour of a target's last day, for its chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HourCount {
    pub hour_start: Timestamp,
    pub attempts: u64,
    pub succeeded: u64,
}

/// A target's health as of a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub source_kind: SourceKind,
    pub source_id: String,
    /// The channel's index for a distribution; `None` for a webhook.
    pub channel: Option<u32>,
    pub last_hour: Tally,
    pub last_day: Tally,
    /// Attempts that failed since the last one that succeeded (or since the first).
    pub consecutive_failures: u64,
    pub last_attempt_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_failure_at: Option<Timestamp>,
    /// The last day by hour (aligned to the hour, oldest first, hours without attempts
    /// left out); only in [`crate::Health::target_health`]'s answer, empty in summaries.
    pub hours: Vec<HourCount>,
}

impl TargetHealth {
    /// A target with nothing recorded.
    pub fn empty(source_kind: SourceKind, source_id: String, channel: Option<u32>) -> Self {
        Self {
            source_kind,
            source_id,
            channel,
            last_hour: Tally::default(),
            last_day: Tally::default(),
            consecutive_failures: 0,
            last_attempt_at: None,
            last_success_at: None,
            last_failure_at: None,
            hours: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sendout_core::ids::SendOutId;

    #[test]
    fn durations_fall_in_the_bucket_of_their_bounds() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(2), 1);
        assert_eq!(latency_bucket(255), 14);
        assert_eq!(latency_bucket(256), 15);
        assert_eq!(latency_bucket(300), 15);
        assert_eq!(bucket_bound(15), 362);
        assert_eq!(latency_bucket(32_767), 28);
        assert_eq!(latency_bucket(32_768), 29);
        assert_eq!(latency_bucket(u64::MAX), 29);
        assert_eq!(bucket_bound(29), 32_768);
        for pair in LATENCY_BOUNDS_MS.windows(2) {
            let ratio = pair[1] as f64 / pair[0] as f64;
            assert!(
                ratio <= 1.5,
                "{pair:?}: each bound within about √2 of the last"
            );
        }
    }

    #[test]
    fn percentiles_are_the_upper_bound_of_the_bucket_their_rank_falls_in() {
        let mut tally = Tally::default();
        for _ in 0..90 {
            tally.record(true, 5);
        }
        for _ in 0..10 {
            tally.record(false, 300);
        }
        assert_eq!(tally.percentile_ms(0.5), Some(6));
        assert_eq!(tally.percentile_ms(0.9), Some(6));
        assert_eq!(tally.percentile_ms(0.95), Some(362));
        assert_eq!(tally.success_rate(), Some(0.9));
        assert_eq!(Tally::default().percentile_ms(0.5), None);
        assert_eq!(Tally::default().success_rate(), None);
    }

    fn attempt(at: i64, succeeded: bool) -> Attempt {
        Attempt {
            send_out_id: SendOutId::new(),
            number: 1,
            started_at: Timestamp::from_millis(at),
            duration_ms: 10,
            response_status: Some(if succeeded { 200 } else { 500 }),
            response_body: None,
            error: None,
            succeeded,
        }
    }

    #[test]
    fn a_batch_counts_failures_after_its_last_success_in_the_order_attempts_started() {
        let target = TargetKey {
            project_id: "proj_a".into(),
            source_kind: "webhook".into(),
            source_id: "wh_a".into(),
            channel: 0,
        };
        let mut rollup = Rollup::default();
        for (at, ok) in [
            (3_000, false),
            (1_000, false),
            (2_000, true),
            (61_000, false),
        ] {
            rollup.add(target.clone(), false, &attempt(at, ok));
        }
        rollup.add(target.clone(), true, &attempt(70_000, true));
        let runs = rollup.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            runs[0].1,
            Run {
                trailing_failures: 2,
                last_attempt_at: Some(61_000),
                last_success_at: Some(2_000),
                last_failure_at: Some(61_000),
            }
        );
        let minutes = rollup.minutes();
        assert_eq!(minutes.len(), 2, "two minutes, the test left out");
        assert_eq!((minutes[0].1, minutes[0].2.attempts), (0, 3));
        assert_eq!((minutes[1].1, minutes[1].2.attempts), (60_000, 1));
    }
}
