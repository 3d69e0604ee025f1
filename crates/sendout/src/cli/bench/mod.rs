//! `sendout bench`: how fast this machine delivers webhooks with sendout, beside how fast it
//! can make the same HTTP requests at all (PRODUCT §8).
//!
//! Scenarios (see [`scenarios`]): `bare` (the delivery client and receiver with no engine
//! between them), `throughput` (single and batched ingest, fan-out to 1 and 4), `latency`
//! (a fixed offered rate), `backlog` (a million pending send outs: peak memory and drain rate)
//! and `retry` (a share of attempts failing with 500). Every scenario runs on loopback only,
//! with its own receiver process (`sendout bench-receiver`) and its own `sendout serve` on a
//! fresh temporary data directory, unless `--server` names a running one (then the scenarios
//! that need to configure or restart the engine are skipped).
//!
//! Sizes are flags; the defaults take a few minutes on two cores, `--quick` a few seconds
//! (a smoke run: the counts are checked, the speeds mean little).

mod bare;
mod engine;
mod load;
mod process;
pub mod receiver;
mod report;
mod scenarios;

use indicatif::{MultiProgress, ProgressDrawTarget};

use engine::EngineOptions;
use process::{MANAGEMENT_ID, MANAGEMENT_TOKEN};
use report::{Machine, Report};
use scenarios::Bench;

/// The scenarios, in the order they run.
const SCENARIOS: [&str; 5] = ["bare", "throughput", "latency", "backlog", "retry"];

/// `sendout bench`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Print the report as JSON on stdout (the progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Tiny sizes for a smoke run (overrides the size flags).
    #[arg(long)]
    quick: bool,
    /// Run only the bare client/receiver baseline.
    #[arg(long)]
    bare: bool,
    /// Which scenarios to run, comma-separated: bare, throughput, latency, backlog, retry.
    #[arg(long, value_delimiter = ',', default_values_t = SCENARIOS.map(String::from))]
    scenarios: Vec<String>,
    /// Use this running server instead of starting one per scenario (it must allow
    /// loopback targets); backlog and retry need their own engine and are skipped.
    #[arg(long)]
    server: Option<String>,
    /// The management key of `--server`.
    #[arg(long, env = "SENDOUT_MANAGEMENT_ID", hide_env_values = true)]
    management_id: Option<String>,
    #[arg(long, env = "SENDOUT_MANAGEMENT_TOKEN", hide_env_values = true)]
    management_token: Option<String>,
    /// RUST_LOG of the engines the bench starts (`info` logs every request and attempt).
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Events per throughput run with one webhook.
    #[arg(long, default_value_t = 60_000)]
    events: u64,
    /// Events per throughput run with fan-out (each makes `fanout` deliveries).
    #[arg(long, default_value_t = 30_000)]
    events_fanout: u64,
    /// The fan-outs of the throughput runs.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4])]
    fanout: Vec<usize>,
    /// Events per request in batched ingest (about 3 KiB each: mind `max_body_bytes`).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Connections sending single events.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Connections sending batches.
    #[arg(long, default_value_t = 4)]
    batch_connections: usize,
    /// Offered events per second in the latency run.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// How long the latency run offers events, in seconds.
    #[arg(long, default_value_t = 15.0)]
    latency_seconds: f64,
    /// Pending send outs in the backlog run.
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Events in the retry-heavy run.
    #[arg(long, default_value_t = 20_000)]
    retry_events: u64,
    /// Share of attempts the receiver fails in the retry-heavy run, in percent.
    #[arg(long, default_value_t = 20.0)]
    fail_percent: f64,
}

/// The sizes of a run.
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
    fn of(args: &Args) -> Self {
        if args.quick {
            return Self {
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
                fail_percent: args.fail_percent,
            };
        }
        Self {
            events: args.events,
            events_fanout: args.events_fanout,
            batch: args.batch.clamp(1, 250),
            connections: args.connections.max(1),
            batch_connections: args.batch_connections.max(1),
            rate: args.rate,
            latency_seconds: args.latency_seconds,
            backlog: args.backlog,
            // About 3 KiB an event: a batch stays well under the default 1 MiB body limit.
            backlog_batch: 250,
            retry_events: args.retry_events,
            fail_percent: args.fail_percent,
        }
    }
}

/// Runs the chosen scenarios and prints the report. Interrupted (Ctrl-C, SIGTERM), it drops
/// the running scenario, which kills the receiver and engine it started.
pub async fn run(args: Args) -> anyhow::Result<()> {
    tokio::select! {
        done = run_scenarios(args) => done,
        () = interrupted() => anyhow::bail!("interrupted; the bench's children were stopped"),
    }
}

async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run_scenarios(args: Args) -> anyhow::Result<()> {
    let scenarios: Vec<String> = if args.bare {
        vec!["bare".to_owned()]
    } else {
        args.scenarios.clone()
    };
    if let Some(unknown) = scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        anyhow::bail!(
            "unknown scenario `{unknown}`; choose from {}",
            SCENARIOS.join(", ")
        );
    }
    if !(args.rate > 0.0 && args.latency_seconds > 0.0) {
        anyhow::bail!("--rate and --latency-seconds must be positive");
    }
    if !(0.0..100.0).contains(&args.fail_percent) {
        anyhow::bail!("--fail-percent must be at least 0 and below 100");
    }
    let engine = EngineOptions {
        server: args.server.clone(),
        management_id: args
            .management_id
            .clone()
            .unwrap_or_else(|| MANAGEMENT_ID.into()),
        management_token: args
            .management_token
            .clone()
            .unwrap_or_else(|| MANAGEMENT_TOKEN.into()),
        log_filter: args.server_log.clone(),
    };
    let wants = |name: &str| scenarios.iter().any(|s| s == name);
    let sizes = Sizes::of(&args);
    let fanouts: Vec<usize> = args.fanout.iter().map(|f| (*f).max(1)).collect();
    let bench = Bench {
        engine: engine.clone(),
        sizes: sizes.clone(),
        progress: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
    };
    let mut report = Report {
        sendout_version: env!("CARGO_PKG_VERSION"),
        machine: Machine::this(),
        engine: args.server.clone().unwrap_or_else(|| "started".into()),
        quick: args.quick,
        bare: Vec::new(),
        throughput: Vec::new(),
        latency: None,
        backlog: None,
        retry: None,
        targets: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
    };
    // A failed scenario is reported and the others still run.
    let mut failed = Vec::new();
    let mut record = |name: String, error: anyhow::Error| failed.push(format!("{name}: {error:#}"));
    if wants("bare") {
        for &fanout in &fanouts {
            let requests = if fanout > 1 {
                sizes.events_fanout * fanout as u64
            } else {
                sizes.events
            };
            match bench.bare(fanout, requests).await {
                Ok(run) => report.bare.push(run),
                Err(e) => record(format!("bare, fan-out {fanout}"), e),
            }
        }
    }
    if wants("throughput") {
        for &fanout in &fanouts {
            for batch in [false, true] {
                match bench.throughput(fanout, batch).await {
                    Ok(run) => report.throughput.push(run),
                    Err(e) => record(format!("throughput, fan-out {fanout}"), e),
                }
            }
        }
    }
    if wants("latency") {
        match bench.latency().await {
            Ok(run) => report.latency = Some(run),
            Err(e) => record("latency".into(), e),
        }
    }
    for name in ["backlog", "retry"] {
        if !wants(name) {
            continue;
        }
        if !engine.is_local() {
            report.skipped.push(format!(
                "{name}: needs an engine the bench starts (no --server)"
            ));
            continue;
        }
        let done = match name {
            "backlog" => bench.backlog().await.map(|run| report.backlog = Some(run)),
            _ => bench.retry().await.map(|run| report.retry = Some(run)),
        };
        if let Err(e) = done {
            record(name.into(), e);
        }
    }
    report.failed = failed;
    report.finish();
    bench.progress.clear()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.human());
    }
    if !report.failed.is_empty() {
        anyhow::bail!("{} scenario(s) failed", report.failed.len());
    }
    Ok(())
}
