//! The scenarios of `sendout bench`. Each starts its own receiver process and (unless
//! `--server` is given) its own engine on a fresh data directory, loads it through the ingest
//! API, waits for the receiver to have every expected delivery, and stops both.
//!
//! Deliveries are counted at the receiver: distinct `webhook-id`s answered 200. A run that
//! stops making progress for [`STALL`] ends with what arrived, and its figures say so
//! (`deliveries` below `expected_deliveries`); the bench never reports a rate for work it did
//! not see done.

use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::bare;
use crate::engine::{Engine, EngineOptions};
use crate::load::{Ingester, Payloads};
use crate::measure::{mb, CpuMark, Percentiles, SlowRequest, SLOWEST};
use crate::process::ReceiverProcess;
use crate::receiver::Stats;
use crate::report::{Backlog, BareRun, Latency, Retry, Throughput, INGEST_P99_GOAL_MS};

/// How long a run may go without a new delivery before it is given up.
pub const STALL: Duration = Duration::from_secs(30);

/// The retry schedule of the retry-heavy scenario: ten quick retries.
pub const RETRY_SCHEDULE: &str = "10ms,10ms,20ms,50ms,100ms,200ms,500ms,1s,1s,1s";

/// The sizes of a run: how many events each scenario sends, how, and how fast.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub events: u64,
    pub events_fanout: u64,
    pub batch: usize,
    pub connections: usize,
    pub batch_connections: usize,
    pub rate: f64,
    pub latency_seconds: f64,
    pub backlog: u64,
    pub backlog_batch: usize,
    pub retry_events: u64,
    pub fail_percent: f64,
}

impl Sizes {
    /// Tiny sizes for a smoke run: every scenario in a few seconds; counts mean something,
    /// speeds little.
    pub fn quick(fail_percent: f64) -> Self {
        Self {
            events: 300,
            events_fanout: 150,
            batch: 20,
            connections: 8,
            batch_connections: 2,
            rate: 200.0,
            latency_seconds: 1.0,
            backlog: 2_000,
            backlog_batch: 100,
            retry_events: 200,
            fail_percent,
        }
    }
}

/// What every scenario needs.
#[derive(Debug)]
pub struct Bench {
    pub engine: EngineOptions,
    pub sizes: Sizes,
    pub progress: MultiProgress,
}

impl Bench {
    fn bar(&self, message: &str, len: u64) -> ProgressBar {
        let style = ProgressStyle::with_template(
            "{msg:<34} [{bar:28}] {human_pos:>9}/{human_len:<9} {per_sec:>12} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        self.progress.add(
            ProgressBar::new(len)
                .with_style(style)
                .with_message(message.to_owned()),
        )
    }

    /// The concurrency the engine's worker uses for `fanout` hosts.
    fn engine_concurrency(fanout: usize) -> anyhow::Result<usize> {
        let config = sendout::config::Config::load(None)?;
        Ok(config
            .delivery_concurrency
            .min(config.delivery_concurrency_per_host * fanout.max(1)))
    }

    /// Waits until the receiver has `expected` deliveries, or nothing arrived for [`STALL`].
    async fn deliveries(
        &self,
        receiver: &ReceiverProcess,
        expected: u64,
        bar: &ProgressBar,
    ) -> anyhow::Result<Stats> {
        let mut last = (0, Instant::now());
        loop {
            let stats = receiver.stats().await?;
            bar.set_position(stats.delivered);
            if stats.delivered >= expected {
                bar.finish();
                return Ok(stats);
            }
            if stats.delivered > last.0 {
                last = (stats.delivered, Instant::now());
            } else if last.1.elapsed() > STALL {
                bar.abandon_with_message(format!("stalled at {}", stats.delivered));
                return Ok(stats);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bare client against a receiver with `fanout` ports.
    pub async fn bare(&self, fanout: usize, requests: u64) -> anyhow::Result<BareRun> {
        let receiver = ReceiverProcess::start(fanout, 0.0, false).await?;
        let urls: Vec<String> = (0..fanout).map(|i| receiver.url(i)).collect();
        let bar = self.bar(&format!("bare client, {fanout} host(s)"), requests);
        let before = CpuMark::now(None, receiver.cpu_seconds());
        let run = bare::run(&urls, requests, Self::engine_concurrency(fanout)?, &bar).await;
        let after = CpuMark::now(None, receiver.cpu_seconds());
        bar.finish();
        receiver.stop().await;
        let mut run = run?;
        run.cpu_per_request = before.per(&after, requests);
        Ok(run)
    }

    /// `events` events ingested singly or in batches, fanned out to `fanout` webhooks.
    pub async fn throughput(&self, fanout: usize, batch: bool) -> anyhow::Result<Throughput> {
        let sizes = &self.sizes;
        let events = if fanout > 1 {
            sizes.events_fanout
        } else {
            sizes.events
        };
        let receiver = ReceiverProcess::start(fanout, 0.0, false).await?;
        let engine = Engine::start(&self.engine, &[("SENDOUT_WORKERS", "true".into())]).await?;
        let urls: Vec<String> = (0..fanout).map(|i| receiver.url(i)).collect();
        let key = engine.project_with_webhooks(&urls).await?;
        let payloads = Payloads::examples(sizes.batch)?;
        let ingester = Ingester::new(engine.base_url(), key);
        let mode = if batch { "batched" } else { "single" };
        let ingest_bar = self.bar(&format!("ingest {mode}, fan-out {fanout}"), events);
        let connections = if batch {
            sizes.batch_connections
        } else {
            sizes.connections
        };
        let before = CpuMark::now(engine.cpu_seconds(), receiver.cpu_seconds());
        let mut run = ingester
            .closed_loop(&payloads, events, batch, connections, &ingest_bar)
            .await?;
        ingest_bar.finish();
        let expected = run.events * fanout as u64;
        let bar = self.bar(&format!("deliveries, fan-out {fanout}"), expected);
        let stats = self.deliveries(&receiver, expected, &bar).await?;
        let after = CpuMark::now(engine.cpu_seconds(), receiver.cpu_seconds());
        let peak = engine.peak_rss();
        engine.stop().await?;
        receiver.stop().await;
        let seconds = seconds_between(run.started_us, stats.last_ok_us);
        Ok(Throughput {
            ingest: mode,
            batch: if batch { payloads.batch_len() } else { 1 },
            connections,
            fanout,
            events: run.events,
            ingest_seconds: run.seconds(),
            events_per_s: run.events as f64 / run.seconds().max(1e-9),
            ingest_response: Percentiles::of(&mut run.latencies_us),
            expected_deliveries: expected,
            deliveries: stats.delivered,
            duplicates: stats.duplicates,
            seconds,
            deliveries_per_s: stats.delivered as f64 / seconds.max(1e-9),
            mean_body_bytes: stats.body_bytes / stats.requests.max(1),
            cpu_per_delivery: before.per(&after, stats.delivered),
            fraction_of_bare: None,
            server_peak_rss_mb: peak.map(mb),
        })
    }

    /// Single events offered at a fixed rate to one webhook: ingest-to-receipt latency, and
    /// the ingest API's response time while deliveries run.
    pub async fn latency(&self) -> anyhow::Result<Latency> {
        let sizes = &self.sizes;
        let events = (sizes.rate * sizes.latency_seconds).round() as u64;
        let receiver = ReceiverProcess::start(1, 0.0, true).await?;
        let engine = Engine::start(&self.engine, &[("SENDOUT_WORKERS", "true".into())]).await?;
        let key = engine.project_with_webhooks(&[receiver.url(0)]).await?;
        let payloads = Payloads::examples(1)?;
        let ingester = Ingester::new(engine.base_url(), key);
        let bar = self.bar(&format!("offered at {}/s", sizes.rate), events);
        let mut run = ingester
            .open_loop(&payloads, sizes.rate, events, &bar)
            .await?;
        bar.finish();
        let wait = self.bar("deliveries", events);
        let stats = self.deliveries(&receiver, events, &wait).await?;
        let receipts = receiver.receipts().await?;
        let peak = engine.peak_rss();
        engine.stop().await?;
        receiver.stop().await;
        let sent: std::collections::HashMap<&str, u64> =
            run.sent.iter().map(|(id, at)| (id.as_str(), *at)).collect();
        let mut first_receipt = std::collections::HashMap::new();
        for receipt in &receipts {
            first_receipt
                .entry(receipt.event_id.as_str())
                .and_modify(|at: &mut u64| *at = (*at).min(receipt.at_us))
                .or_insert(receipt.at_us);
        }
        let sent_us: Vec<u64> = run.sent.iter().map(|(_, at)| *at).collect();
        let (ingest_slowest, ingest_over_goal) = SlowRequest::slowest(
            run.started_us,
            &sent_us,
            &run.latencies_us,
            SLOWEST,
            (INGEST_P99_GOAL_MS * 1000.0) as u64,
        );
        let mut latencies: Vec<u64> = first_receipt
            .iter()
            .filter_map(|(id, at)| sent.get(id).map(|sent| at.saturating_sub(*sent)))
            .collect();
        Ok(Latency {
            rate_per_s: sizes.rate,
            events,
            expected_deliveries: events,
            deliveries: stats.delivered,
            ingest_to_receipt: Percentiles::of(&mut latencies),
            ingest_response: Percentiles::of(&mut run.latencies_us),
            ingest_over_goal,
            ingest_slowest,
            server_peak_rss_mb: peak.map(mb),
        })
    }

    /// A backlog made with the workers off, then drained by a restarted engine.
    pub async fn backlog(&self) -> anyhow::Result<Backlog> {
        const FANOUT: usize = 4;
        let sizes = &self.sizes;
        let events = sizes.backlog.div_ceil(FANOUT as u64);
        let receiver = ReceiverProcess::start(FANOUT, 0.0, false).await?;
        let engine = Engine::start(&self.engine, &[("SENDOUT_WORKERS", "false".into())]).await?;
        let urls: Vec<String> = (0..FANOUT).map(|i| receiver.url(i)).collect();
        let key = engine.project_with_webhooks(&urls).await?;
        let payloads = Payloads::examples(sizes.backlog_batch)?;
        let ingester = Ingester::new(engine.base_url(), key);
        let bar = self.bar("backlog: ingest, workers off", events);
        let run = ingester
            .closed_loop(&payloads, events, true, sizes.batch_connections, &bar)
            .await?;
        bar.finish();
        let send_outs = run.events * FANOUT as u64;
        let (ingest_peak, dir) = engine.stop().await?;
        let dir = dir.context("the backlog's data directory")?;
        let database_bytes = std::fs::metadata(dir.path().join("sendout.db"))
            .map(|m| m.len())
            .ok();
        let restarted = Instant::now();
        let engine =
            Engine::restart(dir, &self.engine, &[("SENDOUT_WORKERS", "true".into())]).await?;
        let bar = self.bar("backlog: drain", send_outs);
        let before = CpuMark::now(engine.cpu_seconds(), receiver.cpu_seconds());
        let stats = self.deliveries(&receiver, send_outs, &bar).await?;
        let after = CpuMark::now(engine.cpu_seconds(), receiver.cpu_seconds());
        let start_to_last = restarted.elapsed().as_secs_f64();
        let drain_peak = engine.peak_rss();
        engine.stop().await?;
        receiver.stop().await;
        let drain_seconds = seconds_between(stats.first_ok_us.unwrap_or(0), stats.last_ok_us);
        Ok(Backlog {
            fanout: FANOUT,
            send_outs,
            ingest_seconds: run.seconds(),
            send_outs_ingested_per_s: send_outs as f64 / run.seconds().max(1e-9),
            database_mb: database_bytes.map(mb),
            expected_deliveries: send_outs,
            deliveries: stats.delivered,
            duplicates: stats.duplicates,
            drain_seconds,
            drain_per_s: stats.delivered as f64 / drain_seconds.max(1e-9),
            drain_cpu_per_delivery: before.per(&after, stats.delivered),
            restart_to_drained_seconds: start_to_last,
            peak_rss_mb_ingest: ingest_peak.map(mb),
            peak_rss_mb_drain: drain_peak.map(mb),
        })
    }

    /// One webhook whose receiver fails a share of attempts with 500, retried quickly.
    pub async fn retry(&self) -> anyhow::Result<Retry> {
        let sizes = &self.sizes;
        let receiver = ReceiverProcess::start(1, sizes.fail_percent, false).await?;
        let settings = [
            ("SENDOUT_WORKERS", "true".to_owned()),
            ("SENDOUT_RETRY_SCHEDULE", RETRY_SCHEDULE.to_owned()),
        ];
        let engine = Engine::start(&self.engine, &settings).await?;
        let key = engine.project_with_webhooks(&[receiver.url(0)]).await?;
        let payloads = Payloads::examples(sizes.batch)?;
        let ingester = Ingester::new(engine.base_url(), key);
        let bar = self.bar("retry-heavy: ingest", sizes.retry_events);
        let run = ingester
            .closed_loop(
                &payloads,
                sizes.retry_events,
                true,
                sizes.batch_connections,
                &bar,
            )
            .await?;
        bar.finish();
        let wait = self.bar("retry-heavy: deliveries", run.events);
        let stats = self.deliveries(&receiver, run.events, &wait).await?;
        engine.stop().await?;
        receiver.stop().await;
        let seconds = seconds_between(run.started_us, stats.last_ok_us);
        Ok(Retry {
            events: run.events,
            fail_percent: sizes.fail_percent,
            schedule: RETRY_SCHEDULE,
            expected_deliveries: run.events,
            deliveries: stats.delivered,
            duplicates: stats.duplicates,
            attempts: stats.requests,
            failed_attempts: stats.failed,
            seconds,
            deliveries_per_s: stats.delivered as f64 / seconds.max(1e-9),
        })
    }
}

/// Seconds from `start_us` to `end_us` (0 when nothing ended).
fn seconds_between(start_us: u64, end_us: Option<u64>) -> f64 {
    end_us.map_or(0.0, |end| end.saturating_sub(start_us) as f64 / 1e6)
}
