//! Endpoint health as the dashboard shows it: a compact cell in the webhooks list, and on a
//! webhook's page (and for each channel on a distribution's page) the figures of the last
//! hour and day with a chart of the day's attempts by hour (`chart.rs`, no script).
//! Everything here is made from the store's records (`ops::health`), not from the API.

use sendout_core::time::Timestamp;
use sendout_store::health::{Tally, TargetHealth};

use crate::dashboard::chart::{self, Chart};
use crate::dashboard::layout::show_time;

/// One window's figures, as text.
#[derive(Debug, Clone)]
pub struct WindowFigures {
    pub attempts: u64,
    /// `98.5 %`, or `–` without attempts.
    pub success_rate: String,
    /// `≤ 362 ms`, or `–`.
    pub p50: String,
    pub p95: String,
}

fn rate(tally: &Tally) -> String {
    match tally.success_rate() {
        Some(rate) => {
            // Rounded down, so that only a target with no failure shows 100 %.
            let percent = format!("{:.1}", (rate * 1000.0).floor() / 10.0);
            format!("{} %", percent.strip_suffix(".0").unwrap_or(&percent))
        }
        None => "–".to_owned(),
    }
}

fn percentile(tally: &Tally, q: f64) -> String {
    match tally.percentile_ms(q) {
        Some(ms) => format!("≤ {ms} ms"),
        None => "–".to_owned(),
    }
}

impl From<&Tally> for WindowFigures {
    fn from(tally: &Tally) -> Self {
        Self {
            attempts: tally.attempts,
            success_rate: rate(tally),
            p50: percentile(tally, 0.5),
            p95: percentile(tally, 0.95),
        }
    }
}

/// A target's health panel.
#[derive(Debug, Clone)]
pub struct HealthPanel {
    /// The panel's heading.
    pub title: String,
    /// Unique on the page: the prefix of the panel's element ids.
    pub id: String,
    pub hour: WindowFigures,
    pub day: WindowFigures,
    pub consecutive_failures: u64,
    /// When the last attempt succeeded, or `never`.
    pub last_success: String,
    pub last_failure: String,
    pub chart: Chart,
}

impl HealthPanel {
    pub fn new(title: String, id: String, health: &TargetHealth, now: Timestamp) -> Self {
        let when = |at: Option<Timestamp>| at.map_or_else(|| "never".to_owned(), show_time);
        Self {
            chart: chart::attempts(&health.hours, now, format!("{id}-chart")),
            title,
            id,
            hour: (&health.last_hour).into(),
            day: (&health.last_day).into(),
            consecutive_failures: health.consecutive_failures,
            last_success: when(health.last_success_at),
            last_failure: when(health.last_failure_at),
        }
    }
}

/// The webhooks list's compact health cell: the last day's success rate and p95, and the
/// failures in a row when there are some.
#[derive(Debug, Clone)]
pub struct HealthCell {
    /// `100 % · p95 ≤ 6 ms (12 today)`, or `no attempts today`.
    pub text: String,
    /// `3 failures in a row`, when the last attempt failed.
    pub failing: Option<String>,
    /// `st-succeeded` / `st-retrying` / `st-failed` by the day's success rate.
    pub class: &'static str,
}

impl HealthCell {
    pub fn new(health: Option<&TargetHealth>) -> Self {
        let Some(health) = health.filter(|h| h.last_day.attempts > 0) else {
            return Self {
                text: "no attempts in 24 h".to_owned(),
                failing: None,
                class: "",
            };
        };
        let day = &health.last_day;
        let class = match day.success_rate() {
            Some(r) if r >= 0.99 => "st-succeeded",
            Some(r) if r >= 0.9 => "st-retrying",
            _ => "st-failed",
        };
        let failing = match health.consecutive_failures {
            0 => None,
            1 => Some("1 failure in a row".to_owned()),
            n => Some(format!("{n} failures in a row")),
        };
        Self {
            text: format!(
                "{} · p95 {} · {} in 24 h",
                rate(day),
                percentile(day, 0.95),
                day.attempts
            ),
            failing,
            class,
        }
    }
}
