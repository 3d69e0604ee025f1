//! The dashboard (PRODUCT §5.3): server-rendered pages for a person, served by `sendout serve`
//! under `/dashboard` (`/` redirects there). Compiled askama templates (`templates/`), one
//! stylesheet and one small script (`static/`, embedded in the binary, no build step).
//!
//! - [`auth`], [`login`] and [`session`]: sign-in with the management key or
//!   `dashboard_password`, sessions in memory, CSRF on every form, sign-out;
//! - [`projects`]: the project picker and Project settings' General tab (webhook version,
//!   signing secret, keys) with its Webhooks section;
//! - [`webhooks`] (with [`webhook_form`]): add, edit, test and delete a webhook;
//! - [`audit`] (with [`chart`]): the audit log's Webhook sendouts tab, Show data and Retry;
//! - [`distributions`] (with [`distribution_form`], [`designer`]): the distribution manager
//!   and the payload designer with its live Show output;
//! - [`notices`]: the in-app callout notices, their unread count in the header, mark read.
//!
//! Invariants:
//! - the dashboard validates and acts through the same operations as the API
//!   ([`crate::ops`]: projects, keys, webhooks, the audit log, retry, bulk retry, the test
//!   send, distributions and their preview), so both surfaces accept, refuse and behave
//!   alike; it renders from store records and places each refused field's error
//!   ([`sendout_core::field::FieldError`]) by its path; it imports nothing from the API;
//! - it is merged outside the API's layers (whose error shaping answers JSON) and has its
//!   own: HTML error pages, an `x-request-id` on every answer, a request log without query
//!   strings or bodies, a body limit, and headers that keep pages out of frames and caches
//!   and scripts to our own (`Content-Security-Policy` allows nothing inline).

pub mod audit;
pub mod auth;
pub mod chart;
pub mod designer;
pub mod distribution_form;
pub mod distributions;
pub mod error;
pub mod form;
pub mod health;
pub mod layout;
pub mod login;
pub mod notices;
pub mod projects;
pub mod session;
pub mod webhook_form;
pub mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Path, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use sendout_core::ids::GroupId;
use tower_http::limit::RequestBodyLimitLayer;

use crate::ops::AppState;
use crate::telemetry::REQUEST_ID_HEADER;
use error::DashError;
use session::Sessions;

/// Where the dashboard lives.
pub const BASE: &str = "/dashboard";

/// What the dashboard's handlers share: the app, and the sessions of this process.
#[derive(Debug, Clone)]
pub struct Dash {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
}

const STYLESHEET: &str = include_str!("../../static/dashboard.css");
const SCRIPT: &str = include_str!("../../static/dashboard.js");
/// Changes with every release, so browsers fetch new assets (`?v=` on their URLs).
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// `GET /dashboard/static/{file}`: the embedded stylesheet and script.
async fn asset(Path(name): Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "dashboard.css" => ("text/css; charset=utf-8", STYLESHEET),
        "dashboard.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return DashError::NotFound(format!("file {name}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// Any other path under `/dashboard`.
async fn page_not_found() -> DashError {
    DashError::NotFound("such page in the dashboard".into())
}

/// Request id, security headers and the request log of every dashboard answer.
async fn finish(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = HeaderValue::from_str(GroupId::new().as_str()).ok();
    if let Some(id) = &request_id {
        // Shared code (a test webhook) uses it as the request group id, as on the API.
        request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(id) = request_id.clone() {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        method = %method,
        path = %path,
        request_id = request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
        status = response.status().as_u16(),
        duration_ms,
        "dashboard request"
    );
    response
}

/// The dashboard's routes with their own layers; merged next to the API by
/// [`crate::app::router`].
pub fn router(app: AppState) -> Router {
    let max_body = app.config.max_body_bytes;
    let request_timeout = app.config.http_request_timeout;
    let dash = Dash {
        app,
        sessions: Arc::new(Sessions::default()),
    };
    const P: &str = "/dashboard/projects/{projectId}";
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to(BASE) }))
        .route(BASE, get(projects::home))
        .route("/dashboard/", get(|| async { Redirect::to(BASE) }))
        .route(
            "/dashboard/login",
            get(login::show_login).post(login::sign_in),
        )
        .route("/dashboard/logout", post(login::sign_out))
        .route("/dashboard/static/{file}", get(asset))
        .route("/dashboard/open", get(projects::open))
        .route(P, get(projects::project_home))
        .route(&format!("{P}/settings"), get(projects::settings))
        .route(
            &format!("{P}/settings/rotate-secret"),
            post(projects::rotate_secret),
        )
        .route(
            &format!("{P}/settings/notifications"),
            post(projects::save_notifications),
        )
        .route(
            &format!("{P}/settings/operational"),
            post(projects::save_operational),
        )
        .route(&format!("{P}/webhooks/new"), get(webhooks::new_form))
        .route(&format!("{P}/webhooks"), post(webhooks::create))
        .route(&format!("{P}/webhooks/test"), post(webhooks::test_new))
        .route(
            &format!("{P}/webhooks/{{webhookId}}"),
            post(webhooks::update),
        )
        .route(
            &format!("{P}/webhooks/{{webhookId}}/edit"),
            get(webhooks::edit_form),
        )
        .route(
            &format!("{P}/webhooks/{{webhookId}}/test"),
            post(webhooks::test_existing),
        )
        .route(
            &format!("{P}/webhooks/{{webhookId}}/delete"),
            post(webhooks::delete),
        )
        .route(
            &format!("{P}/webhooks/{{webhookId}}/recover"),
            post(webhooks::recover),
        )
        .route(&format!("{P}/notices"), get(notices::list))
        .route(&format!("{P}/notices/read"), post(notices::mark_read))
        .route(&format!("{P}/audit-log"), get(audit::list))
        .route(
            &format!("{P}/audit-log/retry-failed"),
            post(audit::bulk_retry),
        )
        .route(&format!("{P}/audit-log/{{sendOutId}}"), get(audit::show))
        .route(
            &format!("{P}/audit-log/{{sendOutId}}/retry"),
            post(audit::retry),
        )
        .route(
            &format!("{P}/distributions"),
            get(distributions::list).post(distributions::create),
        )
        .route(
            &format!("{P}/distributions/new"),
            get(distributions::new_form),
        )
        .route(
            &format!("{P}/distributions/preview"),
            post(designer::preview),
        )
        .route(&format!("{P}/distributions/keys"), get(designer::keys))
        .route(
            &format!("{P}/distributions/{{id}}"),
            post(distributions::update),
        )
        .route(
            &format!("{P}/distributions/{{id}}/edit"),
            get(distributions::edit_form),
        )
        .route(
            &format!("{P}/distributions/{{id}}/{{action}}"),
            post(distributions::act),
        )
        .route(
            "/dashboard/{*rest}",
            get(page_not_found).post(page_not_found),
        );
    routes
        .with_state(dash)
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(middleware::from_fn(finish))
}
