//! "Send test webhook" (PRODUCT §4) on the management API, answered with its outcome; the
//! test itself, and its rules, are [`crate::ops::test_send`]'s.
//!
//! Two routes: `POST …/webhooks/test` tries a URL before any webhook exists, `POST
//! …/webhooks/{webhookId}/test` tries an existing webhook with its URL and headers, active or
//! not; its body may be left out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use sendout_core::ids::GroupId;
use sendout_core::input::CustomHeaders;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::http::auth::ManagementKey;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonObject, Path};
use crate::ops::test_send::{self, request_group, Tested, UrlTest};
use crate::ops::{projects, webhooks, AppState};
use crate::telemetry::REQUEST_ID_HEADER;
use sendout_store::SourceId;

/// A test of a URL that is not (yet) a webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlTestRequest {
    #[schema(example = "https://example.com/webhooks")]
    pub target_url: String,
    /// The event type whose example is sent; `voucher.published` when absent.
    pub event_type: Option<String>,
    /// The event's `data` to send instead of the type's example (a JSON object); needed for
    /// a type without an example (`GET /v1/event-types/{name}` shows `example: null`).
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<RawValue>>,
    /// Custom headers to send along.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub headers: Option<CustomHeaders>,
}

/// A test of an existing webhook; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTestRequest {
    /// The event type whose example is sent; the webhook's first event when absent.
    pub event_type: Option<String>,
    /// The event's `data` to send instead of the type's example (a JSON object); needed for
    /// a type without an example.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<RawValue>>,
}

/// What the test delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    #[schema(example = "webhook_test")]
    pub object: &'static str,
    /// The test's entry in the audit log.
    pub send_out_id: String,
    /// `SUCCEEDED` or `FAILED`.
    pub status: &'static str,
    pub succeeded: bool,
    #[serde(rename = "type")]
    pub event_type: String,
    pub target_url: String,
    pub response_status: Option<u16>,
    pub duration_ms: Option<u64>,
    /// At most 4 KiB of the receiver's answer.
    pub response_body: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl From<Tested> for TestResult {
    fn from(tested: Tested) -> Self {
        Self {
            object: "webhook_test",
            send_out_id: tested.send_out_id.to_string(),
            status: tested.status().as_str(),
            succeeded: tested.succeeded,
            error: tested.error(),
            response_status: tested.attempt.as_ref().and_then(|a| a.response_status),
            duration_ms: tested.attempt.as_ref().map(|a| a.duration_ms),
            response_body: tested.attempt.and_then(|a| a.response_body),
            event_type: tested.event_type,
            target_url: tested.target_url,
        }
    }
}

/// The request's id (from the `X-Request-Id` header) as the test's group, or a fresh one.
fn group_of(headers: &HeaderMap) -> GroupId {
    request_group(headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()))
}

/// A JSON body that may be left out entirely.
fn optional_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    // `null` is no body, as the document's optional body allows; an array is no object,
    // though serde would read a struct from one.
    if body.trim_ascii_start().starts_with(b"[") {
        return Err(ApiError::InvalidPayload(
            "the body must be a JSON object".to_owned(),
        ));
    }
    // `null` is no body, as the document's optional body allows.
    let value: Option<T> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidPayload(e.to_string())
        } else {
            ApiError::InvalidJson(e.to_string())
        }
    })?;
    Ok(value.unwrap_or_default())
}

/// Sends a catalog example (or the data given) to a URL once.
#[utoipa::path(
    post,
    path = "/management/v1/projects/{projectId}/webhooks/test",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(("projectId" = String, Path, description = "The project's id")),
    request_body = UrlTestRequest,
    responses(
        (status = 200, description = "The outcome (also when the receiver failed)", body = TestResult),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "`unknown_event_type`; `test_data_required`: the type has no example and no `data` was given (nothing is sent)", body = ErrorBody),
    )
)]
pub async fn test_url(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    JsonObject(request): JsonObject<UrlTestRequest>,
) -> Result<axum::Json<TestResult>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let input = UrlTest {
        target_url: request.target_url,
        event_type: request.event_type,
        data: request.data,
        headers: request.headers,
    };
    let tested = test_send::test_url(
        &state,
        &project,
        SourceId::UnsavedWebhook,
        input,
        group_of(&headers),
    )
    .await?;
    Ok(axum::Json(tested.into()))
}

/// Sends a catalog example (or the data given) to an existing webhook once (active or not).
#[utoipa::path(
    post,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}/test",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    request_body(content = Option<WebhookTestRequest>, description = "May be omitted"),
    responses(
        (status = 200, description = "The outcome (also when the receiver failed)", body = TestResult),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
        (status = 422, description = "`unknown_event_type`; `test_data_required`: the type has no example and no `data` was given (nothing is sent)", body = ErrorBody),
    )
)]
pub async fn test_webhook(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<TestResult>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let webhook = webhooks::get(&state, &project, &webhook_id).await?;
    let request: WebhookTestRequest = optional_json(&headers, &body)?;
    let tested = test_send::test_webhook(
        &state,
        &project,
        webhook,
        (request.event_type, request.data),
        group_of(&headers),
    )
    .await?;
    Ok(axum::Json(tested.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_means_the_defaults() {
        let request: WebhookTestRequest =
            optional_json(&HeaderMap::new(), &Bytes::new()).expect("no body is fine");
        assert!(request.event_type.is_none());
        assert!(
            optional_json::<WebhookTestRequest>(&HeaderMap::new(), &Bytes::from("{}")).is_err()
        );
    }
}
