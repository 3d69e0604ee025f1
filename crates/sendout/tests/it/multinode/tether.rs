//! Ties a process's life to the test's: a watchdog shell waits on a pipe whose only writer is
//! this test process, and kills the tethered process when the pipe closes. The pipe closes
//! however the test process ends (a panic, a timeout's SIGKILL), so no `sendout serve` or
//! private PostgreSQL outlives the test that started it. std opens pipes close-on-exec, so no
//! other child holds the pipe open.

use std::process::{Child, Command, Stdio};

#[derive(Debug)]
pub struct Tether {
    watchdog: Child,
}

impl Tether {
    /// Sends `signal` (`KILL`, `QUIT`, …) to `pid` once this test process is gone.
    pub fn new(pid: u32, signal: &str) -> Self {
        let watchdog = Command::new("sh")
            .args(["-c", r#"read _; kill -s "$1" "$2" 2>/dev/null"#, "tether"])
            .args([signal, &pid.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("a watchdog shell starts");
        Self { watchdog }
    }
}

impl Drop for Tether {
    /// The tethered process was ended by other means: the watchdog goes without a signal.
    fn drop(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}
