//! "Send test webhook" (PRODUCT §4): one delivery of a catalog example, made now, answered
//! with its outcome and kept in the audit log marked `is_test`.
//!
//! Two routes: `POST …/webhooks/test` tries a URL before any webhook exists (the dashboard's
//! add form), `POST …/webhooks/{webhookId}/test` tries an existing webhook with its URL and
//! headers, active or not.
//!
//! Invariants: a test is signed and shaped exactly like a real delivery (the same envelope,
//! a fresh sample event id, `event.event_source.channel` `INTERNAL`); it is attempted once and
//! never retried; its failure never disables a webhook. A test made before the webhook exists
//! has `source.id` `wh_test`; a test of an existing webhook (by its route, or from its edit
//! form) has that webhook's id.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use sendout_core::envelope::{self, EventRef, SourceObject, SourceRef};
use sendout_core::ids::{EventId, GroupId, SendOutId};
use sendout_core::input::CustomHeaders;
use sendout_core::time::Timestamp;
use sendout_store::{Next, Project, SendOut, SendOutStatus, SourceKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::http::auth::ManagementKey;
use crate::http::error::{ApiError, ErrorBody, REQUEST_ID_HEADER};
use crate::http::events::known_type;
use crate::http::extract::{Json, Path};
use crate::ops::AppState;
use crate::ops::{projects, webhooks};

/// The `source.id` of a test made before its webhook exists.
pub const UNSAVED_WEBHOOK_ID: &str = "wh_test";
/// The type tested when none is chosen and the webhook takes every event.
pub const DEFAULT_TEST_TYPE: &str = "voucher.published";

/// A test of a URL that is not (yet) a webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlTestRequest {
    #[schema(example = "https://example.com/webhooks")]
    pub target_url: String,
    /// The event type whose example is sent; `voucher.published` when absent.
    pub event_type: Option<String>,
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

/// Where and what a test sends.
struct Test<'a> {
    project: &'a Project,
    source_id: String,
    target_url: String,
    headers: BTreeMap<String, String>,
    type_name: String,
    group_id: GroupId,
}

/// Builds the test send out, attempts it once and records it.
async fn run(state: &AppState, test: Test<'_>) -> Result<TestResult, ApiError> {
    let event_type = known_type(&test.type_name, "event_type")?;
    let name = event_type.name();
    let data = envelope::compact(event_type.example_data().unwrap_or(&json!({})));
    let event_source = envelope::compact(&json!({"channel": "INTERNAL"}));
    let (id, event_id, now) = (SendOutId::new(), EventId::new(name), Timestamp::now());
    let source = SourceRef {
        id: &test.source_id,
        object: SourceObject::Webhook,
        target_url: &test.target_url,
    };
    let event = EventRef {
        id: &event_id,
        event_type: name,
        created_at: now,
        entity_id: None,
        group_id: &test.group_id,
        event_source: &event_source,
    };
    let body = envelope::build(&id, &test.project.id, now, name, &data, &source, &event);
    let send_out = SendOut {
        id: id.clone(),
        project_id: test.project.id.clone(),
        event_id: None,
        envelope_type: name.to_owned(),
        event_type: name.to_owned(),
        source_kind: SourceKind::Webhook,
        source_id: test.source_id.clone(),
        channel: None,
        target_url: test.target_url.clone(),
        headers: test.headers,
        body,
        status: SendOutStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(now),
        last_attempt_at: None,
        failure_reason: None,
        is_test: true,
        group_id: Some(test.group_id.to_string()),
        event_created_at: Some(now),
        created_at: now,
        updated_at: now,
    };
    let mut claim = state
        .store
        .insert_send_out(send_out, state.config.lease)
        .await?;
    // A test goes out whether or not the webhook is active (or exists yet).
    claim.target_active = true;
    let mut completion = state.deliverer.attempt_manual(&claim).await;
    completion.next = once_only(completion.next, completion.attempt.as_ref());
    let completion = attempt_recorded(state, completion).await?;
    tracing::info!(project.id = %test.project.id, sendout.id = %id, "test webhook sent");

    let attempt = completion.attempt.as_ref();
    let succeeded = completion.next == Next::Succeeded;
    let failure = match &completion.next {
        Next::Failed { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    Ok(TestResult {
        object: "webhook_test",
        send_out_id: id.to_string(),
        status: if succeeded { "SUCCEEDED" } else { "FAILED" },
        succeeded,
        event_type: name.to_owned(),
        target_url: test.target_url,
        response_status: attempt.and_then(|a| a.response_status),
        duration_ms: attempt.map(|a| a.duration_ms),
        response_body: attempt.and_then(|a| a.response_body.clone()),
        error: attempt.and_then(|a| a.error.clone()).or(failure),
    })
}

/// A test is tried once: a failure ends it (no retry) and never disables the webhook.
fn once_only(next: Next, attempt: Option<&sendout_store::Attempt>) -> Next {
    match next {
        Next::Succeeded => Next::Succeeded,
        Next::Failed { reason, .. } => Next::Failed {
            reason,
            disable_target: false,
        },
        Next::RetryAt(_) => Next::Failed {
            reason: attempt
                .and_then(|a| {
                    a.error.clone().or_else(|| {
                        a.response_status
                            .map(|s| format!("the receiver answered {s}"))
                    })
                })
                .unwrap_or_else(|| "the test delivery failed".to_owned()),
            disable_target: false,
        },
    }
}

async fn attempt_recorded(
    state: &AppState,
    completion: sendout_store::Completion,
) -> Result<sendout_store::Completion, ApiError> {
    state.store.complete(vec![completion.clone()]).await?;
    Ok(completion)
}

/// The request's id (from the `X-Request-Id` header) as the test's group, or a fresh one.
pub fn request_group(headers: &HeaderMap) -> GroupId {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| GroupId::parse(v).ok())
        .unwrap_or_default()
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
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidPayload(e.to_string())
        } else {
            ApiError::InvalidJson(e.to_string())
        }
    })
}

/// Sends a catalog example to a URL once.
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
        (status = 422, description = "Unknown event type", body = ErrorBody),
    )
)]
pub async fn test_url(
    _key: ManagementKey,
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    Json(request): Json<UrlTestRequest>,
) -> Result<axum::Json<TestResult>, ApiError> {
    let project = projects::get(&state, &project_id).await?;
    let group_id = request_group(&headers);
    let result = test_url_as(&state, &project, UNSAVED_WEBHOOK_ID, request, group_id).await?;
    Ok(axum::Json(result))
}

/// Sends a catalog example to a URL once, stamped with `source_id`: `UNSAVED_WEBHOOK_ID`
/// before the webhook exists, the webhook's own id when a form edits one (its URL and headers
/// may be changed and not yet saved, yet the test is still that webhook's).
pub async fn test_url_as(
    state: &AppState,
    project: &Project,
    source_id: &str,
    request: UrlTestRequest,
    group_id: GroupId,
) -> Result<TestResult, ApiError> {
    let url = webhooks::target_url("target_url", &request.target_url)
        .map_err(|e| ApiError::InvalidPayload(e.to_string()))?;
    let test = Test {
        project,
        source_id: source_id.to_owned(),
        target_url: url.as_str().to_owned(),
        headers: request
            .headers
            .map(|h| {
                h.iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.as_str().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        type_name: request
            .event_type
            .unwrap_or_else(|| DEFAULT_TEST_TYPE.to_owned()),
        group_id,
    };
    run(state, test).await
}

/// Sends a catalog example to an existing webhook once (active or not).
#[utoipa::path(
    post,
    path = "/management/v1/projects/{projectId}/webhooks/{webhookId}/test",
    tag = "Management",
    security(("management_id" = [], "management_token" = [])),
    params(
        ("projectId" = String, Path, description = "The project's id"),
        ("webhookId" = String, Path, description = "The webhook's id"),
    ),
    request_body(content = WebhookTestRequest, description = "May be omitted"),
    responses(
        (status = 200, description = "The outcome (also when the receiver failed)", body = TestResult),
        (status = 401, description = "No valid management key", body = ErrorBody),
        (status = 404, description = "No such project or webhook", body = ErrorBody),
        (status = 422, description = "Unknown event type", body = ErrorBody),
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
    let type_name = request.event_type.unwrap_or_else(|| {
        webhook
            .events
            .first()
            .filter(|e| e.as_str() != "*")
            .cloned()
            .unwrap_or_else(|| DEFAULT_TEST_TYPE.to_owned())
    });
    let test = Test {
        project: &project,
        source_id: webhook.id.to_string(),
        target_url: webhook.target_url,
        headers: webhook.headers,
        type_name,
        group_id: request_group(&headers),
    };
    Ok(axum::Json(run(&state, test).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_test_is_never_retried_nor_disables_the_webhook() {
        let next = once_only(
            Next::Failed {
                reason: "410 Gone".into(),
                disable_target: true,
            },
            None,
        );
        assert_eq!(
            next,
            Next::Failed {
                reason: "410 Gone".into(),
                disable_target: false
            }
        );
        let retry = once_only(Next::RetryAt(Timestamp::now()), None);
        assert!(matches!(
            retry,
            Next::Failed {
                disable_target: false,
                ..
            }
        ));
    }

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
