//! What the bench measures with, shared by every scenario: the wall clock (comparable across
//! the processes of one machine), each process's CPU time and peak memory from `/proc`, and
//! the figures made from samples (percentiles, the slowest requests). It imports nothing of
//! the bench, so the receiver, the process control and the report can all stand on it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Peak resident memory (`VmHWM`) of a process, in bytes; `None` where `/proc` is missing.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) a process has used so far, in seconds; `None` where `/proc` is
/// missing. Counted in clock ticks of 1/100 s, Linux's `USER_HZ` on every common platform.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Bytes as mebibytes.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// CPU time per delivery (or per bare request), in µs, by process: the engine, the receiver,
/// and the bench itself (the ingest load, or the bare client). Unlike rates, these hardly
/// change when other work shares the machine.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuPerDelivery {
    pub engine_us: Option<f64>,
    pub receiver_us: Option<f64>,
    pub sender_us: Option<f64>,
}

/// CPU seconds of the three processes at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    engine: Option<f64>,
    receiver: Option<f64>,
    sender: Option<f64>,
}

impl CpuMark {
    pub fn now(engine: Option<f64>, receiver: Option<f64>) -> Self {
        Self {
            engine,
            receiver,
            sender: cpu_seconds(std::process::id()),
        }
    }

    /// The CPU time since `self` until `later`, per one of `count` deliveries.
    pub fn per(&self, later: &CpuMark, count: u64) -> CpuPerDelivery {
        let per =
            |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0) * 1e6 / count.max(1) as f64);
        CpuPerDelivery {
            engine_us: per(self.engine, later.engine),
            receiver_us: per(self.receiver, later.receiver),
            sender_us: per(self.sender, later.sender),
        }
    }
}

/// p50, p99 and max of durations in µs, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(values_us: &mut [u64]) -> Self {
        if values_us.is_empty() {
            return Self::default();
        }
        values_us.sort_unstable();
        let at = |q: f64| {
            let rank = ((values_us.len() as f64) * q).ceil() as usize;
            values_us[rank.clamp(1, values_us.len()) - 1] as f64 / 1000.0
        };
        Self {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// How many of the slowest requests a run reports.
pub const SLOWEST: usize = 10;

/// A slow request: when it was sent (µs since the epoch, to set beside a trace of the engine)
/// and how long its answer took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlowRequest {
    pub sent_us: u64,
    /// Seconds from the run's first request to this one's sending.
    pub after_s: f64,
    pub response_ms: f64,
}

impl SlowRequest {
    /// The `keep` slowest of a run's requests, slowest first, and how many took longer than
    /// `over_us`. `sent_us` and `took_us` are in the same order, one entry per request.
    pub fn slowest(
        started_us: u64,
        sent_us: &[u64],
        took_us: &[u64],
        keep: usize,
        over_us: u64,
    ) -> (Vec<Self>, usize) {
        let mut pairs: Vec<(u64, u64)> = sent_us
            .iter()
            .copied()
            .zip(took_us.iter().copied())
            .collect();
        let over = pairs.iter().filter(|(_, took)| *took > over_us).count();
        pairs.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let slowest = pairs
            .into_iter()
            .take(keep)
            .map(|(sent, took)| Self {
                sent_us: sent,
                after_s: sent.saturating_sub(started_us) as f64 / 1e6,
                response_ms: took as f64 / 1000.0,
            })
            .collect();
        (slowest, over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_requests_come_slowest_first_with_the_count_over_the_bound() {
        let sent = [1_000_000, 1_001_000, 1_002_000, 1_003_000, 1_004_000];
        let took = [800, 62_500, 4_900, 5_100, 62_500];
        let (slowest, over) = SlowRequest::slowest(1_000_000, &sent, &took, 3, 5_000);
        assert_eq!(over, 3);
        let seen: Vec<(u64, f64, f64)> = slowest
            .iter()
            .map(|s| (s.sent_us, s.after_s, s.response_ms))
            .collect();
        assert_eq!(
            seen,
            [
                (1_001_000, 0.001, 62.5),
                (1_004_000, 0.004, 62.5),
                (1_003_000, 0.003, 5.1)
            ]
        );
        assert_eq!(SlowRequest::slowest(0, &[], &[], 3, 5_000), (vec![], 0));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut values: Vec<u64> = (1..=100).map(|v| v * 1000).collect();
        let p = Percentiles::of(&mut values);
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms), (50.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&mut []).max_ms, 0.0);
    }

    #[test]
    fn this_process_has_a_peak_resident_size_and_a_cpu_time_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes(std::process::id()).is_some_and(|b| b > 0));
            let spent: u64 = (0..2_000_000u64).map(|i| i.wrapping_mul(i) % 7).sum();
            assert!(spent > 0);
            assert!(cpu_seconds(std::process::id()).is_some_and(|s| s >= 0.0));
        }
    }
}
