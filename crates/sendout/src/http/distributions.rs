//! Distributions on the project API (PRODUCT §5.2, §6): create, list, read, replace, delete,
//! pause and set live. The preview is in [`super::distribution_preview`].
//!
//! Decisions (docs/DISTRIBUTIONS.md, docs/API.md):
//! - the rules are `sendout_core::distribution`'s: a malformed value (name, event name, URL,
//!   headers, payload settings) is a 400 naming the field; a well-formed value the catalog
//!   does not allow is a 422 with its own key: `unknown_trigger`, `unsupported_action`,
//!   `unsupported_condition`, `invalid_template` (with line and column),
//!   `unknown_template_path` (naming the path, suggestions and what the trigger offers),
//!   `key_not_for_action` (a key the trigger's data carries only for other actions, naming
//!   the path and the action), `invalid_attributes`;
//! - create answers 200 with the resource (as webhook create does) and starts `LIVE` unless
//!   the body says `"status": "DRAFT"` or `"PAUSED"`; delete answers 204;
//! - `PUT` replaces name, trigger, action and channels (all required) and keeps the status
//!   when the body has none; read-only fields are accepted and ignored, so what was read can
//!   be written back;
//! - `POST …/pause` pauses (no reason: a person did it); `POST …/live` sets it live and clears
//!   an automatic pause's reason. Both answer the resource and are idempotent;
//! - channel headers are shown in clear: the same key wrote them;
//! - ids of another project, or malformed ids, are a 404.

use axum::extract::State;
use axum::http::StatusCode;
use sendout_core::distribution::{DistributionInput, DistributionStatus};

use crate::http::auth::AppKey;
use crate::http::distribution_views::{DistributionList, DistributionRequest, DistributionView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonObject, Path};
use crate::ops::distributions::{self, DistributionChange};
use crate::ops::AppState;

impl From<DistributionRequest> for DistributionChange {
    fn from(request: DistributionRequest) -> Self {
        Self {
            input: DistributionInput {
                name: request.name,
                trigger: request.trigger,
                action: request.action,
                channels: request.channels,
            },
            status: request.status,
        }
    }
}

/// Creates a distribution.
#[utoipa::path(
    post,
    path = "/v1/distributions",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    request_body = DistributionRequest,
    responses(
        (status = 200, description = "The new distribution", body = DistributionView),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 422, description = "Unknown trigger, unsupported action or condition, bad template, unknown template path, or a key the action does not get", body = ErrorBody),
    )
)]
pub async fn create_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    JsonObject(request): JsonObject<DistributionRequest>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let created = distributions::create(&state, &project, request.into()).await?;
    Ok(axum::Json(created.into()))
}

/// Lists the project's distributions, oldest first.
#[utoipa::path(
    get,
    path = "/v1/distributions",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    responses(
        (status = 200, description = "Every distribution of the project", body = DistributionList),
        (status = 401, description = "No valid project key", body = ErrorBody),
    )
)]
pub async fn list_distributions(
    AppKey(project): AppKey,
    State(state): State<AppState>,
) -> Result<axum::Json<DistributionList>, ApiError> {
    let data: Vec<DistributionView> = distributions::list(&state, &project)
        .await?
        .into_iter()
        .map(DistributionView::from)
        .collect();
    Ok(axum::Json(DistributionList {
        object: "list",
        data_ref: "data",
        total: data.len(),
        data,
    }))
}

/// Reads one distribution.
#[utoipa::path(
    get,
    path = "/v1/distributions/{distributionId}",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    params(("distributionId" = String, Path, description = "The distribution's id")),
    responses(
        (status = 200, description = "The distribution", body = DistributionView),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such distribution in this project", body = ErrorBody),
    )
)]
pub async fn get_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let distribution = distributions::get(&state, &project, &raw_id).await?;
    Ok(axum::Json(distribution.into()))
}

/// Replaces a distribution's configuration (and its status, when given).
#[utoipa::path(
    put,
    path = "/v1/distributions/{distributionId}",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    params(("distributionId" = String, Path, description = "The distribution's id")),
    request_body = DistributionRequest,
    responses(
        (status = 200, description = "The distribution as replaced", body = DistributionView),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such distribution in this project", body = ErrorBody),
        (status = 422, description = "Unknown trigger, unsupported action or condition, bad template, unknown template path, or a key the action does not get", body = ErrorBody),
    )
)]
pub async fn update_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    JsonObject(request): JsonObject<DistributionRequest>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let updated = distributions::update(&state, &project, &raw_id, request.into()).await?;
    Ok(axum::Json(updated.into()))
}

/// Deletes a distribution; its send outs stay in the audit log and are not sent any more.
#[utoipa::path(
    delete,
    path = "/v1/distributions/{distributionId}",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    params(("distributionId" = String, Path, description = "The distribution's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such distribution in this project", body = ErrorBody),
    )
)]
pub async fn delete_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    distributions::delete(&state, &project, &raw_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a distribution: its events stop fanning out, and its pending send outs are not sent
/// (they end `FAILED` when their attempt comes).
#[utoipa::path(
    post,
    path = "/v1/distributions/{distributionId}/pause",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    params(("distributionId" = String, Path, description = "The distribution's id")),
    responses(
        (status = 200, description = "The paused distribution", body = DistributionView),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such distribution in this project", body = ErrorBody),
    )
)]
pub async fn pause_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let paused =
        distributions::set_status(&state, &project, &raw_id, DistributionStatus::Paused).await?;
    Ok(axum::Json(paused.into()))
}

/// Sets a distribution live (from draft, or resuming after a pause, clearing its reason).
#[utoipa::path(
    post,
    path = "/v1/distributions/{distributionId}/live",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    params(("distributionId" = String, Path, description = "The distribution's id")),
    responses(
        (status = 200, description = "The live distribution", body = DistributionView),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such distribution in this project", body = ErrorBody),
    )
)]
pub async fn set_distribution_live(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let live =
        distributions::set_status(&state, &project, &raw_id, DistributionStatus::Live).await?;
    Ok(axum::Json(live.into()))
}
