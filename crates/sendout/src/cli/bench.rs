//! `sendout bench`: the command users type to measure this build. The benchmark itself is
//! another binary, `sendout-bench` (crates/sendout-bench), so the service carries none of its
//! load generator, receiver or report; this hands the arguments over to it unchanged.
//!
//! `sendout-bench` is looked for beside this executable (cargo builds both into the same
//! target directory) and told to start this very binary as the engine it measures. When it
//! is missing the error says how to build it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Everything after `sendout bench`, for `sendout-bench` (`sendout bench --help` shows its
/// flags).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<OsString>,
}

/// The `sendout-bench` binary beside `this` executable, if it is there.
fn bench_beside(this: &Path) -> anyhow::Result<PathBuf> {
    let bench = this.with_file_name(format!("sendout-bench{}", std::env::consts::EXE_SUFFIX));
    if !bench.is_file() {
        bail!(
            "`sendout bench` runs the sendout-bench binary, which is not at {}: build it \
             beside this one with `cargo build --release -p sendout -p sendout-bench` (then \
             run target/release/sendout bench)",
            bench.display()
        );
    }
    Ok(bench)
}

/// The arguments for `sendout-bench`: the engine is `this` binary unless the user named one.
fn bench_args(this: &Path, args: &[OsString]) -> Vec<OsString> {
    let named = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == "--engine" || a.starts_with("--engine="))
    });
    let mut all = Vec::with_capacity(args.len() + 2);
    if !named {
        all.push(OsString::from("--engine"));
        all.push(this.as_os_str().to_owned());
    }
    all.extend(args.iter().cloned());
    all
}

/// Runs `sendout-bench` in place of this process (on Unix: `exec`, so signals and the exit
/// status are the bench's own), or as a child whose exit status becomes this one's.
pub fn run(args: Args) -> anyhow::Result<()> {
    let this = std::env::current_exe().context("cannot find the sendout binary")?;
    let bench = bench_beside(&this)?;
    let mut command = std::process::Command::new(&bench);
    command.args(bench_args(&this, &args.args));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(error).with_context(|| format!("running {}", bench.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("running {}", bench.display()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bench_binary_is_named_with_how_to_build_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let error = bench_beside(&dir.path().join("sendout")).expect_err("nothing is there");
        let text = format!("{error:#}");
        assert!(text.contains("sendout-bench"), "{text}");
        assert!(
            text.contains("cargo build --release -p sendout -p sendout-bench"),
            "{text}"
        );
    }

    #[test]
    fn the_engine_is_this_binary_unless_the_user_names_one() {
        let this = Path::new("/opt/sendout/bin/sendout");
        let quick = [OsString::from("--quick")];
        assert_eq!(
            bench_args(this, &quick),
            ["--engine", "/opt/sendout/bin/sendout", "--quick"].map(OsString::from)
        );
        let named = [OsString::from("--engine=/other/sendout"), "--quick".into()];
        assert_eq!(bench_args(this, &named), named);
    }
}
