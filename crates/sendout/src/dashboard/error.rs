//! What a dashboard request answers when it cannot do what was asked: an HTML page with the
//! right status, a sentence a person can act on and a way back. Like the API, a 5xx says
//! nothing internal: the cause is logged once, here.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sendout_store::StoreError;

use crate::ops::OpsError;

/// Everything a dashboard handler can answer instead of its page.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// 400: the request is not what a dashboard page sends.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the form's CSRF token is missing or not this session's.
    #[error(
        "this form has expired or did not come from this dashboard; reload the page and try again"
    )]
    Csrf,
    /// 404: no such project, webhook, send out or distribution.
    #[error("there is no {0}")]
    NotFound(String),
    /// An operation refused or failed (a missing object is [`DashError::NotFound`]).
    #[error(transparent)]
    Ops(OpsError),
}

impl From<OpsError> for DashError {
    fn from(error: OpsError) -> Self {
        match error {
            OpsError::NotFound { resource, id } => Self::NotFound(format!("{resource} {id}")),
            other => Self::Ops(other),
        }
    }
}

impl From<StoreError> for DashError {
    fn from(error: StoreError) -> Self {
        OpsError::from(error).into()
    }
}

impl DashError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Ops(ops) => match ops {
                OpsError::NotFound { .. } | OpsError::Store(StoreError::NotFound) => {
                    StatusCode::NOT_FOUND
                }
                OpsError::Invalid(_) => StatusCode::BAD_REQUEST,
                OpsError::Unprocessable { .. }
                | OpsError::Store(
                    StoreError::TooManySendOuts(_) | StoreError::QuotaExceeded { .. },
                ) => StatusCode::UNPROCESSABLE_ENTITY,
                OpsError::Conflict { .. } | OpsError::Store(StoreError::Conflict(_)) => {
                    StatusCode::CONFLICT
                }
                OpsError::Store(StoreError::Full(_)) => StatusCode::SERVICE_UNAVAILABLE,
                OpsError::Store(StoreError::Database(_)) | OpsError::Internal(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }
}

/// The error page.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub code: u16,
    pub title: String,
    pub message: String,
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if let Self::Ops(OpsError::Store(StoreError::Full(cause))) = &self {
            tracing::warn!(error = %cause, "dashboard request refused");
            "The server's storage is full, so nothing was saved. Try again once space has been \
             freed on its data disk."
                .to_owned()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "dashboard request failed");
            "Something went wrong on the server; the cause is in its log. Try again in a moment."
                .to_owned()
        } else {
            let text = self.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
                None => String::new(),
            }
        };
        let page = ErrorPage {
            code: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message,
        };
        (status, page).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_say_nothing_internal() {
        let response =
            DashError::from(OpsError::Internal("db file is locked".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let page = ErrorPage {
            code: 500,
            title: "Internal Server Error".into(),
            message: "x".into(),
        };
        assert!(page
            .render()
            .expect("renders")
            .contains("Internal Server Error"));
    }

    #[test]
    fn client_errors_keep_their_status() {
        assert_eq!(DashError::Csrf.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            DashError::NotFound("webhook wh_x".into()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            DashError::from(OpsError::not_found("project", "proj_x")).status(),
            StatusCode::NOT_FOUND
        );
    }
}
