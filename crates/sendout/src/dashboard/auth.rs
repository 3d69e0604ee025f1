//! Who is using the dashboard: the session cookie, the extractors that require a session
//! ([`Signed`]) and a checked CSRF token ([`Posted`]), and the cookie helpers. Signing in and
//! out is [`super::login`].
//!
//! Invariants:
//! - every page but sign-in needs a live session ([`Signed`]); without one, a page redirects
//!   to sign-in and comes back afterwards;
//! - every state-changing request is a POST whose form carries the session's CSRF token
//!   ([`Posted`]) or, for the few `fetch` calls, sends it as `x-csrf-token`; the sign-in form
//!   itself is protected by a double-submit token in a short-lived cookie;
//! - credentials are compared as SHA-256 hashes in constant time, an unknown key id costs the
//!   same as a wrong token, and failures are limited ([`super::session`]);
//! - cookies are `HttpOnly`, `SameSite=Strict`, `Path=/dashboard`, and `Secure` when the
//!   request came over HTTPS, which sendout (serving plain HTTP itself) learns from a TLS
//!   proxy's `X-Forwarded-Proto: https` or `Forwarded: proto=https`. A forged header can
//!   only make a cookie stricter.

use std::time::Instant;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sendout_store::hash_token;
use subtle::ConstantTimeEq;

use crate::dashboard::error::DashError;
use crate::dashboard::form::Form;
use crate::dashboard::session::SessionInfo;
use crate::dashboard::{Dash, BASE};

/// The session cookie.
pub const SESSION_COOKIE: &str = "sendout_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "sendout_login";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// The header the page's script sends its CSRF token in; a `fetch` without a session gets a
/// 401 instead of the sign-in redirect.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request with a live session.
#[derive(Debug, Clone)]
pub struct Signed(pub SessionInfo);

/// A POSTed form of a live session whose CSRF token checked out.
#[derive(Debug, Clone)]
pub struct Posted {
    pub signed: Signed,
    pub form: Form,
}

/// Whether the request came over HTTPS (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| {
            first.split(';').any(|pair| {
                pair.trim()
                    .to_ascii_lowercase()
                    .replace('"', "")
                    .eq("proto=https")
            })
        });
    forwarded_proto || forwarded
}

/// A cookie of the dashboard; `max_age` 0 deletes it.
pub fn cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Path={BASE}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of a request cookie.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// Whether `given` is the expected token, in time independent of where they differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    hash_token(given)
        .as_bytes()
        .ct_eq(hash_token(expected).as_bytes())
        .into()
}

/// `next` if it is a dashboard path (never another site: no scheme, no `//`).
pub fn local_path(next: &str) -> Option<&str> {
    let inside = next == BASE || next.starts_with(&format!("{BASE}/"));
    let safe = !next.contains("//") && !next.contains('\\') && !next.chars().any(char::is_control);
    (inside && safe).then_some(next)
}

impl FromRequestParts<Dash> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &Dash) -> Result<Self, Response> {
        let session = read_cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|token| dash.sessions.get(token, Instant::now()));
        match session {
            Some(session) => Ok(Self(session)),
            None if parts.headers.get(CSRF_HEADER).is_some() => {
                // A `fetch` call: the script shows this instead of following a redirect.
                Err((StatusCode::UNAUTHORIZED, "signed out").into_response())
            }
            None => {
                let here = parts.uri.path_and_query().map_or(BASE, |p| p.as_str());
                let next = if parts.method == axum::http::Method::GET {
                    local_path(here).unwrap_or(BASE)
                } else {
                    BASE
                };
                let target = format!(
                    "{BASE}/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

impl FromRequest<Dash> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, dash: &Dash) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, dash).await?;
        // A body that is not a form cannot carry the CSRF field: refused as one without it.
        if !super::form::is_form(&parts.headers) {
            return Err(DashError::Csrf.into_response());
        }
        let form = Form::from_request(Request::from_parts(parts, body), dash)
            .await
            .map_err(IntoResponse::into_response)?;
        let given = form.get(CSRF_FIELD).unwrap_or_default();
        if given.is_empty() || !same_secret(given, &signed.0.csrf) {
            return Err(DashError::Csrf.into_response());
        }
        Ok(Self { signed, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn https_is_learned_from_the_proxy_headers() {
        assert!(!is_https(&headers(&[])));
        assert!(is_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(is_https(&headers(&[("x-forwarded-proto", "HTTPS, http")])));
        assert!(!is_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(is_https(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!is_https(&headers(&[("forwarded", "proto=http")])));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        let plain = cookie(SESSION_COOKIE, "t", None, false);
        assert_eq!(
            plain.to_str().expect("ascii"),
            "sendout_session=t; Path=/dashboard; HttpOnly; SameSite=Strict"
        );
        let secure = cookie(SESSION_COOKIE, "", Some(0), true);
        assert!(secure
            .to_str()
            .expect("ascii")
            .ends_with("; Max-Age=0; Secure"));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let map = headers(&[("cookie", "a=1; sendout_session=abc"), ("cookie", "b=2")]);
        assert_eq!(read_cookie(&map, SESSION_COOKIE), Some("abc"));
        assert_eq!(read_cookie(&map, "b"), Some("2"));
        assert_eq!(read_cookie(&map, "c"), None);
    }

    #[test]
    fn only_dashboard_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/dashboard"), Some("/dashboard"));
        assert_eq!(
            local_path("/dashboard/projects/p/audit-log?status=FAILED"),
            Some("/dashboard/projects/p/audit-log?status=FAILED")
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/dashboardx",
            "/v1/events",
            "/dashboard/\\evil",
            "/dashboard//evil",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }
}
