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
//! - `headers` are the custom headers sent with it; values of headers whose names suggest a
//!   credential (`authorization`, `…token…`, `…key…`, `…secret…`, …) show as `[redacted]`,
//!   since project keys must not reveal receivers' credentials; signatures are made per
//!   attempt and are never stored;
//! - a manual retry is one attempt now, recorded like any other, answered with that attempt
//!   and the send out as it stands after it; a send out that a worker holds right now is a
//!   409 `send_out_busy`;
//! - bulk retry makes every `FAILED` send out of one target since a time due now and answers
//!   how many; the workers send them.

use axum::extract::State;
use sendout_core::ids::{SendOutId, WebhookId};
use sendout_core::time::Timestamp;
use sendout_store::{Claim, Completion, Project, SendOutFilter, SendOutStatus, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::AppKey;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query};
use crate::http::sendout_views::{AttemptView, SendOutDetail, SendOutList, SendOutView};
use crate::ops::AppState;

/// The default and largest page sizes.
const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 100;
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

fn query_error(parameter: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidQuery(format!("{parameter}: {message}"))
}

fn timestamp_param(parameter: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| Timestamp::parse(t).map_err(|e| query_error(parameter, e)))
        .transpose()
}

fn filter(query: &SendOutQuery) -> Result<SendOutFilter, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            SendOutStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
                query_error("status", "must be PENDING, RETRYING, SUCCEEDED or FAILED")
            })
        })
        .transpose()?;
    let is_test = query
        .is_test
        .as_deref()
        .map(|v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(query_error("is_test", "must be true or false")),
        })
        .transpose()?;
    let event_type = query.event_type.as_deref().map(|t| {
        sendout_core::catalog::catalog()
            .get(t)
            .map_or_else(|| t.to_owned(), |known| known.name().to_owned())
    });
    Ok(SendOutFilter {
        status,
        source_id: query.source_id.clone(),
        event_type,
        target_url: query.target_url.clone(),
        created_after: timestamp_param("created_after", query.created_after.as_deref())?,
        created_before: timestamp_param("created_before", query.created_before.as_deref())?,
        is_test,
    })
}

fn limit(text: Option<&str>) -> Result<u32, ApiError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| query_error("limit", "must be a whole number from 1 to 100")),
    }
}

fn send_out_id(raw: &str) -> Result<SendOutId, ApiError> {
    SendOutId::parse(raw).map_err(|_| ApiError::not_found("webhook_sendout", raw))
}

fn not_found(error: StoreError, raw: &str) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::not_found("webhook_sendout", raw),
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
    let filter = filter(&query)?;
    let limit = limit(query.limit.as_deref())?;
    let starting_after = query
        .starting_after_id
        .as_deref()
        .map(|id| {
            SendOutId::parse(id)
                .map_err(|_| query_error("starting_after_id", "is not a send out id (whs_…)"))
        })
        .transpose()?;
    let page = state
        .store
        .list_send_outs(&project.id, &filter, starting_after.as_ref(), limit)
        .await?;
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
    let id = send_out_id(&raw_id)?;
    let (send_out, attempts) = state
        .store
        .get_send_out(&project.id, &id)
        .await
        .map_err(|e| not_found(e, &raw_id))?;
    Ok(axum::Json(SendOutDetail::new(&send_out, &attempts)))
}

/// Makes one attempt of a claimed send out now and records it. Returns what was recorded.
pub async fn attempt_now(state: &AppState, claim: &Claim) -> Result<Completion, ApiError> {
    let completion = state.deliverer.attempt_manual(claim).await;
    state.store.complete(vec![completion.clone()]).await?;
    Ok(completion)
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
        (status = 409, description = "A worker is attempting it right now", body = ErrorBody),
    )
)]
pub async fn retry_send_out(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<axum::Json<RetryResult>, ApiError> {
    let id = send_out_id(&raw_id)?;
    let claim = state
        .store
        .claim_one(&project.id, &id, Timestamp::now(), state.config.lease)
        .await
        .map_err(|e| not_found(e, &raw_id))?
        .ok_or_else(|| ApiError::Conflict {
            key: "send_out_busy",
            details: format!("{raw_id} is being attempted right now; try again in a moment"),
        })?;
    let completion = attempt_now(&state, &claim).await?;
    tracing::info!(
        project.id = %project.id,
        sendout.id = %id,
        attempted = completion.attempt.is_some(),
        "manual retry"
    );
    let (send_out, attempts) = state
        .store
        .get_send_out(&project.id, &id)
        .await
        .map_err(|e| not_found(e, &raw_id))?;
    let attempt = completion
        .attempt
        .as_ref()
        .and_then(|_| attempts.last())
        .map(AttemptView::from);
    Ok(axum::Json(RetryResult {
        object: "webhook_sendout_retry",
        attempt,
        send_out: SendOutDetail::new(&send_out, &attempts),
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
    Json(request): Json<BulkRetryRequest>,
) -> Result<axum::Json<BulkRetryResult>, ApiError> {
    let source_id = request.source_id.trim();
    if !(source_id.starts_with("wh_") || source_id.starts_with("distr_")) || source_id.len() > 64 {
        return Err(ApiError::invalid_field(
            "source_id",
            "must be a webhook id (wh_…) or a distribution id (distr_…)",
        ));
    }
    let since = request
        .since
        .as_deref()
        .map(|t| Timestamp::parse(t).map_err(|e| ApiError::invalid_field("since", e)))
        .transpose()?;
    let requeued = requeue(&state, &project, source_id, since).await?;
    tracing::info!(project.id = %project.id, source_id, requeued, "bulk retry");
    Ok(axum::Json(BulkRetryResult {
        object: "bulk_retry",
        source_id: source_id.to_owned(),
        since: since.map(|t| t.to_string()),
        requeued,
    }))
}

async fn requeue(
    state: &AppState,
    project: &Project,
    source_id: &str,
    since: Option<Timestamp>,
) -> Result<u64, ApiError> {
    if let Some(raw) = source_id.strip_prefix("wh_").map(|_| source_id) {
        let id = WebhookId::parse(raw).map_err(|_| ApiError::not_found("webhook", raw))?;
        state
            .store
            .get_webhook(&project.id, &id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found("webhook", raw),
                other => other.into(),
            })?;
    }
    let since = since.unwrap_or_else(|| Timestamp::from_millis(0));
    Ok(state
        .store
        .requeue_failed(&project.id, source_id, since, Timestamp::now())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert_eq!(limit(None).ok(), Some(10));
        assert_eq!(limit(Some("100")).ok(), Some(100));
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("101")).is_err());
        assert!(limit(Some("ten")).is_err());
    }
}
