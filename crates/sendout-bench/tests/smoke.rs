//! `sendout bench --quick --json` end to end, as a user types it: the `sendout` binary hands
//! over to `sendout-bench`, which starts its receivers (itself) and engines (that `sendout`)
//! as child processes on loopback, and its report holds every figure with every expected
//! delivery made. Counts are checked, never speeds (speeds are the bench's output, not
//! something a test on a shared machine can assert).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// The `sendout` binary beside the `sendout-bench` that cargo built for this test.
///
/// Cargo builds a package's own binaries for its integration tests, not another package's
/// (a dev-dependency on `sendout` gives its library only), so `sendout` is there when the
/// workspace was built: `cargo nextest run --workspace` (scripts/test.sh) builds it, since
/// `sendout`'s own tests need it. Run alone (`-p sendout-bench`), the test says so.
fn sendout_binary() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_sendout-bench"));
    let sendout = bench.with_file_name(format!("sendout{}", std::env::consts::EXE_SUFFIX));
    assert!(
        sendout.is_file(),
        "the smoke test runs `sendout bench`, and there is no sendout binary at {}: build \
         it first (`cargo build -p sendout`), or run the workspace's tests \
         (`cargo nextest run --workspace`), which builds it",
        sendout.display()
    );
    sendout
}

/// Runs the quick bench and returns its JSON report.
async fn quick_bench_report() -> Value {
    let mut command = tokio::process::Command::new(sendout_binary());
    command
        .args(["bench", "--quick", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The engines the bench starts must get the bench's settings, not this environment's.
    for (key, _) in std::env::vars() {
        if key.starts_with("SENDOUT_") {
            command.env_remove(key);
        }
    }
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("the quick bench ends within 10 minutes")
        .expect("the bench runs");
    assert!(
        output.status.success(),
        "the bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A figure that must be a positive number.
#[track_caller]
fn positive(value: &Value, what: &str) -> f64 {
    let number = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(number > 0.0 && number.is_finite(), "{what} = {number}");
    number
}

#[track_caller]
fn all_delivered(run: &Value, what: &str) {
    let expected = run["expected_deliveries"].as_u64().unwrap();
    assert!(expected > 0, "{what}: nothing was expected: {run}");
    assert_eq!(run["deliveries"].as_u64(), Some(expected), "{what}: {run}");
    assert_eq!(run["duplicates"].as_u64().unwrap_or(0), 0, "{what}: {run}");
}

#[tokio::test]
async fn the_quick_bench_reports_every_figure_with_every_delivery_made() {
    let report = quick_bench_report().await;

    assert_eq!(report["quick"], true);
    positive(&report["machine"]["cpus"], "cpus");

    let bare = report["bare"].as_array().unwrap();
    assert_eq!(bare.len(), 2, "{report}");
    for run in bare {
        positive(&run["requests_per_s"], "bare requests/s");
    }

    let throughput = report["throughput"].as_array().unwrap();
    let shapes: Vec<(u64, &str)> = throughput
        .iter()
        .map(|t| (t["fanout"].as_u64().unwrap(), t["ingest"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shapes,
        [(1, "single"), (1, "batched"), (4, "single"), (4, "batched")]
    );
    for run in throughput {
        all_delivered(run, "throughput");
        assert_eq!(
            run["expected_deliveries"].as_u64(),
            Some(run["events"].as_u64().unwrap() * run["fanout"].as_u64().unwrap())
        );
        positive(&run["deliveries_per_s"], "deliveries/s");
        positive(&run["events_per_s"], "events/s");
        positive(&run["ingest_response"]["p99_ms"], "ingest p99");
        positive(&run["fraction_of_bare"], "fraction of bare");
        positive(&run["mean_body_bytes"], "body size");
        positive(&run["server_peak_rss_mb"], "peak memory");
    }

    let latency = &report["latency"];
    all_delivered(latency, "latency");
    for figure in ["p50_ms", "p99_ms", "max_ms"] {
        positive(&latency["ingest_to_receipt"][figure], figure);
        positive(&latency["ingest_response"][figure], figure);
    }
    // The slowest requests, slowest first, the first of them the maximum.
    let slowest = latency["ingest_slowest"]
        .as_array()
        .expect("the slowest requests");
    assert!(!slowest.is_empty() && slowest.len() <= 10, "{latency}");
    assert_eq!(
        slowest[0]["response_ms"].as_f64(),
        latency["ingest_response"]["max_ms"].as_f64(),
        "{latency}"
    );
    assert!(
        slowest
            .windows(2)
            .all(|w| w[0]["response_ms"].as_f64() >= w[1]["response_ms"].as_f64()),
        "{latency}"
    );
    positive(&slowest[0]["sent_us"], "sent_us");
    assert!(latency["ingest_over_goal"].is_u64(), "{latency}");

    let backlog = &report["backlog"];
    all_delivered(backlog, "backlog");
    assert!(backlog["send_outs"].as_u64().unwrap() >= 2_000, "{backlog}");
    for figure in [
        "drain_per_s",
        "peak_rss_mb_ingest",
        "peak_rss_mb_drain",
        "database_mb",
    ] {
        positive(&backlog[figure], figure);
    }

    let retry = &report["retry"];
    all_delivered(retry, "retry");
    let attempts = retry["attempts"].as_u64().unwrap();
    let failed = retry["failed_attempts"].as_u64().unwrap();
    assert!(failed > 0, "some attempts failed and were retried: {retry}");
    assert_eq!(
        attempts - failed,
        retry["deliveries"].as_u64().unwrap(),
        "every attempt either failed on purpose or delivered: {retry}"
    );

    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 6, "{report}");
    for target in targets {
        assert!(
            target["name"].is_string() && target["goal"].is_string(),
            "{target}"
        );
    }
}
