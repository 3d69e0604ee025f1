//! A PostgreSQL server of a test's own: `initdb` in a temporary directory and `pg_ctl` on a
//! free loopback port, so the test can restart it without disturbing anything else that uses
//! the shared server. The binaries come from `SENDOUT_TEST_PG_BIN`, `pg_config --bindir` or
//! `/usr/lib/postgresql/<newest>/bin`; as root (CI containers) they run as the `postgres` user,
//! since PostgreSQL refuses to run as root. Dropping the instance stops it, and so does the
//! end of the test process, however it ends (see `tether.rs`).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use crate::multinode::tether::Tether;

/// The prefix of the instances' directories, by which a later run removes those that a killed
/// run left behind.
const DIR_PREFIX: &str = "sendout-pg-";

#[derive(Debug)]
pub struct Instance {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// `runuser -u postgres --` when running as root.
    as_user: Option<String>,
    /// Shuts the server down (SIGQUIT: immediate) if the test process dies.
    tether: Option<Tether>,
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SENDOUT_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists());
    if let Some(dir) = from_pg_config {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server binaries (initdb, pg_ctl) were not found: install postgresql \
             (scripts/setup/postgres.sh does) or set SENDOUT_TEST_PG_BIN"
        )
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Instance {
    /// Creates and starts a server; its `postgres` database is the maintenance database.
    pub fn start() -> Self {
        remove_stale_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .expect("a temporary directory");
        let as_user = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &as_user {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id")
                    .args([flag, user])
                    .output()
                    .expect("id runs");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("no `{user}` user to run PostgreSQL as"))
            };
            std::os::unix::fs::chown(dir.path(), Some(id("-u")), Some(id("-g")))
                .expect("the directory is handed to the postgres user");
        }
        let mut instance = Self {
            bin: bin_dir(),
            port: free_port(),
            dir,
            as_user,
            tether: None,
        };
        let data = instance.data();
        instance.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=60",
            instance.port,
            instance.dir.path().display()
        );
        let log = instance.log();
        instance.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
        instance.tether();
        instance
    }

    /// The maintenance database's URL.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast: open connections are ended, nothing committed is lost) and
    /// starts it again with the same options, waiting until it accepts connections.
    pub fn restart(&mut self) {
        // `-l` again: without it the new server would write to (and hold open) our pipe.
        let (data, log) = (self.data(), self.log());
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-m", "fast", "-w", "restart"],
        );
        self.tether();
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn log(&self) -> String {
        self.dir
            .path()
            .join("server.log")
            .to_string_lossy()
            .into_owned()
    }

    /// Tethers the running postmaster (its pid is the first line of `postmaster.pid`).
    fn tether(&mut self) {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.lines().next().and_then(|l| l.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no running server in {}", pid_file.display()));
        self.tether = Some(Tether::new(pid, "QUIT"));
    }

    /// A PostgreSQL tool, run as the user PostgreSQL runs as.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut command = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.current_dir(self.dir.path());
        command
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} could not run: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.server_log()
        );
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Removes instance directories older than an hour: left by runs that were killed (their
/// server died with them), never one a running test still uses.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(DIR_PREFIX)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age.as_secs() > 3600));
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
