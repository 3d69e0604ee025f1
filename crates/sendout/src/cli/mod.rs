//! The command line: one binary, several roles. `serve` runs the API, the dashboard and the
//! workers; `worker` runs delivery only (scale-out); `migrate` prepares the store; `backup`
//! copies the embedded store while it serves; `listen` is
//! a local receiver for developers; `emit` sends an event to a server; `catalog` prints the
//! event catalog; `bench` hands over to the `sendout-bench` binary.

mod bench;
mod emit;
mod listen;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};

use crate::config::{Config, Flags};

/// A self-hosted webhook engine speaking the Voucherify v2024-01-01 webhook format.
#[derive(Debug, Parser)]
#[command(name = "sendout", version, about)]
pub struct Cli {
    /// A TOML config file (keys as in `sendout config`); SENDOUT_* variables override it.
    #[arg(long, global = true, env = "SENDOUT_CONFIG")]
    config: Option<PathBuf>,
    /// The store: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB; overrides
    /// SENDOUT_DATABASE_URL and the config file's `database_url`.
    #[arg(long, global = true, value_name = "URL", value_parser = NonEmptyStringValueParser::new())]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the dashboard and the delivery workers (embedded store by default).
    Serve,
    /// Run delivery workers only, sharing the configured database with other nodes.
    Worker,
    /// Apply the store's migrations and exit.
    Migrate,
    /// Copy the embedded store to a new file PATH while sendout runs (a consistent snapshot);
    /// start sendout on a data directory holding the copy as sendout.db to restore it.
    Backup {
        /// The file to write; it must not exist yet.
        path: PathBuf,
    },
    /// Print the configuration defaults (the documented config file).
    Config,
    /// Print the event catalog: every event type with its group and channels.
    Catalog {
        /// Only this channel: project_settings or distribution.
        #[arg(long)]
        channel: Option<String>,
    },
    /// A local webhook receiver: prints what arrives and checks both signatures.
    Listen(listen::Args),
    /// Send an event to a sendout server's ingest API.
    Emit(emit::Args),
    /// Measure delivery throughput, latency, a large backlog and retries on loopback,
    /// beside the bare HTTP client and receiver (runs the sendout-bench binary).
    #[command(disable_help_flag = true)]
    Bench(bench::Args),
}

/// Parses the arguments and runs the command; errors are printed, not panicked.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    run_to_exit(run(cli))
}

/// Runs a command's future on a new multi-threaded runtime; an error (or a runtime that
/// cannot start) is printed and becomes a failing exit status. `sendout-bench` uses it too.
pub fn run_to_exit(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let flags = Flags {
        database_url: cli.database_url.clone(),
    };
    Ok(Config::load_with(cli.config.as_deref(), &flags)?)
}

/// Runs one command to its end.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve => serve::serve(load_config(&cli)?, true).await,
        Command::Worker => serve::serve(load_config(&cli)?, false).await,
        Command::Migrate => {
            let config = load_config(&cli)?;
            crate::telemetry::init(config.log_format);
            crate::app::open_store(&config).await?.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Backup { path } => backup(&load_config(&cli)?, path).await,
        Command::Config => {
            print!("{}", crate::config::DEFAULTS);
            Ok(())
        }
        Command::Catalog { channel } => print_catalog(channel.as_deref()),
        Command::Listen(args) => listen::run(args.clone()).await,
        Command::Emit(args) => emit::run(args.clone()).await,
        Command::Bench(args) => bench::run(args.clone()),
    }
}

async fn backup(config: &Config, to: &std::path::Path) -> anyhow::Result<()> {
    let database = match &config.database {
        crate::config::Database::Sqlite(path) => path.clone(),
        crate::config::Database::Postgres(_) => anyhow::bail!(
            "the store is PostgreSQL: back it up with pg_dump or the server's own backups \
             (docs/OPERATIONS.md, \"Backups\")"
        ),
    };
    let to = to.to_path_buf();
    let copy = tokio::task::spawn_blocking(move || sendout_store::sqlite::backup(&database, &to))
        .await??;
    println!(
        "backed up to {} ({} bytes); to restore, start sendout on a data directory holding it \
         as sendout.db",
        copy.path.display(),
        copy.bytes
    );
    Ok(())
}

fn print_catalog(channel: Option<&str>) -> anyhow::Result<()> {
    use sendout_core::catalog::{catalog, Channel};
    let channels = match channel {
        None => vec![Channel::ProjectSettings, Channel::Distribution],
        Some("project_settings") => vec![Channel::ProjectSettings],
        Some("distribution") => vec![Channel::Distribution],
        Some(other) => {
            anyhow::bail!("unknown channel `{other}`: use project_settings or distribution")
        }
    };
    for channel in channels {
        println!("# {channel:?} events");
        for group in catalog().groups(channel) {
            println!("{}:", group.name);
            for event_type in &group.types {
                let schema = if event_type.has_public_schema() {
                    ""
                } else {
                    "  (no public schema)"
                };
                println!(
                    "  {:<50} {}{schema}",
                    event_type.name(),
                    event_type.title_in(channel).unwrap_or(event_type.title())
                );
            }
        }
        println!();
    }
    Ok(())
}
