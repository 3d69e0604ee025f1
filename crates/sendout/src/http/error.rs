//! The one error type of the HTTP boundary and its body, Voucherify's
//! `{"code", "key", "message", "details", "request_id"}`.
//!
//! Invariants:
//! - every error response, including axum's own rejections, unknown routes, wrong methods and
//!   the body-size limit, has this JSON shape (the [`finish`] middleware converts whatever is
//!   left over);
//! - `key` is stable: clients branch on it, so keys are never renamed (docs/API.md lists them);
//! - a 5xx says nothing internal: the cause is logged once, here, and the body is generic.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sendout_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::media::is_json_content_type;
use crate::ops::OpsError;
use crate::telemetry::REQUEST_ID_HEADER;

/// How long a client is asked to wait (`Retry-After`, in seconds) before retrying a request
/// refused because the store's disk is full: long enough not to hammer a server whose
/// operator is freeing space, short enough that events wait little once there is room.
pub const STORAGE_FULL_RETRY_AFTER_SECS: u64 = 30;

/// Everything a handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON.
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// 400: a field is missing, has the wrong type or an invalid value; names the field.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// 400: a query parameter is invalid; names the parameter.
    #[error("invalid query parameter: {0}")]
    InvalidQuery(String),
    /// 401: the key is missing, unknown, wrong, or of the other API.
    #[error("unauthorized")]
    Unauthorized,
    /// 404: no such object in this project (malformed ids and other projects' ids included).
    #[error("cannot find {resource_type} with id {resource_id}")]
    NotFound {
        resource_type: &'static str,
        resource_id: String,
    },
    /// 404: no such route.
    #[error("no route {0}")]
    RouteNotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the object's current state.
    #[error("conflict: {details}")]
    Conflict { key: &'static str, details: String },
    /// 413: the body is larger than `max_body_bytes`.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 408: the request's body did not arrive, or its answer could not be made, within
    /// `http_request_timeout`.
    #[error("the request timed out")]
    RequestTimeout,
    /// 415: the body is not declared as JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: the request is well formed but asks for something that does not exist or is not
    /// allowed (an unknown event type, …).
    #[error("{details}")]
    Unprocessable { key: &'static str, details: String },
    /// 429: this client failed to authenticate too often; it may try again after the wait.
    #[error("too many failed authentications")]
    TooManyFailures { retry_after: std::time::Duration },
    /// 503: a dependency (the store) is unavailable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503: the store's disk is full, so nothing of the request was stored; answered with
    /// `Retry-After` ([`STORAGE_FULL_RETRY_AFTER_SECS`]).
    #[error("storage full: {0}")]
    StorageFull(String),
    /// 500: a bug or a failing database; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 404 for an object of `resource_type`.
    pub fn not_found(resource_type: &'static str, resource_id: impl Into<String>) -> Self {
        Self::NotFound {
            resource_type,
            resource_id: resource_id.into(),
        }
    }

    /// A 400 naming the field at fault: `field: message`.
    pub fn invalid_field(field: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Self::InvalidPayload(format!("{field}: {message}"))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::InvalidPayload(_) | Self::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable key.
    pub fn key(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidPayload(_) => "invalid_payload",
            Self::InvalidQuery(_) => "invalid_query_params",
            Self::Unauthorized => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::RouteNotFound(_) => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { key, .. } | Self::Unprocessable { key, .. } => key,
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyFailures { .. } => "too_many_failed_authentications",
            Self::Unavailable(_) => "service_unavailable",
            Self::StorageFull(_) => "storage_full",
            Self::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "Invalid JSON",
            Self::InvalidPayload(_) => "Invalid payload",
            Self::InvalidQuery(_) => "Invalid query parameters",
            Self::Unauthorized => "Unauthorized",
            Self::NotFound { .. } | Self::RouteNotFound(_) => "Resource not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict { .. } => "Conflict",
            Self::PayloadTooLarge => "Payload too large",
            Self::RequestTimeout => "Request timeout",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Unprocessable { .. } => "Unprocessable entity",
            Self::TooManyFailures { .. } => "Too many requests",
            Self::Unavailable(_) => "Service unavailable",
            Self::StorageFull(_) => "Storage full",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn details(&self) -> String {
        match self {
            Self::InvalidJson(d)
            | Self::InvalidPayload(d)
            | Self::InvalidQuery(d)
            | Self::Conflict { details: d, .. }
            | Self::Unprocessable { details: d, .. } => d.clone(),
            Self::Unauthorized => "The credentials are missing or invalid for this API.".to_owned(),
            Self::NotFound {
                resource_type,
                resource_id,
            } => format!("Cannot find {resource_type} with id {resource_id}"),
            Self::RouteNotFound(route) => format!("There is no route {route}."),
            Self::MethodNotAllowed => "This route does not accept this method.".to_owned(),
            Self::PayloadTooLarge => "The request body is larger than the server accepts.".into(),
            Self::RequestTimeout => "The request was not received whole and answered within the \
                server's request timeout (http_request_timeout); nothing of it was stored, send \
                it again."
                .into(),
            Self::UnsupportedMediaType => {
                "The request body must be sent with `Content-Type: application/json`.".into()
            }
            Self::TooManyFailures { retry_after } => format!(
                "Too many failed authentications from this client; try again in {} seconds.",
                retry_seconds(*retry_after)
            ),
            Self::Unavailable(_) => "The service is temporarily unavailable; retry later.".into(),
            Self::StorageFull(_) => "The server's storage is full, so nothing of this request \
                was stored. Retry after the time in the Retry-After header."
                .into(),
            Self::Internal(_) => {
                "Something went wrong on our side; the request id identifies it in our logs.".into()
            }
        }
    }

    fn body(&self) -> ErrorBody {
        let (resource_type, resource_id) = match self {
            Self::NotFound {
                resource_type,
                resource_id,
            } => (Some(*resource_type), Some(resource_id.clone())),
            _ => (None, None),
        };
        ErrorBody {
            code: self.status().as_u16(),
            key: self.key().to_owned(),
            message: self.message().to_owned(),
            details: self.details(),
            request_id: None,
            resource_id,
            resource_type: resource_type.map(str::to_owned),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            // Handlers map NotFound to the right resource themselves; this is the fallback.
            StoreError::NotFound => Self::not_found("resource", "(unknown)"),
            StoreError::Conflict(details) => Self::Conflict {
                key: "conflict",
                details,
            },
            StoreError::Full(cause) => Self::StorageFull(cause),
            StoreError::Database(cause) => Self::Internal(cause),
            StoreError::TooManySendOuts(refused) => Self::Unprocessable {
                key: "too_many_send_outs",
                details: refused.to_string(),
            },
            quota @ StoreError::QuotaExceeded { .. } => Self::Unprocessable {
                key: "quota_exceeded",
                details: quota.to_string(),
            },
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(error: OpsError) -> Self {
        let first = |errors: &[sendout_core::field::FieldError]| {
            errors.first().map(ToString::to_string).unwrap_or_default()
        };
        match error {
            OpsError::NotFound { resource, id } => Self::not_found(resource, id),
            OpsError::Invalid(errors) => Self::InvalidPayload(first(&errors)),
            OpsError::Unprocessable { key, errors } => Self::Unprocessable {
                key,
                details: first(&errors),
            },
            OpsError::Conflict { key, details } => Self::Conflict { key, details },
            OpsError::Store(error) => error.into(),
            OpsError::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// The error body, as Voucherify writes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code.
    #[schema(example = 404)]
    pub code: u16,
    /// A stable key to branch on.
    #[schema(example = "not_found")]
    pub key: String,
    /// A short human-readable summary.
    #[schema(example = "Resource not found")]
    pub message: String,
    /// What exactly was wrong, naming the field or object at fault.
    #[schema(example = "Cannot find webhook with id wh_01hz…")]
    pub details: String,
    /// The id of the request, also in the `x-request-id` header and the server's logs.
    #[schema(example = "v-01hzx3r8k2m4n6p8q0s2t4v6w8")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// On 404: the id that was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// On 404: the kind of object that was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
}

impl ErrorBody {
    fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (status, axum::Json(&self)).into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Whole seconds to wait, rounded up and at least one.
fn retry_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            Self::Unavailable(cause) | Self::StorageFull(cause) => {
                tracing::warn!(error = %cause, "request refused")
            }
            _ => {}
        }
        let mut response = self.body().into_response_with(status);
        let retry_after = match &self {
            Self::StorageFull(_) => Some(STORAGE_FULL_RETRY_AFTER_SECS),
            Self::TooManyFailures { retry_after } => Some(retry_seconds(*retry_after)),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

/// The last step of every response: gives it the request id (header and error body), and
/// turns any error response that is not yet in the error shape (axum's own 404/405, the body
/// limit's 413, …) into it.
pub async fn finish(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID_HEADER).cloned();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let mut response = next.run(request).await;

    let body = match response.extensions_mut().remove::<ErrorBody>() {
        Some(body) => Some(body),
        None if (response.status().is_client_error() || response.status().is_server_error())
            && !is_json_content_type(response.headers().get(header::CONTENT_TYPE)) =>
        {
            Some(leftover_error(response.status(), &method, &path).body())
        }
        None => None,
    };
    if let Some(mut body) = body {
        let status = response.status();
        body.request_id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let headers = std::mem::take(response.headers_mut());
        response = body.into_response_with(status);
        for (name, value) in headers.iter() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        response.extensions_mut().remove::<ErrorBody>();
    }
    if let Some(id) = request_id {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

/// The error an error response made outside the handlers stands for.
fn leftover_error(status: StatusCode, method: &axum::http::Method, path: &str) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::RouteNotFound(format!("{method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(format!("{status}")),
        s if s.is_server_error() => ApiError::Internal(format!("{method} {path} answered {s}")),
        s => ApiError::InvalidPayload(format!(
            "The request was refused ({}).",
            s.canonical_reason().unwrap_or("client error")
        )),
    }
}

/// The answer to a route that does not exist.
pub async fn route_not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}", uri.path()))
}

/// The answer to a known route called with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_details_name_the_object() {
        let body = ApiError::not_found("webhook", "wh_x").body();
        assert_eq!(body.code, 404);
        assert_eq!(body.key, "not_found");
        assert_eq!(body.details, "Cannot find webhook with id wh_x");
        assert_eq!(body.resource_type.as_deref(), Some("webhook"));
    }

    #[test]
    fn a_full_disk_is_a_503_that_says_when_to_retry() {
        let response =
            ApiError::from(StoreError::Full("database or disk is full".into())).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&header::HeaderValue::from(STORAGE_FULL_RETRY_AFTER_SECS))
        );
        let body = response
            .extensions()
            .get::<ErrorBody>()
            .expect("an error body");
        assert_eq!(body.key, "storage_full");
        assert!(body.details.contains("nothing of this request was stored"));
    }

    #[test]
    fn internal_errors_say_nothing_internal() {
        let body = ApiError::Internal("disk I/O error at /var/secret".into()).body();
        assert_eq!(body.code, 500);
        assert!(!body.details.contains("secret"));
    }
}
