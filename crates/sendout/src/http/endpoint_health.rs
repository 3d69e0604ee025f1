//! Endpoint health as sub-resources (docs/API.md): `GET …/webhooks/{webhookId}/health` in the
//! management API and `GET /v1/distributions/{distributionId}/health` in the project API.
//!
//! Decisions:
//! - a sub-resource, not a `health` field of the webhook: the webhook object stays exactly
//!   what Voucherify's management clients read and write (they `PUT` back what they got),
//!   and reading a list of webhooks costs no health query;
//! - percentiles are the upper bound of a log-scale histogram bucket, so within a factor of
//!   √2 of the true value (`sendout_store::health`); a window without attempts has
//!   `success_rate`, `p50_ms` and `p95_ms` `null`.

use axum::extract::State;
use sendout_store::health::{Tally, TargetHealth};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::auth::{AppKey, ManagementKey};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Path;
use crate::ops::{health, projects, AppState};

/// One window's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    /// Attempts made in the window (tests left out).
    #[schema(minimum = 0)]
    pub attempts: u64,
    /// Of those, how many got a 2xx in time.
    #[schema(minimum = 0)]
    pub succeeded: u64,
    /// `succeeded / attempts`, 0 to 1; `null` without attempts.
    #[schema(minimum = 0, maximum = 1)]
    pub success_rate: Option<f64>,
    /// The median attempt duration, as the upper bound of its histogram bucket (the true
    /// value is below it and within a factor of √2); `null` without attempts.
    #[schema(minimum = 1)]
    pub p50_ms: Option<u64>,
    /// The 95th percentile, likewise.
    #[schema(minimum = 1)]
    pub p95_ms: Option<u64>,
}

impl From<&Tally> for WindowView {
    fn from(tally: &Tally) -> Self {
        Self {
            attempts: tally.attempts,
            succeeded: tally.succeeded,
            success_rate: tally.success_rate(),
            p50_ms: tally.percentile_ms(0.5),
            p95_ms: tally.percentile_ms(0.95),
        }
    }
}

/// One hour of the last day.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourView {
    /// The hour's start (UTC, on the hour).
    pub hour_start: String,
    #[schema(minimum = 0)]
    pub attempts: u64,
    #[schema(minimum = 0)]
    pub succeeded: u64,
}

/// A target's health: a webhook's, or one channel's of a distribution.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// The 60 minutes up to now (the minute running included).
    pub last_hour: WindowView,
    /// The 1,440 minutes up to now.
    pub last_day: WindowView,
    /// Attempts that failed since the last success (or since the first attempt).
    #[schema(minimum = 0)]
    pub consecutive_failures: u64,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
    /// The last day by hour, oldest first; hours without attempts are left out.
    pub hours: Vec<HourView>,
}

impl From<&TargetHealth> for HealthView {
    fn from(health: &TargetHealth) -> Self {
        Self {
            last_hour: (&health.last_hour).into(),
            last_day: (&health.last_day).into(),
            consecutive_failures: health.consecutive_failures,
            last_attempt_at: health.last_attempt_at.map(|t| t.to_string()),
            last_success_at: health.last_success_at.map(|t| t.to_string()),
            last_failure_at: health.last_failure_at.map(|t| t.to_string()),
            hours: health
                .hours
                .iter()
                .map(|h| HourView {
                    hour_start: h.hour_start.to_string(),
                    attempts: h.attempts,
                    succeeded: h.succeeded,
                })
                .collect(),
        }
    }
}

/// A webhook's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookHealthView {
    #[schema(example = "webhook_health")]
    pub object: &'static str,
    pub webhook_id: String,
    #[serde(flatten)]
    pub health: HealthView,
}

/// One channel's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelHealthView {
    /// The channel's index in the distribution's `channels`.
    #[schema(minimum = 0)]
    pub channel: u32,
    pub event_name: String,
    pub url: String,
    #[serde(flatten)]
    pub health: HealthView,
}

/// A distribution's health, channel by channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct DistributionHealthView {
    #[schema(example = "distribution_health")]
    pub object: &'static str,
    pub distribution_id: String,
    pub channels: Vec<ChannelHealthView>,
}

/// A webhook's health: success rate and response times over the last hour and day,
/// consecutive failures, last success.
#[utoipa::path(
    get,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}/health",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    responses(
        (status = 200, description = "The webhook's health", body = WebhookHealthView),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
    )
)]
pub async fn webhook_health(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path((project_id, webhook_id)): Path<(String, String)>,
) -> Result<axum::Json<WebhookHealthView>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let (webhook, health) = health::of_webhook(&state, &project, &webhook_id).await?;
    Ok(axum::Json(WebhookHealthView {
        object: "webhook_health",
        webhook_id: webhook.id.to_string(),
        health: (&health).into(),
    }))
}

/// The health of each channel of a distribution, in channel order.
#[utoipa::path(
    get,
    path = "/v1/distributions/{distributionId}/health",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    params(("distributionId" = String, Path, description = "The distribution's id")),
    responses(
        (status = 200, description = "Each channel's health", body = DistributionHealthView),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such distribution in this project", body = ErrorBody),
    )
)]
pub async fn distribution_health(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<DistributionHealthView>, ApiError> {
    let (distribution, channels) = health::of_distribution(&state, &project, &raw_id).await?;
    let channels = distribution
        .spec
        .channels()
        .iter()
        .zip(&channels)
        .enumerate()
        .map(|(index, (channel, health))| ChannelHealthView {
            channel: u32::try_from(index).unwrap_or(u32::MAX),
            event_name: channel.event_name().as_str().to_owned(),
            url: channel.url().to_string(),
            health: health.into(),
        })
        .collect();
    Ok(axum::Json(DistributionHealthView {
        object: "distribution_health",
        distribution_id: distribution.id.to_string(),
        channels,
    }))
}
