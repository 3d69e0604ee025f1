//! The management API's projects (PRODUCT §5.1), shaped as Voucherify's
//! `/management/v1/projects`: create, list, get, update, delete, and the rotation of a
//! project's signing secret (`webhook_token`).
//!
//! Decisions (docs/API.md):
//! - create answers 200 (as Voucherify) with `server_side_key.app_token`, the only time it is
//!   ever shown; reads show `server_side_key.app_id` only;
//! - reads show `webhook_token`, as Voucherify's do: whoever holds the management key
//!   configures receivers and needs the secret to verify signatures;
//! - Voucherify's other project fields (`currency`, `cluster_id`, `users`, notification
//!   settings, …) are accepted on input and ignored, so Voucherify clients work unchanged;
//! - `PUT` changes only the fields it is given (as Voucherify documents);
//! - rotation answers the project with its new `webhook_token`; the previous one keeps signing
//!   (a second `webhook-signature` entry, and `x-voucherify-signature` stays the new one's)
//!   until `previous_webhook_token_expires_at`.

use axum::extract::State;
use axum::http::StatusCode;
use sendout_core::time::Timestamp;
use sendout_store::{CalloutNotification, Project};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::http::auth::ManagementKey;
use crate::http::error::ApiError;
use crate::http::extract::{JsonObject, Path};
use crate::ops::notifications::{NoticeInput, NotificationsInput};
use crate::ops::projects::{self, ProjectChange, ProjectInput};
use crate::ops::AppState;

/// A project's server-side key; `app_token` only in the answer to create.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerSideKey {
    /// Send as `X-App-Id`.
    pub app_id: String,
    /// Send as `X-App-Token`. Shown once, when the project is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_token: Option<String>,
}

/// A project, as the management API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    #[schema(example = "proj_01hzx3r8k2m4n6p8q0s2t4v6w8")]
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(example = "Etc/UTC")]
    pub timezone: String,
    #[schema(example = "v2024-01-01")]
    pub webhook_version: String,
    /// The signing secret of every delivery (see PRODUCT §3).
    pub webhook_token: String,
    /// While a rotated-out secret still signs: when it stops.
    pub previous_webhook_token_expires_at: Option<String>,
    pub server_side_key: ServerSideKey,
    /// Who is told when sendout gives up on a webhook or distribution (Voucherify's
    /// setting).
    pub webhooks_callout_notifications: CalloutNotificationsView,
    /// Where the project's operational events (`sendout.webhook.disabled`, …) go, signed
    /// with `webhook_token`; `null`: nowhere of its own (docs/API.md).
    #[schema(example = "https://ops.shop.example/sendout-events")]
    pub operational_webhook_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `webhooks_callout_notifications`, as Voucherify's Management API shapes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalloutNotificationsView {
    /// Project-settings webhooks.
    pub webhooks: CalloutNoticeView,
    /// Distributions' webhook channels.
    pub distributions: CalloutNoticeView,
}

/// One kind of target's notice settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalloutNoticeView {
    /// Notify by email (sent only when SMTP is configured).
    pub email: bool,
    /// Who gets the email: at most 10 addresses.
    pub emails: Vec<String>,
    /// Show notices in the dashboard.
    pub in_app: bool,
}

impl From<CalloutNotification> for CalloutNoticeView {
    fn from(notice: CalloutNotification) -> Self {
        Self {
            email: notice.email,
            emails: notice.emails,
            in_app: notice.in_app,
        }
    }
}

/// `webhooks_callout_notifications` in a create or update: every part and field may be left
/// out, keeping its value (a new project's: no email, in-app notices on).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalloutNotificationsRequest {
    #[serde(default, deserialize_with = "object_only")]
    pub webhooks: Option<CalloutNoticeRequest>,
    #[serde(default, deserialize_with = "object_only")]
    pub distributions: Option<CalloutNoticeRequest>,
}

/// One kind of target's part of [`CalloutNotificationsRequest`].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalloutNoticeRequest {
    #[serde(default)]
    pub email: Option<bool>,
    /// At most 10 addresses, no two alike; `email: true` needs one.
    #[serde(default)]
    pub emails: Option<Vec<String>>,
    #[serde(default)]
    pub in_app: Option<bool>,
}

impl From<CalloutNotificationsRequest> for NotificationsInput {
    fn from(request: CalloutNotificationsRequest) -> Self {
        let part = |p: CalloutNoticeRequest| NoticeInput {
            email: p.email,
            emails: p.emails,
            in_app: p.in_app,
        };
        Self {
            webhooks: request.webhooks.map(part),
            distributions: request.distributions.map(part),
        }
    }
}

impl ProjectView {
    fn new(project: Project, app_token: Option<String>) -> Self {
        let previous_expires =
            projects::previous_token_expiry(&project, Timestamp::now()).map(|t| t.to_string());
        Self {
            id: project.id.to_string(),
            name: project.name,
            description: project.description,
            timezone: project.timezone,
            webhook_version: project.webhook_version,
            webhook_token: project.webhook_token,
            previous_webhook_token_expires_at: previous_expires,
            server_side_key: ServerSideKey {
                app_id: project.app_id,
                app_token,
            },
            webhooks_callout_notifications: CalloutNotificationsView {
                webhooks: project.callout_notifications.webhooks.into(),
                distributions: project.callout_notifications.distributions.into(),
            },
            operational_webhook_url: project.operational_webhook_url.map(|u| u.to_string()),
            created_at: project.created_at.to_string(),
            updated_at: project.updated_at.to_string(),
        }
    }
}

impl From<Project> for ProjectView {
    fn from(project: Project) -> Self {
        Self::new(project, None)
    }
}

/// Voucherify's list shape for projects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    #[schema(example = "list")]
    pub object: &'static str,
    #[schema(example = "data")]
    pub data_ref: &'static str,
    pub data: Vec<ProjectView>,
    pub total: usize,
}

/// `POST /management/v1/projects`. Unknown (Voucherify-only) fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// IANA name or GMT offset; `Etc/UTC` when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Only `v2024-01-01`.
    #[serde(default)]
    pub webhook_version: Option<String>,
    #[serde(default, deserialize_with = "object_only")]
    pub webhooks_callout_notifications: Option<CalloutNotificationsRequest>,
    /// Where the project's operational events go: an `http`/`https` URL that deliveries may
    /// reach (an address refused at connect time is refused here, 400); blank or `null`:
    /// nowhere of its own.
    #[serde(default)]
    pub operational_webhook_url: Option<String>,
}

/// `PUT /management/v1/projects/{projectId}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectUpdateRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub webhook_version: Option<String>,
    /// The parts given replace the stored ones field by field.
    #[serde(default, deserialize_with = "object_only")]
    pub webhooks_callout_notifications: Option<CalloutNotificationsRequest>,
    /// As in create; blank or `null` removes the project's operational URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub operational_webhook_url: Option<Option<String>>,
}

/// An optional struct given only as a JSON object (or `null`): serde would otherwise read a
/// struct from an array of its fields' values, which no client means.
fn object_only<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(map) => serde_json::from_value(serde_json::Value::Object(map))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Tells a field given as `null` (`Some(None)`) from one not given (`None`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Creates a project with fresh keys; the answer is the only time `app_token` is shown.
#[utoipa::path(
    post,
    path = "/management/v1/projects",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    request_body = ProjectCreate,
    responses(
        (status = 200, description = "The new project with its keys", body = ProjectView),
        (status = 400, description = "Invalid payload", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid management key", body = crate::http::error::ErrorBody),
    )
)]
pub async fn create_project(
    _key: ManagementKey,
    State(state): State<AppState>,
    JsonObject(request): JsonObject<ProjectCreate>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    let input = ProjectInput {
        name: request.name,
        description: request.description,
        timezone: request.timezone,
        webhook_version: request.webhook_version,
        callout_notifications: request.webhooks_callout_notifications.map(Into::into),
        operational_webhook_url: request.operational_webhook_url,
    };
    let keys = projects::create(&state, input).await?;
    Ok(axum::Json(ProjectView::new(
        keys.project,
        Some(keys.app_token.expose().to_owned()),
    )))
}

/// Lists every project.
#[utoipa::path(
    get,
    path = "/management/v1/projects",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    responses(
        (status = 200, description = "All projects", body = ProjectList),
        (status = 401, description = "No valid management key", body = crate::http::error::ErrorBody),
    )
)]
pub async fn list_projects(
    _key: ManagementKey,
    State(state): State<AppState>,
) -> Result<axum::Json<ProjectList>, ApiError> {
    let projects = projects::list(&state).await?;
    Ok(axum::Json(ProjectList {
        object: "list",
        data_ref: "data",
        total: projects.len(),
        data: projects.into_iter().map(ProjectView::from).collect(),
    }))
}

/// Reads a project (without its app token).
#[utoipa::path(
    get,
    path = "/management/v1/projects/{projectId}",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 401, description = "No valid management key", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such project", body = crate::http::error::ErrorBody),
    )
)]
pub async fn get_project(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    Ok(axum::Json(project.into()))
}

/// Changes the fields given.
#[utoipa::path(
    put,
    path = "/management/v1/projects/{projectId}",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    request_body = ProjectUpdateRequest,
    responses(
        (status = 200, description = "The updated project", body = ProjectView),
        (status = 400, description = "Invalid payload", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid management key", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such project", body = crate::http::error::ErrorBody),
    )
)]
pub async fn update_project(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    JsonObject(request): JsonObject<ProjectUpdateRequest>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    let change = ProjectChange {
        name: request.name,
        description: request.description,
        timezone: request.timezone,
        webhook_version: request.webhook_version,
        callout_notifications: request.webhooks_callout_notifications.map(Into::into),
        operational_webhook_url: request.operational_webhook_url,
    };
    let updated = projects::update(&state, &project_id, change).await?;
    Ok(axum::Json(updated.into()))
}

/// Deletes a project with everything it owns (webhooks, events, send outs).
#[utoipa::path(
    delete,
    path = "/management/v1/projects/{projectId}",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid management key", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such project", body = crate::http::error::ErrorBody),
    )
)]
pub async fn delete_project(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    projects::delete(&state, &project_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a new signing secret; the old one keeps signing for the configured grace period.
#[utoipa::path(
    post,
    path = "/management/v1/projects/{projectId}/webhook-token/rotate",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project with its new webhook_token", body = ProjectView),
        (status = 401, description = "No valid management key", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such project", body = crate::http::error::ErrorBody),
    )
)]
pub async fn rotate_webhook_token(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    let rotated = projects::rotate_webhook_token(&state, &project_id).await?;
    Ok(axum::Json(rotated.into()))
}
