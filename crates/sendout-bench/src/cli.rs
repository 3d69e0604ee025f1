//! The command line of `sendout-bench`: the bench's flags (sizes, scenarios, the engine to
//! start or the server to use), and the hidden `receiver` role the bench starts itself in.
//! [`run`] checks the flags, runs the chosen scenarios in order and prints the report.
//!
//! `sendout bench ARGS` runs `sendout-bench --engine <that sendout> ARGS`, so the engine
//! measured is the binary the user typed; run directly, the bench starts the `sendout` found
//! beside it (cargo builds both into the same target directory), or the one `--engine` names.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::engine::EngineOptions;
use crate::process::{MANAGEMENT_ID, MANAGEMENT_TOKEN};
use crate::receiver;
use crate::report::{Machine, Report};
use crate::scenarios::{Bench, Sizes};

/// The scenarios, in the order they run.
const SCENARIOS: [&str; 5] = ["bare", "throughput", "latency", "backlog", "retry"];

/// Measure delivery throughput, latency, a large backlog and retries of sendout on loopback,
/// beside the bare HTTP client and receiver (the machine's limit).
#[derive(Debug, Parser)]
#[command(
    name = "sendout-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    args: Args,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// The benchmark's receiver (started by the bench, in its own process).
    #[command(hide = true)]
    Receiver(receiver::Args),
}

/// The bench's options.
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
    /// The `sendout` binary whose `serve` is started as the engine [default: `sendout`
    /// beside this binary].
    #[arg(long, value_name = "PATH")]
    engine: Option<PathBuf>,
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
    /// Connections sending single events (as a platform's many threads would, each posting
    /// one event per request).
    #[arg(long, default_value_t = 64)]
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

impl Args {
    /// The sizes these flags ask for (`--quick` overrides them).
    fn sizes(&self) -> Sizes {
        if self.quick {
            return Sizes::quick(self.fail_percent);
        }
        Sizes {
            events: self.events,
            events_fanout: self.events_fanout,
            batch: self.batch.clamp(1, 250),
            connections: self.connections.max(1),
            batch_connections: self.batch_connections.max(1),
            rate: self.rate,
            latency_seconds: self.latency_seconds,
            backlog: self.backlog,
            // About 3 KiB an event: a batch stays well under the default 1 MiB body limit.
            backlog_batch: 250,
            retry_events: self.retry_events,
            fail_percent: self.fail_percent,
        }
    }
}

/// Parses the arguments and runs the bench (or its receiver); errors are printed, not
/// panicked.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    sendout::cli::run_to_exit(run(cli))
}

/// Runs the bench, or the receiver role.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.role {
        Some(Role::Receiver(args)) => receiver::run(args).await,
        None => bench(cli.args).await,
    }
}

/// The `sendout` binary engines are started from: `named`, or the one beside this binary.
fn engine_binary(named: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = named {
        return Ok(path);
    }
    let this = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the sendout-bench binary: {e}"))?;
    Ok(this.with_file_name(format!("sendout{}", std::env::consts::EXE_SUFFIX)))
}

/// Runs the chosen scenarios and prints the report. Interrupted (Ctrl-C, SIGTERM), it drops
/// the running scenario, which kills the receiver and engine it started.
async fn bench(args: Args) -> anyhow::Result<()> {
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
    let binary = engine_binary(args.engine.clone())?;
    if args.server.is_none() && !binary.is_file() {
        anyhow::bail!(
            "the bench starts `sendout serve` from {}, which is not there: build it beside \
             the bench with `cargo build --release -p sendout -p sendout-bench`, or name \
             another with --engine PATH",
            binary.display()
        );
    }
    let engine = EngineOptions {
        server: args.server.clone(),
        binary,
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
    let sizes = args.sizes();
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
