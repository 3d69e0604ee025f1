//! What `sendout bench` reports: every figure of every scenario, the machine it ran on, and
//! the targets of PRODUCT §8 with whether each was met — as JSON (`--json`) or as text.

use serde::Serialize;

use crate::measure::{mb, CpuPerDelivery, Percentiles, SlowRequest};

/// The goal for the ingest API's p99 while deliveries run, in milliseconds (PRODUCT §8).
pub const INGEST_P99_GOAL_MS: f64 = 5.0;

/// What a bare run did: the delivery client alone against the receiver.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BareRun {
    pub fanout: usize,
    pub requests: u64,
    pub concurrency: usize,
    pub seconds: f64,
    pub requests_per_s: f64,
    /// Filled in by the caller, who knows the receiver's process.
    pub cpu_per_request: CpuPerDelivery,
}

/// The machine the figures came from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: Option<String>,
    pub memory_mb: Option<f64>,
    pub os: &'static str,
}

impl Machine {
    /// This machine, from the standard library and `/proc` where there is one.
    pub fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name"),
            memory_mb: field(&meminfo, "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map(|kib| mb(kib * 1024)),
            os: std::env::consts::OS,
        }
    }
}

/// Delivery throughput for one ingest mode and fan-out.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// `single` (one event per request) or `batched`.
    pub ingest: &'static str,
    pub batch: usize,
    pub connections: usize,
    pub fanout: usize,
    pub events: u64,
    pub ingest_seconds: f64,
    pub events_per_s: f64,
    pub ingest_response: Percentiles,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    pub duplicates: u64,
    /// From the first ingest request to the last delivery.
    pub seconds: f64,
    pub deliveries_per_s: f64,
    pub mean_body_bytes: u64,
    pub cpu_per_delivery: CpuPerDelivery,
    /// `deliveries_per_s` over the bare rate with the same fan-out.
    pub fraction_of_bare: Option<f64>,
    pub server_peak_rss_mb: Option<f64>,
}

/// Latency at a fixed offered rate.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub rate_per_s: f64,
    pub events: u64,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    /// From sending the ingest request to the receiver getting the delivery.
    pub ingest_to_receipt: Percentiles,
    /// The ingest API's response time while deliveries run.
    pub ingest_response: Percentiles,
    /// How many ingest requests took longer than the p99 goal.
    pub ingest_over_goal: usize,
    /// The slowest ingest requests, slowest first, with when they were sent: a stall shows
    /// as a run of them sent within a few milliseconds.
    pub ingest_slowest: Vec<SlowRequest>,
    pub server_peak_rss_mb: Option<f64>,
}

/// A large backlog: made with the workers off, then drained.
#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    pub fanout: usize,
    pub send_outs: u64,
    pub ingest_seconds: f64,
    pub send_outs_ingested_per_s: f64,
    pub database_mb: Option<f64>,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    pub duplicates: u64,
    /// From the first delivery to the last.
    pub drain_seconds: f64,
    pub drain_per_s: f64,
    /// CPU per delivery while draining (the sender is idle then).
    pub drain_cpu_per_delivery: CpuPerDelivery,
    /// From starting the engine with workers on to the last delivery.
    pub restart_to_drained_seconds: f64,
    pub peak_rss_mb_ingest: Option<f64>,
    pub peak_rss_mb_drain: Option<f64>,
}

/// Retry-heavy delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Retry {
    pub events: u64,
    pub fail_percent: f64,
    pub schedule: &'static str,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    pub duplicates: u64,
    pub attempts: u64,
    pub failed_attempts: u64,
    pub seconds: f64,
    pub deliveries_per_s: f64,
}

/// One target of PRODUCT §8 and how this run did.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: &'static str,
    pub goal: &'static str,
    pub measured: Option<f64>,
    pub unit: &'static str,
    /// `None` when the run did not measure it.
    pub met: Option<bool>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub sendout_version: &'static str,
    pub machine: Machine,
    /// `started` (a `sendout serve` per scenario) or the `--server` URL.
    pub engine: String,
    pub quick: bool,
    pub bare: Vec<BareRun>,
    pub throughput: Vec<Throughput>,
    pub latency: Option<Latency>,
    pub backlog: Option<Backlog>,
    pub retry: Option<Retry>,
    pub targets: Vec<Target>,
    /// Scenarios not run, and why.
    pub skipped: Vec<String>,
    /// Scenarios that failed, with their errors.
    pub failed: Vec<String>,
}

impl Report {
    /// Fills in each throughput's fraction of the bare rate and evaluates the targets.
    pub fn finish(&mut self) {
        for run in &mut self.throughput {
            run.fraction_of_bare = self
                .bare
                .iter()
                .find(|b| b.fanout == run.fanout)
                .map(|b| run.deliveries_per_s / b.requests_per_s.max(1e-9));
        }
        let best = |fanout: usize| {
            self.throughput
                .iter()
                .filter(|t| t.fanout == fanout && t.deliveries == t.expected_deliveries)
                .max_by(|a, b| a.deliveries_per_s.total_cmp(&b.deliveries_per_s))
        };
        let at_least = |value: Option<f64>, goal: f64| value.map(|v| v >= goal);
        let below = |value: Option<f64>, goal: f64| value.map(|v| v < goal);
        let one = best(1).map(|t| t.deliveries_per_s);
        let four = best(4);
        let latency = self
            .latency
            .as_ref()
            .filter(|l| l.deliveries == l.expected_deliveries && l.rate_per_s >= 1000.0);
        let p99 = latency.map(|l| l.ingest_to_receipt.p99_ms);
        let ingest_p99 = latency.map(|l| l.ingest_response.p99_ms);
        let backlog_peak = self
            .backlog
            .as_ref()
            .filter(|b| b.send_outs >= 1_000_000)
            .and_then(|b| Some(b.peak_rss_mb_ingest?.max(b.peak_rss_mb_drain?)));
        let target = |name, goal, measured, unit, met| Target {
            name,
            goal,
            measured,
            unit,
            met,
        };
        self.targets = vec![
            target(
                "deliveries/s, one webhook",
                ">= 10000",
                one,
                "/s",
                at_least(one, 10_000.0),
            ),
            target(
                "deliveries/s, fan-out to 4",
                ">= 20000",
                four.map(|t| t.deliveries_per_s),
                "/s",
                at_least(four.map(|t| t.deliveries_per_s), 20_000.0),
            ),
            target(
                "fan-out to 4 as a fraction of bare",
                ">= 0.333",
                four.and_then(|t| t.fraction_of_bare),
                "",
                at_least(four.and_then(|t| t.fraction_of_bare), 1.0 / 3.0),
            ),
            target(
                "p99 ingest-to-receipt at 1000/s",
                "< 25",
                p99,
                "ms",
                below(p99, 25.0),
            ),
            target(
                "1,000,000 pending: peak memory",
                "< 300",
                backlog_peak,
                "MiB",
                below(backlog_peak, 300.0),
            ),
            target(
                "ingest p99 while delivering",
                "< 5",
                ingest_p99,
                "ms",
                below(ingest_p99, INGEST_P99_GOAL_MS),
            ),
        ];
        if self.quick {
            // A smoke run's sizes are too small to judge a target by.
            self.targets.iter_mut().for_each(|t| t.met = None);
        }
    }

    /// The report as text for a person.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        let m = &self.machine;
        line(format!(
            "sendout {} bench on {} CPU(s) ({}), {:.0} MiB, {}; engine: {}",
            self.sendout_version,
            m.cpus,
            m.cpu_model.as_deref().unwrap_or("unknown model"),
            m.memory_mb.unwrap_or(0.0),
            m.os,
            self.engine
        ));
        if !self.bare.is_empty() {
            line("\nbare client → receiver (the limit)".into());
            for b in &self.bare {
                line(format!(
                    "  {} host(s), {} connections: {:>9.0} requests/s ({} in {:.2} s); CPU/request {}",
                    b.fanout, b.concurrency, b.requests_per_s, b.requests, b.seconds,
                    cpu(&b.cpu_per_request)
                ));
            }
        }
        if !self.throughput.is_empty() {
            line("\ndelivery throughput (first ingest to last delivery)".into());
            for t in &self.throughput {
                let fraction = t
                    .fraction_of_bare
                    .map_or(String::new(), |f| format!(", {:.0} % of bare", f * 100.0));
                line(format!(
                    "  {:<7} ×{:<4} fan-out {}: {:>9.0} deliveries/s{fraction}; ingest {:.0} events/s \
                     (p99 {:.1} ms); {}/{} delivered, {} duplicates; peak {}",
                    t.ingest, t.batch, t.fanout, t.deliveries_per_s, t.events_per_s,
                    t.ingest_response.p99_ms, t.deliveries, t.expected_deliveries, t.duplicates,
                    rss(t.server_peak_rss_mb)
                ));
                line(format!("      CPU/delivery {}", cpu(&t.cpu_per_delivery)));
            }
        }
        if let Some(l) = &self.latency {
            line(format!("\nlatency at {:.0} events/s offered", l.rate_per_s));
            line(format!(
                "  ingest → receipt: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({}/{} delivered)",
                l.ingest_to_receipt.p50_ms,
                l.ingest_to_receipt.p99_ms,
                l.ingest_to_receipt.max_ms,
                l.deliveries,
                l.expected_deliveries
            ));
            line(format!(
                "  ingest response:  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.ingest_response.p50_ms, l.ingest_response.p99_ms, l.ingest_response.max_ms
            ));
            let slowest: Vec<String> = l
                .ingest_slowest
                .iter()
                .take(5)
                .map(|s| format!("{:.1} ms at {:.3} s", s.response_ms, s.after_s))
                .collect();
            line(format!(
                "  ingest responses over {INGEST_P99_GOAL_MS} ms: {}; slowest: {}",
                l.ingest_over_goal,
                slowest.join(", ")
            ));
        }
        if let Some(b) = &self.backlog {
            line(format!(
                "\nbacklog of {} send outs (fan-out {})",
                b.send_outs, b.fanout
            ));
            line(format!(
                "  made in {:.1} s ({:.0} send outs/s, workers off), database {:.0} MiB, peak {}",
                b.ingest_seconds,
                b.send_outs_ingested_per_s,
                b.database_mb.unwrap_or(0.0),
                rss(b.peak_rss_mb_ingest)
            ));
            line(format!(
                "  drained at {:.0} deliveries/s ({}/{} in {:.1} s, {} duplicates), peak {}",
                b.drain_per_s,
                b.deliveries,
                b.expected_deliveries,
                b.drain_seconds,
                b.duplicates,
                rss(b.peak_rss_mb_drain)
            ));
        }
        if let Some(r) = &self.retry {
            line(format!(
                "\nretry-heavy ({:.0} % of attempts fail with 500)",
                r.fail_percent
            ));
            line(format!(
                "  {:.0} deliveries/s; {}/{} delivered in {} attempts ({} failed), {} duplicates",
                r.deliveries_per_s,
                r.deliveries,
                r.expected_deliveries,
                r.attempts,
                r.failed_attempts,
                r.duplicates
            ));
        }
        line("\ntargets".into());
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None if self.quick => "not judged (--quick)",
                None => "not measured",
            };
            let measured = t
                .measured
                .map_or("-".to_owned(), |v| format!("{v:.3}{}", t.unit));
            line(format!(
                "  {:<38} {:<10} {:>14}  {verdict}",
                t.name, t.goal, measured
            ));
        }
        for skipped in &self.skipped {
            line(format!("skipped: {skipped}"));
        }
        for failed in &self.failed {
            line(format!("FAILED: {failed}"));
        }
        out
    }
}

fn cpu(c: &CpuPerDelivery) -> String {
    let us = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0} µs"));
    format!(
        "engine {}, receiver {}, sender {}",
        us(c.engine_us),
        us(c.receiver_us),
        us(c.sender_us)
    )
}

fn rss(mb: Option<f64>) -> String {
    mb.map_or("unknown".to_owned(), |v| format!("{v:.0} MiB"))
}
