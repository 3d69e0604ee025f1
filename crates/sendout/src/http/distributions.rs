//! Distributions on the project API (PRODUCT §5.2, §6): create, list, read, replace, delete,
//! pause and set live. The preview is in [`super::distribution_preview`].
//!
//! Decisions (docs/DISTRIBUTIONS.md, docs/API.md):
//! - the rules are `sendout_core::distribution`'s: a malformed value (name, event name, URL,
//!   headers, payload settings) is a 400 naming the field; a well-formed value the catalog
//!   does not allow is a 422 with its own key: `unknown_trigger`, `unsupported_action`,
//!   `unsupported_condition`, `invalid_template` (with line and column),
//!   `unknown_template_path` (naming the path, suggestions and what the trigger offers),
//!   `invalid_attributes`;
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
use sendout_core::distribution::{
    ChannelInput, DistributionError, DistributionInput, DistributionSpec, DistributionStatus,
    TriggerInput,
};
use sendout_core::ids::DistributionId;
use sendout_store::{Distribution, Project};

use crate::http::auth::AppKey;
use crate::http::distribution_views::{DistributionList, DistributionRequest, DistributionView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path};
use crate::ops::not_found_as;
use crate::ops::AppState;

/// A rule of the core as an API error: 400 for a malformed value, 422 for a semantic one.
pub fn api_error(error: DistributionError) -> ApiError {
    if error.is_semantic() {
        ApiError::Unprocessable {
            key: error.key(),
            details: error.to_string(),
        }
    } else {
        ApiError::InvalidPayload(error.to_string())
    }
}

/// The checked spec of a request.
fn spec(
    name: String,
    trigger: TriggerInput,
    action: String,
    channels: Vec<ChannelInput>,
) -> Result<DistributionSpec, ApiError> {
    DistributionInput {
        name,
        trigger,
        action,
        channels,
    }
    .parse()
    .map_err(api_error)
}

fn status(text: Option<&str>) -> Result<Option<DistributionStatus>, ApiError> {
    text.map(|text| {
        DistributionStatus::parse(text)
            .ok_or_else(|| ApiError::invalid_field("status", "must be `DRAFT`, `LIVE` or `PAUSED`"))
    })
    .transpose()
}

/// The checked spec and status of a create or update body.
fn parts(
    request: DistributionRequest,
) -> Result<(DistributionSpec, Option<DistributionStatus>), ApiError> {
    let status = status(request.status.as_deref())?;
    let spec = spec(
        request.name,
        request.trigger,
        request.action,
        request.channels,
    )?;
    Ok((spec, status))
}

/// The distribution named by a path segment, in `project`; malformed or foreign ids are a 404.
async fn load(state: &AppState, project: &Project, raw_id: &str) -> Result<Distribution, ApiError> {
    let id = parse_id(raw_id)?;
    state
        .store
        .get_distribution(&project.id, &id)
        .await
        .map_err(|e| not_found_as(e, "distribution", raw_id).into())
}

fn parse_id(raw_id: &str) -> Result<DistributionId, ApiError> {
    DistributionId::parse(raw_id).map_err(|_| ApiError::not_found("distribution", raw_id))
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
        (status = 422, description = "Unknown trigger, unsupported action or condition, bad template or unknown template path", body = ErrorBody),
    )
)]
pub async fn create_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Json(request): Json<DistributionRequest>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let (spec, status) = parts(request)?;
    let created = state
        .store
        .create_distribution(
            &project.id,
            spec,
            status.unwrap_or(DistributionStatus::Live),
        )
        .await?;
    tracing::info!(project.id = %project.id, distribution.id = %created.id, "distribution created");
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
    let data: Vec<DistributionView> = state
        .store
        .list_distributions(&project.id)
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
    Ok(axum::Json(load(&state, &project, &raw_id).await?.into()))
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
        (status = 422, description = "Unknown trigger, unsupported action or condition, bad template or unknown template path", body = ErrorBody),
    )
)]
pub async fn update_distribution(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    Json(request): Json<DistributionRequest>,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let id = parse_id(&raw_id)?;
    let (spec, status) = parts(request)?;
    let updated = state
        .store
        .update_distribution(&project.id, &id, spec, status)
        .await
        .map_err(|e| not_found_as(e, "distribution", &raw_id))?;
    tracing::info!(project.id = %project.id, distribution.id = %id, "distribution updated");
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
    let id = parse_id(&raw_id)?;
    state
        .store
        .delete_distribution(&project.id, &id)
        .await
        .map_err(|e| not_found_as(e, "distribution", &raw_id))?;
    tracing::info!(project.id = %project.id, distribution.id = %id, "distribution deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn set_status(
    state: &AppState,
    project: &Project,
    raw_id: &str,
    status: DistributionStatus,
) -> Result<axum::Json<DistributionView>, ApiError> {
    let id = parse_id(raw_id)?;
    let changed = state
        .store
        .set_distribution_status(&project.id, &id, status, None)
        .await
        .map_err(|e| not_found_as(e, "distribution", raw_id))?;
    tracing::info!(project.id = %project.id, distribution.id = %id, status = %status, "distribution status set");
    Ok(axum::Json(changed.into()))
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
    set_status(&state, &project, &raw_id, DistributionStatus::Paused).await
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
    set_status(&state, &project, &raw_id, DistributionStatus::Live).await
}
