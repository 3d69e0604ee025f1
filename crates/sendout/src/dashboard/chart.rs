//! The dashboard's stacked bar charts: the audit log's send outs over time by status (from
//! `Store::send_out_histogram`), and an endpoint's attempts of the last day by hour,
//! succeeded and failed (its health, from `Health::target_health`). The geometry is
//! computed here as plain data and drawn as inline
//! SVG by the template (no script, no chart library). The SVG stretches to its box, so its
//! labels are HTML around it rather than SVG text, which would stretch with it.
//!
//! Buckets are aligned to multiples of their length since the epoch, as the store groups
//! them; every bucket of the period has a bar, empty ones included, so gaps show as gaps.

use std::time::Duration;

use sendout_core::time::Timestamp;
use sendout_store::health::HourCount;
use sendout_store::{SendOutStatus, StatusBucket};

/// The drawing's coordinate system (the SVG scales to its container's width).
pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 160;
const LEFT: f64 = 0.0;
const RIGHT: f64 = 0.0;
const TOP: f64 = 4.0;
const BOTTOM: f64 = 1.0;

/// The statuses in stacking order (bottom first), with their labels and CSS classes.
pub const STATUSES: [(SendOutStatus, &str, &str); 4] = [
    (SendOutStatus::Succeeded, "succeeded", "st-succeeded"),
    (SendOutStatus::Failed, "failed", "st-failed"),
    (SendOutStatus::Retrying, "retrying", "st-retrying"),
    (SendOutStatus::Pending, "pending", "st-pending"),
];

/// A time filter of the audit log and the chart's buckets for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The query value.
    pub key: &'static str,
    pub label: &'static str,
    /// `None`: no time filter (the chart still shows the last 30 days).
    pub span: Option<Duration>,
    pub bucket: Duration,
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// The periods offered, the default first.
pub const PERIODS: [Period; 5] = [
    Period {
        key: "24h",
        label: "Last 24 hours",
        span: Some(DAY),
        bucket: HOUR,
    },
    Period {
        key: "1h",
        label: "Last hour",
        span: Some(HOUR),
        bucket: Duration::from_secs(300),
    },
    Period {
        key: "7d",
        label: "Last 7 days",
        span: Some(Duration::from_secs(7 * 86_400)),
        bucket: Duration::from_secs(6 * 3600),
    },
    Period {
        key: "30d",
        label: "Last 30 days",
        span: Some(Duration::from_secs(30 * 86_400)),
        bucket: DAY,
    },
    Period {
        key: "all",
        label: "All time",
        span: None,
        bucket: DAY,
    },
];

impl Period {
    /// The period of a query value; the default for anything else.
    pub fn parse(key: Option<&str>) -> Self {
        PERIODS
            .iter()
            .find(|p| Some(p.key) == key)
            .copied()
            .unwrap_or(PERIODS[0])
    }

    /// Where the chart starts: the bucket holding `now - span` (30 days for all time).
    pub fn chart_start(&self, now: Timestamp) -> Timestamp {
        let span = self.span.unwrap_or(Duration::from_secs(30 * 86_400));
        let bucket = millis(self.bucket);
        let from = now.as_millis() - millis(span);
        Timestamp::from_millis(from.div_euclid(bucket) * bucket)
    }

    /// The earliest creation time the filter lets through, if any.
    pub fn created_after(&self, now: Timestamp) -> Option<Timestamp> {
        self.span.map(|s| now.plus_millis(-millis(s)))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// One status's part of a bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub y: String,
    pub height: String,
    pub class: &'static str,
}

/// One bucket's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: String,
    pub width: String,
    pub segments: Vec<Segment>,
    /// What a pointer over the bar (and a screen reader) is told.
    pub title: String,
}

/// The whole chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// The tallest bar's count (the top of the axis).
    pub max: u64,
    pub first_label: String,
    pub last_label: String,
    /// Per status: label, class, count in the period.
    pub totals: Vec<(&'static str, &'static str, u64)>,
    pub summary: String,
    /// The caption's id, unique on the page.
    pub id: String,
    /// What the chart shows, told to screen readers before the summary.
    pub what: &'static str,
    // Fixed coordinates, for the template.
    pub width: u32,
    pub height: u32,
    pub axis_x: String,
    pub axis_right: String,
    pub axis_y: String,
}

fn label(at: Timestamp, bucket: Duration) -> String {
    let text = at.to_string();
    let part = if bucket >= DAY {
        text.get(5..10)
    } else if bucket >= Duration::from_secs(6 * 3600) {
        return format!(
            "{} {}",
            text.get(5..10).unwrap_or(""),
            text.get(11..16).unwrap_or("")
        );
    } else {
        text.get(11..16)
    };
    part.unwrap_or(&text).to_owned()
}

/// A series of a chart: its label and CSS class, stacked in the order given (bottom first).
pub type Series = (&'static str, &'static str);

/// An endpoint's attempts (its health chart): those that succeeded, and those that failed.
pub const ATTEMPT_SERIES: [Series; 2] = [("succeeded", "st-succeeded"), ("failed", "st-failed")];

/// What a chart is told to a reader besides its bars.
struct Labels {
    /// The caption's id (unique on the page).
    id: String,
    /// What the chart shows, for screen readers.
    what: &'static str,
    /// A bar's title when it is empty.
    nothing: &'static str,
}

/// Lays out `buckets` (from the store) for `period` as of `now`.
pub fn build(buckets: &[StatusBucket], period: Period, now: Timestamp) -> Chart {
    let start = period.chart_start(now);
    let bucket_ms = millis(period.bucket);
    let mut counts = vec![vec![0u64; STATUSES.len()]; bar_count(start, bucket_ms, now)];
    for b in buckets {
        let Some(slot) = slot(&mut counts, start, bucket_ms, b.bucket_start) else {
            continue;
        };
        if let Some(s) = STATUSES
            .iter()
            .position(|(status, _, _)| *status == b.status)
        {
            slot[s] += b.count;
        }
    }
    let series: Vec<Series> = STATUSES.iter().map(|(_, n, c)| (*n, *c)).collect();
    let shown = if period.span.is_some() {
        period.label
    } else {
        "Last 30 days"
    };
    let labels = Labels {
        id: "chart-caption".to_owned(),
        what: "Send outs over time by status. ",
        nothing: "no send outs",
    };
    layout(&counts, &series, (start, period.bucket, now), shown, labels)
}

/// The health chart of one endpoint: its attempts of the last 24 hours by hour, succeeded
/// and failed, from the store's hourly counts; `id` names its caption.
pub fn attempts(hours: &[HourCount], now: Timestamp, id: String) -> Chart {
    let period = PERIODS[0];
    let start = period.chart_start(now);
    let bucket_ms = millis(period.bucket);
    let mut counts = vec![vec![0u64; ATTEMPT_SERIES.len()]; bar_count(start, bucket_ms, now)];
    for hour in hours {
        if let Some(slot) = slot(&mut counts, start, bucket_ms, hour.hour_start) {
            slot[0] += hour.succeeded;
            slot[1] += hour.attempts.saturating_sub(hour.succeeded);
        }
    }
    let labels = Labels {
        id,
        what: "Attempts over time, succeeded and failed. ",
        nothing: "no attempts",
    };
    layout(
        &counts,
        &ATTEMPT_SERIES,
        (start, period.bucket, now),
        period.label,
        labels,
    )
}

fn bar_count(start: Timestamp, bucket_ms: i64, now: Timestamp) -> usize {
    usize::try_from((now.as_millis() - start.as_millis()) / bucket_ms + 1).unwrap_or(1)
}

/// The counts of the bar holding `at`, if the chart has it.
fn slot(
    counts: &mut [Vec<u64>],
    start: Timestamp,
    bucket_ms: i64,
    at: Timestamp,
) -> Option<&mut Vec<u64>> {
    let index = (at.as_millis() - start.as_millis()).div_euclid(bucket_ms);
    usize::try_from(index).ok().and_then(|i| counts.get_mut(i))
}

/// The geometry of bars of `counts` (one per bucket, one count per series) from `start` in
/// buckets of `bucket` up to `now`.
fn layout(
    counts: &[Vec<u64>],
    series: &[Series],
    (start, bucket, now): (Timestamp, Duration, Timestamp),
    shown: &str,
    labels: Labels,
) -> Chart {
    let bucket_ms = millis(bucket);
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let plot_w = f64::from(WIDTH) - LEFT - RIGHT;
    let plot_h = f64::from(HEIGHT) - TOP - BOTTOM;
    let step = plot_w / counts.len().max(1) as f64;
    let scale = if max == 0 { 0.0 } else { plot_h / max as f64 };
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let at = Timestamp::from_millis(start.as_millis() + bucket_ms * i as i64);
            let mut y = TOP + plot_h;
            let segments = c
                .iter()
                .zip(series)
                .filter(|(n, _)| **n > 0)
                .map(|(n, (_, class))| {
                    let h = *n as f64 * scale;
                    y -= h;
                    Segment {
                        y: format!("{y:.1}"),
                        height: format!("{h:.1}"),
                        class,
                    }
                })
                .collect();
            let parts: Vec<String> = c
                .iter()
                .zip(series)
                .filter(|(n, _)| **n > 0)
                .map(|(n, (name, _))| format!("{n} {name}"))
                .collect();
            let what = if parts.is_empty() {
                labels.nothing.to_owned()
            } else {
                parts.join(", ")
            };
            Bar {
                x: format!("{:.1}", LEFT + step * i as f64 + step * 0.1),
                width: format!("{:.1}", step * 0.8),
                segments,
                title: format!("{}: {what}", label(at, bucket)),
            }
        })
        .collect();
    let totals: Vec<(&'static str, &'static str, u64)> = series
        .iter()
        .enumerate()
        .map(|(s, (name, class))| (*name, *class, counts.iter().map(|c| c[s]).sum()))
        .collect();
    let summary = format!(
        "{shown}: {}.",
        totals
            .iter()
            .map(|(name, _, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Chart {
        bars,
        max,
        first_label: label(start, bucket),
        last_label: label(now, bucket),
        totals,
        summary,
        id: labels.id,
        what: labels.what,
        width: WIDTH,
        height: HEIGHT,
        axis_x: format!("{LEFT:.1}"),
        axis_right: format!("{:.1}", f64::from(WIDTH) - RIGHT),
        axis_y: format!("{:.1}", TOP + plot_h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("valid")
    }

    #[test]
    fn every_bucket_of_the_period_has_a_bar_stacked_by_status() {
        let now = at("2024-01-02T10:30:00.000Z");
        let period = Period::parse(Some("24h"));
        let buckets = [
            StatusBucket {
                bucket_start: at("2024-01-02T09:00:00.000Z"),
                status: SendOutStatus::Succeeded,
                count: 3,
            },
            StatusBucket {
                bucket_start: at("2024-01-02T09:00:00.000Z"),
                status: SendOutStatus::Failed,
                count: 1,
            },
            StatusBucket {
                bucket_start: at("2024-01-02T10:00:00.000Z"),
                status: SendOutStatus::Pending,
                count: 2,
            },
        ];
        let chart = build(&buckets, period, now);
        assert_eq!(chart.bars.len(), 25, "24 hours and the one running now");
        assert_eq!(chart.max, 4);
        let nine = &chart.bars[23];
        assert_eq!(nine.segments.len(), 2);
        assert_eq!(nine.segments[0].class, "st-succeeded");
        assert_eq!(nine.title, "09:00: 3 succeeded, 1 failed");
        assert_eq!(chart.bars[0].segments.len(), 0);
        assert_eq!(chart.bars[0].title, "10:00: no send outs");
        assert_eq!(
            chart.summary,
            "Last 24 hours: 3 succeeded, 1 failed, 0 retrying, 2 pending."
        );
        let top: f64 = nine.segments[1].y.parse().expect("a number");
        assert!(
            (top - TOP).abs() < 0.11,
            "the tallest bar reaches the top: {top}"
        );
    }

    #[test]
    fn buckets_outside_the_period_are_left_out() {
        let now = at("2024-01-02T10:30:00.000Z");
        let old = [StatusBucket {
            bucket_start: at("2023-12-01T00:00:00.000Z"),
            status: SendOutStatus::Failed,
            count: 9,
        }];
        let chart = build(&old, Period::parse(Some("1h")), now);
        assert_eq!(chart.max, 0);
        assert_eq!(chart.bars.len(), 13);
        assert_eq!(chart.first_label, "09:30");
    }

    #[test]
    fn unknown_periods_fall_back_to_the_default() {
        assert_eq!(Period::parse(Some("fortnight")).key, "24h");
        assert_eq!(Period::parse(None).key, "24h");
        let all = Period::parse(Some("all"));
        assert_eq!(all.created_after(Timestamp::now()), None);
    }

    #[test]
    fn an_endpoints_chart_stacks_its_failed_attempts_on_its_successes_by_hour() {
        let now = at("2024-01-02T10:30:00.000Z");
        let hours = [HourCount {
            hour_start: at("2024-01-02T08:00:00.000Z"),
            attempts: 5,
            succeeded: 3,
        }];
        let chart = attempts(&hours, now, "health-chart".to_owned());
        assert_eq!(chart.bars.len(), 25);
        assert_eq!(chart.max, 5);
        assert_eq!(chart.bars[22].title, "08:00: 3 succeeded, 2 failed");
        assert_eq!(chart.bars[23].title, "09:00: no attempts");
        assert_eq!(chart.summary, "Last 24 hours: 3 succeeded, 2 failed.");
        assert_eq!(chart.id, "health-chart");
    }
}
