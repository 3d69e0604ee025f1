//! The audit log of the project API (PRODUCT §5.2): list and read send outs with their
//! attempts, retry one now, and requeue a target's failed send outs.
//!
//! Decisions (docs/API.md):
//! - the list is newest first, `limit` 1–100 (default 10), cursor `starting_after_id` (the
//!   last id of the previous page, also given as `more_starting_after`), with `total` and
//!   `has_more`; filters are `status`, `source_id`, `type` (the envelope's or the causing
//!   event's type), `target_url`, `created_after`/`created_before` (ISO 8601; after is
//!   inclusive, before exclusive) and `is_test`;
//! - a send out's `body` is embedded as the exact JSON text that was (and will be) sent, so
//!   the bytes inside the answer are the bytes the signatures cover;
//! - `headers` are the custom headers sent with it; every value shows as `[redacted]` unless
//!   the send out's webhook (or distribution channel) lists the header in its
//!   `public_headers` as it is now (a deleted target's show all redacted), since project keys
//!   must not reveal receivers' credentials whatever the header is called; signatures are
//!   made per attempt and are never stored;
//! - a manual retry is one attempt now, recorded like any other, answered with that attempt
//!   and the send out as it stands after it; a send out that a worker holds right now is a
//!   409 `send_out_busy`, one made without a body (its payload passed
//!   `max_rendered_payload_bytes`) a 409 `send_out_unsendable`;
//! - bulk retry makes every `FAILED` send out of one target since a time due now and answers
//!   how many; the workers send them.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::AppKey;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonObject, Path, Query};
use crate::http::sendout_views::{AttemptView, SendOutDetail, SendOutList, SendOutView};
use crate::ops::sendouts::{self, BulkRetryInput, ListInput};
use crate::ops::{AppState, OpsError};

/// Filters and paging of the audit log; every value is checked and named when wrong.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendOutQuery {
    /// `PENDING`, `RETRYING`, `SUCCEEDED` or `FAILED`.
    pub status: Option<String>,
    /// A webhook (or distribution) id.
    pub source_id: Option<String>,
    /// An event type (the envelope's or the causing event's).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    pub target_url: Option<String>,
    /// ISO 8601, inclusive.
    pub created_after: Option<String>,
    /// ISO 8601, exclusive.
    pub created_before: Option<String>,
    /// `true` or `false`.
    pub is_test: Option<String>,
    /// 1–100, default 10.
    pub limit: Option<String>,
    /// The last id of the previous page.
    pub starting_after_id: Option<String>,
}

impl From<SendOutQuery> for ListInput {
    fn from(query: SendOutQuery) -> Self {
        Self {
            status: query.status,
            source_id: query.source_id,
            event_type: query.event_type,
            target_url: query.target_url,
            created_after: query.created_after,
            created_before: query.created_before,
            is_test: query.is_test,
            limit: query.limit,
            starting_after_id: query.starting_after_id,
        }
    }
}

/// An error about the list's input: its fields are query parameters.
fn query_error(error: OpsError) -> ApiError {
    match error {
        OpsError::Invalid(errors) => {
            ApiError::InvalidQuery(errors.first().map(ToString::to_string).unwrap_or_default())
        }
        other => other.into(),
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhook-sendouts",
    tag = "Webhook sendouts",
    security(("app_id" = [], "app_token" = [])),
    params(SendOutQuery),
    responses(
        (status = 200, description = "A page of send outs", body = SendOutList),
        (status = 400, description = "Invalid query parameter (named)", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
    )
)]
pub async fn list_send_outs(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Query(query): Query<SendOutQuery>,
) -> Result<axum::Json<SendOutList>, ApiError> {
    let page = sendouts::list(&state, &project, &query.into())
        .await
        .map_err(query_error)?;
    let more_starting_after = page
        .has_more
        .then(|| page.items.last().map(|s| s.id.to_string()))
        .flatten();
    Ok(axum::Json(SendOutList {
        object: "list",
        data_ref: "data",
        data: page.items.iter().map(SendOutView::from).collect(),
        total: page.total,
        has_more: page.has_more,
        more_starting_after,
    }))
}

/// One send out with its body, headers and attempts.
#[utoipa::path(
    get,
    path = "/v1/webhook-sendouts/{sendOutId}",
    tag = "Webhook sendouts",
    security(("app_id" = [], "app_token" = [])),
    params(("sendOutId" = String, Path, description = "The send out's id (whs_…)")),
    responses(
        (status = 200, description = "The send out", body = SendOutDetail),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such send out in this project", body = ErrorBody),
    )
)]
pub async fn get_send_out(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<SendOutDetail>, ApiError> {
    let (send_out, attempts) = sendouts::get(&state, &project, &raw_id).await?;
    Ok(axum::Json(SendOutDetail::new(&send_out, &attempts)))
}

/// The answer to a manual retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryResult {
    #[schema(example = "webhook_sendout_retry")]
    pub object: &'static str,
    /// The attempt just made (`null` if none was made, e.g. the target is inactive).
    pub attempt: Option<AttemptView>,
    /// The send out after the attempt.
    pub send_out: SendOutDetail,
}

/// Sends a send out again now (same body, same id) and records the attempt.
#[utoipa::path(
    post,
    path = "/v1/webhook-sendouts/{sendOutId}/retry",
    tag = "Webhook sendouts",
    security(("app_id" = [], "app_token" = [])),
    params(("sendOutId" = String, Path, description = "The send out's id (whs_…)")),
    responses(
        (status = 200, description = "The attempt and the send out after it", body = RetryResult),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such send out in this project", body = ErrorBody),
        (status = 409, description = "A worker is attempting it right now, or it has no body to send", body = ErrorBody),
    )
)]
pub async fn retry_send_out(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<RetryResult>, ApiError> {
    let retried = sendouts::retry(&state, &project, &raw_id).await?;
    Ok(axum::Json(RetryResult {
        object: "webhook_sendout_retry",
        attempt: retried.attempt.as_ref().map(AttemptView::from),
        send_out: SendOutDetail::new(&retried.send_out, &retried.attempts),
    }))
}

/// The body of a bulk retry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRetryRequest {
    /// The webhook (or distribution) whose failed send outs to send again.
    #[schema(example = "wh_01hzx3r8k2m4n6p8q0s2t4v6w8")]
    pub source_id: String,
    /// Only send outs created at or after this time (ISO 8601); all when absent.
    pub since: Option<String>,
}

/// The answer to a bulk retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkRetryResult {
    #[schema(example = "bulk_retry")]
    pub object: &'static str,
    pub source_id: String,
    pub since: Option<String>,
    /// How many failed send outs are due again.
    pub requeued: u64,
}

/// Makes every failed send out of a target since a time due again now.
#[utoipa::path(
    post,
    path = "/v1/webhook-sendouts/retry",
    tag = "Webhook sendouts",
    security(("app_id" = [], "app_token" = [])),
    request_body = BulkRetryRequest,
    responses(
        (status = 200, description = "How many were requeued", body = BulkRetryResult),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such webhook in this project", body = ErrorBody),
    )
)]
pub async fn bulk_retry(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    JsonObject(request): JsonObject<BulkRetryRequest>,
) -> Result<axum::Json<BulkRetryResult>, ApiError> {
    let input = BulkRetryInput {
        source_id: request.source_id,
        since: request.since,
    };
    let done = sendouts::bulk_retry(&state, &project, input).await?;
    Ok(axum::Json(BulkRetryResult {
        object: "bulk_retry",
        source_id: done.source_id,
        since: done.since.map(|t| t.to_string()),
        requeued: done.requeued,
    }))
}
