//! Signing in with the management key or the operator's `dashboard_password`, and signing
//! out (decisions in [`super::auth`] and docs/OPERATIONS.md, "Dashboard").
//!
//! Invariants: the sign-in form carries a double-submit token that must match a short-lived
//! cookie; credentials are compared as SHA-256 hashes in constant time, an unknown key id
//! costing the same as a wrong token; failures count towards the client's limit on failed
//! authentication, shared with the APIs ([`crate::ops::throttle`]), and a client that reached
//! it waits, right or wrong, while other clients sign in as usual.

use std::time::Instant;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::dashboard::auth::{
    cookie, is_https, local_path, read_cookie, same_secret, Posted, CSRF_FIELD, LOGIN_COOKIE,
    SESSION_COOKIE,
};
use crate::dashboard::error::DashError;
use crate::dashboard::form::Form;
use crate::dashboard::{Dash, BASE};
use crate::ops::keys::{self, MAX_CREDENTIAL_LEN};
use crate::ops::projects::random_token;
use crate::peer::client_of_request;

/// The sign-in page.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub login_csrf: String,
    pub password_enabled: bool,
    pub next: String,
    pub management_id: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

/// Query of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// What the sign-in page shows besides its fields.
struct LoginView<'a> {
    next: &'a str,
    error: Option<String>,
    notice: Option<String>,
    management_id: String,
}

/// The sign-in page with a fresh double-submit token (in the form and in a cookie).
fn login_response(dash: &Dash, view: LoginView<'_>, status: StatusCode, secure: bool) -> Response {
    let token = random_token(32);
    let page = LoginPage {
        login_csrf: token.clone(),
        password_enabled: dash.app.config.dashboard_password.is_some(),
        next: local_path(view.next).unwrap_or(BASE).to_owned(),
        management_id: view.management_id,
        error: view.error,
        notice: view.notice,
    };
    let mut response = (status, page).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(LOGIN_COOKIE, &token, Some(3600), secure),
    );
    response
}

/// `GET /dashboard/login`.
pub async fn show_login(
    State(dash): State<Dash>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = query.next.as_deref().unwrap_or(BASE);
    if read_cookie(&headers, SESSION_COOKIE)
        .and_then(|t| dash.sessions.get(t, Instant::now()))
        .is_some()
    {
        return Redirect::to(local_path(next).unwrap_or(BASE)).into_response();
    }
    let view = LoginView {
        next,
        error: None,
        notice: query.signed_out.map(|_| "You have signed out.".to_owned()),
        management_id: String::new(),
    };
    login_response(&dash, view, StatusCode::OK, is_https(&headers))
}

/// Who the form's credentials belong to, if they are right.
async fn verify(dash: &Dash, form: &Form) -> Result<Option<String>, DashError> {
    if let Some(password) = form.get("password") {
        let Some(expected) = &dash.app.config.dashboard_password else {
            return Ok(None);
        };
        let right =
            password.len() <= MAX_CREDENTIAL_LEN && same_secret(password, expected.expose());
        return Ok(right.then(|| "dashboard password".to_owned()));
    }
    let (id, token) = (form.text("management_id"), form.text("management_token"));
    let right = keys::is_management_key(&dash.app, id, token).await?;
    Ok(right.then(|| format!("management key {id}")))
}

/// `POST /dashboard/login`.
pub async fn sign_in(State(dash): State<Dash>, request: Request) -> Response {
    let client = client_of_request(&request, &dash.app.config.trusted_proxies);
    let headers = request.headers().clone();
    let form = match Form::from_request(request, &dash).await {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let secure = is_https(&headers);
    let next = local_path(form.text("next")).unwrap_or(BASE).to_owned();
    let retry = |error: String, status: StatusCode| {
        let view = LoginView {
            next: &next,
            error: Some(error),
            notice: None,
            management_id: form
                .text("management_id")
                .chars()
                .take(MAX_CREDENTIAL_LEN)
                .collect(),
        };
        login_response(&dash, view, status, secure)
    };
    let expected = read_cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let given = form.text(CSRF_FIELD);
    if expected.is_empty() || !same_secret(given, expected) {
        return retry(
            "This sign-in form has expired; please sign in again.".into(),
            StatusCode::FORBIDDEN,
        );
    }
    let now = Instant::now();
    if let Err(wait) = dash.app.throttle.check(client, now) {
        return retry(
            format!(
                "Too many failed sign-ins. Try again in {} seconds.",
                wait.as_secs().max(1)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    match verify(&dash, &form).await {
        Ok(Some(who)) => {
            tracing::info!(who = %who, "dashboard sign-in");
            let token = dash.sessions.create(who, now);
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                cookie(SESSION_COOKIE, &token, None, secure),
            );
            headers.append(
                header::SET_COOKIE,
                cookie(LOGIN_COOKIE, "", Some(0), secure),
            );
            response
        }
        Ok(None) => {
            dash.app.throttle.record_failure(client, now);
            tracing::warn!("dashboard sign-in refused");
            retry(
                "Those credentials are not valid.".into(),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /dashboard/logout`.
pub async fn sign_out(State(dash): State<Dash>, headers: HeaderMap, posted: Posted) -> Response {
    dash.sessions.remove(&posted.signed.0.key);
    let mut response = Redirect::to(&format!("{BASE}/login?signed_out=1")).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, "", Some(0), is_https(&headers)),
    );
    response
}
