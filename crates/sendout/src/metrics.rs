//! The process's Prometheus metrics: what happened since it started (counters and the
//! delivery latency histogram), updated where things happen, and the queue as the store sees
//! it (gauges), read from the store when `/metrics` is scraped.
//!
//! Invariants:
//! - one registry per process ([`global`]), as with the `metrics` crate's global recorder:
//!   the ingest handler and the worker's completion writer update it without being handed it,
//!   and a process runs one sendout (tests that run several apps in one process share it);
//! - counters are updated after the store has committed what they count (ingest's 202, the
//!   completion writer's batch), so a rolled-back write is never counted;
//! - except `operational_given_up`, counted by the worker when it gives an operational send
//!   out up (before its outcome is written: an outcome whose write fails is decided again
//!   after the lease, and may be counted twice; never missed);
//! - labels carry statuses and outcomes only, never a project, webhook or URL: the endpoint
//!   needs no key because it reveals no tenant's data, and label sets stay small and fixed.

use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use sendout_core::time::Timestamp;
use sendout_store::{Attempt, Completion, Next, QueueStats};

/// One label, `name="value"`, with values from a fixed set.
type Label = [(&'static str, &'static str); 1];

/// Upper bounds of the delivery latency buckets, in seconds: from a loopback delivery (1 ms)
/// through the retry schedule's minutes and hours to a day.
const LATENCY_BUCKETS: [f64; 20] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 14_400.0, 86_400.0,
];

/// The metrics of this process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events_ingested: Counter,
    send_outs_created: Counter,
    send_outs_completed: Family<Label, Counter>,
    attempts: Family<Label, Counter>,
    delivery_latency: Histogram,
    queue_depth: Gauge,
    queue_due: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
    operational_given_up: Counter,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sendout");
        let metrics = Self {
            events_ingested: Counter::default(),
            send_outs_created: Counter::default(),
            send_outs_completed: Family::default(),
            attempts: Family::default(),
            delivery_latency: Histogram::new(LATENCY_BUCKETS),
            queue_depth: Gauge::default(),
            queue_due: Gauge::default(),
            oldest_due_age: Gauge::default(),
            operational_given_up: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_ingested",
            "Events accepted by the ingest API (committed)",
            metrics.events_ingested.clone(),
        );
        registry.register(
            "send_outs_created",
            "Send outs made by ingest (fan-out)",
            metrics.send_outs_created.clone(),
        );
        registry.register(
            "send_outs_completed",
            "Scheduled attempts' results by the status they left the send out in \
             (SUCCEEDED, RETRYING, FAILED)",
            metrics.send_outs_completed.clone(),
        );
        registry.register(
            "attempts",
            "Delivery attempts by outcome: the response's status class, or error \
             (timeout, connection, refused target)",
            metrics.attempts.clone(),
        );
        registry.register_with_unit(
            "delivery_latency",
            "From a send out's creation (ingest) to the end of its successful attempt",
            Unit::Seconds,
            metrics.delivery_latency.clone(),
        );
        registry.register(
            "queue_depth",
            "Open send outs (PENDING or RETRYING), due or scheduled",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "queue_due",
            "Open send outs due now and not leased to a worker",
            metrics.queue_due.clone(),
        );
        registry.register_with_unit(
            "oldest_due_age",
            "How long the longest-waiting due send out has been due (0 when none is)",
            Unit::Seconds,
            metrics.oldest_due_age.clone(),
        );
        registry.register(
            "operational_given_up",
            "Operational send outs given up after their last retry (an operational URL is \
             never disabled; each is also logged at error level)",
            metrics.operational_given_up.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts a committed ingest call.
    pub fn ingested(&self, events: u64, send_outs: u64) {
        self.events_ingested.inc_by(events);
        self.send_outs_created.inc_by(send_outs);
    }

    /// Counts a committed completion of a scheduled attempt. A deferral (a busy host's claim
    /// given back without an attempt) changes nothing and is not counted.
    pub fn completed(&self, completion: &Completion) {
        let status = match (&completion.next, &completion.attempt) {
            (Next::RetryAt(_), None) => return,
            (Next::Succeeded, _) => "SUCCEEDED",
            (Next::RetryAt(_), Some(_)) => "RETRYING",
            (Next::Failed { .. }, _) => "FAILED",
        };
        self.send_outs_completed
            .get_or_create(&[("status", status)])
            .inc();
        let Some(attempt) = &completion.attempt else {
            return;
        };
        self.attempts
            .get_or_create(&[("outcome", outcome(attempt))])
            .inc();
        if attempt.succeeded {
            // Send-out ids carry their creation time (ULID), to the millisecond.
            let created_ms = i64::try_from(completion.send_out_id.timestamp_ms()).unwrap_or(0);
            let ended_ms = attempt.started_at.as_millis()
                + i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX / 2);
            let latency_ms = (ended_ms - created_ms).max(0);
            self.delivery_latency.observe(latency_ms as f64 / 1000.0);
        }
    }

    /// Counts an operational send out given up.
    pub fn operational_given_up(&self) {
        self.operational_given_up.inc();
    }

    /// Sets the queue gauges from the store's view at `now`.
    pub fn set_queue(&self, stats: &QueueStats, now: Timestamp) {
        self.queue_depth
            .set(i64::try_from(stats.open).unwrap_or(i64::MAX));
        self.queue_due
            .set(i64::try_from(stats.due).unwrap_or(i64::MAX));
        let age_ms = stats
            .oldest_due_at
            .map_or(0, |at| (now.as_millis() - at.as_millis()).max(0));
        self.oldest_due_age.set(age_ms as f64 / 1000.0);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The `outcome` label of an attempt with this response status (`None`: no response).
/// An attempt's class: its status's, except that a `2xx` that still failed (its body timed out
/// or was cut short) is an `error`, as a timeout without a status is.
fn outcome(attempt: &Attempt) -> &'static str {
    match attempt.response_status {
        None => "error",
        Some(200..=299) if !attempt.succeeded => "error",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use sendout_core::ids::SendOutId;

    use super::*;

    fn completion(next: Next, status: Option<u16>) -> Completion {
        let id = SendOutId::new();
        let now = Timestamp::now();
        Completion {
            send_out_id: id.clone(),
            attempt: Some(Attempt {
                send_out_id: id,
                number: 1,
                started_at: now,
                duration_ms: 3,
                response_status: status,
                response_body: None,
                error: None,
                succeeded: status.is_some_and(|s| (200..300).contains(&s)),
            }),
            next,
            at: now,
            lease: None,
            exhausted_window: None,
        }
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix} in\n{text}"))
    }

    #[test]
    fn completions_are_counted_by_status_and_outcome_and_deferrals_are_not() {
        let metrics = Metrics::new();
        metrics.completed(&completion(Next::Succeeded, Some(204)));
        metrics.completed(&completion(Next::RetryAt(Timestamp::now()), Some(500)));
        metrics.completed(&completion(Next::RetryAt(Timestamp::now()), None));
        let mut trickled = completion(Next::RetryAt(Timestamp::now()), Some(200));
        if let Some(attempt) = trickled.attempt.as_mut() {
            attempt.succeeded = false;
            attempt.error = Some("timed out after 700 ms: the target answered 200".into());
        }
        metrics.completed(&trickled);
        let mut deferred = completion(Next::RetryAt(Timestamp::now()), None);
        deferred.attempt = None;
        metrics.completed(&deferred);

        let text = metrics.encode().expect("encodes");
        assert_eq!(
            line(
                &text,
                "sendout_send_outs_completed_total{status=\"RETRYING\"}"
            ),
            "sendout_send_outs_completed_total{status=\"RETRYING\"} 3"
        );
        assert!(text.contains("sendout_attempts_total{outcome=\"2xx\"} 1"));
        assert!(text.contains("sendout_attempts_total{outcome=\"5xx\"} 1"));
        assert!(text.contains("sendout_attempts_total{outcome=\"error\"} 2"));
        assert!(text.contains("sendout_delivery_latency_seconds_count 1"));
    }

    #[test]
    fn the_oldest_due_age_is_zero_when_nothing_is_due() {
        let metrics = Metrics::new();
        let now = Timestamp::now();
        metrics.set_queue(
            &QueueStats {
                open: 5,
                due: 0,
                oldest_due_at: None,
            },
            now,
        );
        let text = metrics.encode().expect("encodes");
        assert!(text.contains("sendout_queue_depth 5"), "{text}");
        assert!(
            text.contains("sendout_oldest_due_age_seconds 0.0"),
            "{text}"
        );
        metrics.set_queue(
            &QueueStats {
                open: 5,
                due: 2,
                oldest_due_at: Some(now.plus_millis(-1500)),
            },
            now,
        );
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains("sendout_oldest_due_age_seconds 1.5"),
            "{text}"
        );
        assert!(text.contains("sendout_queue_due 2"), "{text}");
    }
}
