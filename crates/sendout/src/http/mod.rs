//! The HTTP API: the Voucherify-compatible management API, the project API, the OpenAPI
//! document and health. Handlers parse input into ops' typed inputs, call one operation of
//! [`crate::ops`] (ingest, health and metrics call the store themselves), and shape the answer
//! or map the [`crate::ops::OpsError`] to [`error::ApiError`]; they hold no SQL, no business
//! rule and no delivery logic. Nothing here knows the dashboard.
//!
//! - [`management`] and [`webhooks`], [`test_webhook`]: `/management/v1/…`, management key;
//! - [`events`], [`event_types`], [`sendouts`] (shown as [`sendout_views`]) and
//!   [`distributions`] (shown as [`distribution_views`], previewed by
//!   [`distribution_preview`]): `/v1/…`, a project's server-side key;
//! - [`health`], [`metrics`] and [`openapi`]: no key.
//!
//! Every response carries `x-request-id` (a fresh `v-…` id per request, never the client's),
//! and every error is in the shape of [`error::ErrorBody`]. Request logs hold method, path,
//! status and duration; never headers or bodies, which carry keys and customer data.

pub mod auth;
pub mod distribution_preview;
pub mod distribution_views;
pub mod distributions;
pub mod endpoint_health;
pub mod error;
pub mod event_types;
pub mod events;
pub mod extract;
pub mod health;
pub mod management;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod sendout_views;
pub mod sendouts;
pub mod test_webhook;
pub mod webhooks;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{middleware, Router};
use sendout_core::ids::GroupId;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::ops::AppState;
use crate::telemetry::REQUEST_ID_HEADER;

/// Makes request ids in Voucherify's `v-…` form, usable as an event's `group_id`.
#[derive(Debug, Clone, Copy, Default)]
struct MakeGroupId;

impl MakeRequestId for MakeGroupId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(GroupId::new().as_str())
            .ok()
            .map(RequestId::new)
    }
}

/// A client's own `x-request-id` is dropped so that ours is always the one logged and shown.
async fn drop_client_request_id(mut request: Request) -> Request {
    request.headers_mut().remove(REQUEST_ID_HEADER);
    request
}

fn management_routes() -> Router<AppState> {
    const PROJECTS: &str = "/management/v1/projects";
    Router::new()
        .route(
            PROJECTS,
            post(management::create_project).get(management::list_projects),
        )
        .route(
            "/management/v1/projects/{projectId}",
            get(management::get_project)
                .put(management::update_project)
                .delete(management::delete_project),
        )
        .route(
            "/management/v1/projects/{projectId}/webhook-token/rotate",
            post(management::rotate_webhook_token),
        )
        .route(
            "/management/v1/projects/{projectId}/webhooks",
            post(webhooks::create_webhook).get(webhooks::list_webhooks),
        )
        .route(
            "/management/v1/projects/{projectId}/webhooks/test",
            post(test_webhook::test_url),
        )
        .route(
            "/management/v1/projects/{projectId}/webhooks/{webhookId}",
            get(webhooks::get_webhook)
                .put(webhooks::update_webhook)
                .delete(webhooks::delete_webhook),
        )
        .route(
            "/management/v1/projects/{projectId}/webhooks/{webhookId}/test",
            post(test_webhook::test_webhook),
        )
        .route(
            "/management/v1/projects/{projectId}/webhooks/{webhookId}/recover",
            post(webhooks::recover_webhook),
        )
        .route(
            "/management/v1/projects/{projectId}/webhooks/{webhookId}/health",
            get(endpoint_health::webhook_health),
        )
}

fn project_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(events::ingest))
        .route("/v1/event-types", get(event_types::list_event_types))
        .route("/v1/event-types/{name}", get(event_types::get_event_type))
        .route("/v1/webhook-sendouts", get(sendouts::list_send_outs))
        .route("/v1/webhook-sendouts/retry", post(sendouts::bulk_retry))
        .route(
            "/v1/webhook-sendouts/{sendOutId}",
            get(sendouts::get_send_out),
        )
        .route(
            "/v1/webhook-sendouts/{sendOutId}/retry",
            post(sendouts::retry_send_out),
        )
        .merge(distribution_routes())
}

fn distribution_routes() -> Router<AppState> {
    const ONE: &str = "/v1/distributions/{distributionId}";
    Router::new()
        .route(
            "/v1/distributions",
            post(distributions::create_distribution).get(distributions::list_distributions),
        )
        .route(
            "/v1/distributions/preview",
            post(distribution_preview::preview),
        )
        .route(
            ONE,
            get(distributions::get_distribution)
                .put(distributions::update_distribution)
                .delete(distributions::delete_distribution),
        )
        .route(
            "/v1/distributions/{distributionId}/pause",
            post(distributions::pause_distribution),
        )
        .route(
            "/v1/distributions/{distributionId}/live",
            post(distributions::set_distribution_live),
        )
        .route(
            "/v1/distributions/{distributionId}/health",
            get(endpoint_health::distribution_health),
        )
}

/// The whole API with its layers: request id, request log, error shaping, body limit.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let request_timeout = state.config.http_request_timeout;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!(
                "http",
                method = %request.method(),
                path = %request.uri().path(),
                request_id = %request_id,
            )
        })
        .on_request(())
        .on_response(|response: &Response, latency: Duration, _span: &Span| {
            let duration_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
            tracing::info!(status = response.status().as_u16(), duration_ms, "request");
        })
        // 5xx causes are logged once where they happen (ApiError::Internal).
        .on_failure(());

    Router::new()
        .merge(management_routes())
        .merge(project_routes())
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::map_request(drop_client_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeGroupId))
                .layer(trace)
                .layer(middleware::from_fn(error::finish))
                .layer(RequestBodyLimitLayer::new(max_body))
                // Inside `finish`, which gives its 408 the error shape.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    request_timeout,
                ))
                .layer(DefaultBodyLimit::max(max_body)),
        )
}
