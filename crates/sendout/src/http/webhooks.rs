//! The management API's project-settings webhooks (PRODUCT §5.1), shaped as Voucherify's
//! `/management/v1/projects/{projectId}/webhooks`.
//!
//! Decisions (docs/API.md):
//! - create answers 200 and delete 204, as Voucherify; the list is
//!   `{object:"list", data_ref:"data", data, total}`;
//! - `events` is `["*"]` (every event, present and future) or catalog names of
//!   project-settings events; the spec's misspellings (`…aded`) are read as `…added` and
//!   stored that way; an unknown name is a 422 naming it;
//! - answers show `events` in the names Voucherify's management spec enumerates, so clients
//!   generated from it can read them: `…aded` spellings, and for `["*"]` the spec's whole
//!   list with `all_events: true` ([`spec_events`]);
//! - `public_headers` (sendout's own, optional) names the headers whose values the audit log
//!   may show; every other header value is a secret there;
//! - `PUT` replaces `target_url` and `events` (both required, as in Voucherify); `active`,
//!   `headers`, `public_headers` and `description` keep their values when absent, so a Voucherify client that
//!   knows nothing of headers does not wipe them, and changing events does not re-enable a
//!   webhook sendout disabled;
//! - unknown fields are refused (400 naming them) so typos such as `event` do not pass
//!   silently; the read-only fields of the webhook object (`id`, `object`, `created_at`, …)
//!   are accepted and ignored, so a client may `PUT` back what it read;
//! - a webhook disabled by sendout shows why and when in `disabled_reason`/`disabled_at`;
//!   `PUT … {"active": true}` re-enables it and clears both.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use sendout_core::input::{CustomHeaders, PublicHeaders};
use sendout_store::Webhook;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::ManagementKey;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonObject, Path};
use crate::http::management::present;
use crate::ops::webhooks::{self, spec_events, WebhookInput};
use crate::ops::{projects, AppState};

/// A webhook, as the management API shows it (Voucherify's fields first).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    #[schema(example = "wh_01hzx3r8k2m4n6p8q0s2t4v6w8")]
    pub id: String,
    #[schema(example = "webhook")]
    pub object: &'static str,
    pub created_at: String,
    pub target_url: String,
    /// Names in the spelling of Voucherify's management spec (`…aded`); for a webhook for
    /// every event, every name that spec lists.
    #[schema(example = json!(["voucher.published"]))]
    pub events: Vec<String>,
    pub active: bool,
    /// Whether the webhook gets every event, present and future (created with `["*"]`).
    pub all_events: bool,
    /// Custom headers sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// Those of `headers` whose values the audit log shows; every other value shows there
    /// as `[redacted]`.
    #[schema(value_type = Vec<String>, example = json!(["x-tenant"]))]
    pub public_headers: PublicHeaders,
    pub description: Option<String>,
    /// Why sendout disabled the webhook (retries exhausted, `410 Gone`), while it is disabled.
    pub disabled_reason: Option<String>,
    /// When sendout disabled it.
    pub disabled_at: Option<String>,
    pub updated_at: String,
}

impl From<Webhook> for WebhookView {
    fn from(webhook: Webhook) -> Self {
        Self {
            id: webhook.id.to_string(),
            object: "webhook",
            created_at: webhook.created_at.to_string(),
            target_url: webhook.target_url.to_string(),
            events: spec_events::shown(&webhook.events),
            active: webhook.active,
            all_events: webhook.events.is_all(),
            headers: webhook.headers,
            public_headers: webhook.public_headers,
            description: webhook.description,
            disabled_reason: webhook.disabled_reason,
            disabled_at: webhook.disabled_at.map(|t| t.to_string()),
            updated_at: webhook.updated_at.to_string(),
        }
    }
}

/// Voucherify's list shape for webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    #[schema(example = "list")]
    pub object: &'static str,
    #[schema(example = "data")]
    pub data_ref: &'static str,
    pub data: Vec<WebhookView>,
    pub total: usize,
}

/// The body of create and update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// An absolute `http`/`https` URL.
    #[schema(example = "https://example.com/webhooks")]
    pub target_url: String,
    /// `["*"]` or event type names. `PUT`ting the spec's whole list (what a webhook for
    /// every event reads as) to such a webhook keeps it for every event.
    #[schema(example = json!(["voucher.published", "redemption.succeeded"]))]
    pub events: Vec<String>,
    /// Defaults to true on create; kept as is on update when absent.
    #[serde(default)]
    pub active: Option<bool>,
    /// Custom headers (at most 20); `{}` removes them all.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub headers: Option<CustomHeaders>,
    /// Names (any case) of `headers` whose values are not secret, so the audit log shows them
    /// (at most 20, each one of `headers`); every other value shows there as `[redacted]`.
    /// Empty on create when absent; kept on update when absent (less any header dropped).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["x-tenant"]))]
    pub public_headers: Option<Vec<String>>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub object: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub disabled_reason: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub disabled_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub all_events: Option<IgnoredAny>,
}

impl From<WebhookRequest> for WebhookInput {
    fn from(request: WebhookRequest) -> Self {
        Self {
            target_url: request.target_url,
            events: request.events,
            active: request.active,
            headers: request.headers,
            public_headers: request.public_headers,
            description: request.description,
            spec_list_is_every_event: true,
        }
    }
}

/// Creates a webhook.
#[utoipa::path(
    post,
    path = "/management/v1/projects/{projectId}/webhooks",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    request_body = WebhookRequest,
    responses(
        (status = 200, description = "The new webhook", body = WebhookView),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "Unknown event type", body = ErrorBody),
    )
)]
pub async fn create_webhook(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    JsonObject(request): JsonObject<WebhookRequest>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let webhook = webhooks::create(&state, &project, request.into()).await?;
    Ok(axum::Json(webhook.into()))
}

/// Lists a project's webhooks.
#[utoipa::path(
    get,
    path = "/management/v1/projects/{projectId}/webhooks",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project's webhooks", body = WebhookList),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    )
)]
pub async fn list_webhooks(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
) -> Result<axum::Json<WebhookList>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let webhooks = webhooks::list(&state, &project).await?;
    Ok(axum::Json(WebhookList {
        object: "list",
        data_ref: "data",
        total: webhooks.len(),
        data: webhooks.into_iter().map(WebhookView::from).collect(),
    }))
}

/// Reads a webhook.
#[utoipa::path(
    get,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
    )
)]
pub async fn get_webhook(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path((project_id, webhook_id)): Path<(String, String)>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let webhook = webhooks::get(&state, &project, &webhook_id).await?;
    Ok(axum::Json(webhook.into()))
}

/// Replaces a webhook's target and events (and, when given, activity, headers, description).
#[utoipa::path(
    put,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    request_body = WebhookRequest,
    responses(
        (status = 200, description = "The updated webhook", body = WebhookView),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
        (status = 422, description = "Unknown event type", body = ErrorBody),
    )
)]
pub async fn update_webhook(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    JsonObject(request): JsonObject<WebhookRequest>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let webhook = webhooks::update(&state, &project, &webhook_id, request.into()).await?;
    Ok(axum::Json(webhook.into()))
}

/// The body of a recovery: `{}` for the default window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Retry the failed send outs created at or after this time (ISO 8601). When absent:
    /// from when the webhook was turned off, less the retry window.
    pub since: Option<String>,
}

/// The answer to a recovery.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoverResult {
    #[schema(example = "webhook_recovery")]
    pub object: &'static str,
    /// The webhook, active again.
    pub webhook: WebhookView,
    /// The earliest creation time of the failed send outs made due again.
    pub since: String,
    /// How many failed send outs are due again.
    pub requeued: u64,
}

/// Re-enables a webhook and retries, in one step, every send out of it that failed since a
/// time (by default since it was turned off, less the retry window).
#[utoipa::path(
    post,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}/recover",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    request_body = RecoverRequest,
    responses(
        (status = 200, description = "Enabled, and how many failed send outs are due again", body = RecoverResult),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
    )
)]
pub async fn recover_webhook(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    JsonObject(request): JsonObject<RecoverRequest>,
) -> Result<axum::Json<RecoverResult>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let done = webhooks::recover(&state, &project, &webhook_id, request.since.as_deref()).await?;
    Ok(axum::Json(RecoverResult {
        object: "webhook_recovery",
        webhook: done.webhook.into(),
        since: done.since.to_string(),
        requeued: done.requeued,
    }))
}

/// Deletes a webhook; its send outs stay in the audit log.
#[utoipa::path(
    delete,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
    )
)]
pub async fn delete_webhook(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path((project_id, webhook_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    webhooks::delete(&state, &project, &webhook_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
