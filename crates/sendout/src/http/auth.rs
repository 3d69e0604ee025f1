//! Who is calling: extractors for the two kinds of key.
//!
//! - [`ManagementKey`]: `X-Management-Id` + `X-Management-Token`, for `/management/v1/…`;
//! - [`AppKey`]: a project's server-side key, `X-App-Id` + `X-App-Token`, for `/v1/…`.
//!
//! Invariants: keys are checked by [`crate::ops::keys`] (hashes compared in constant time, an
//! unknown id costing the same comparison as a wrong token); a route takes exactly one kind
//! of key, so an app key
//! on a management route is a 401 like no key at all; every failure is the same 401, which
//! says nothing about which part was wrong; no token is ever logged; a client that failed
//! `auth_failure_limit` times within `auth_failure_window` gets a 429 with `Retry-After`,
//! even with a right key, until its window ends ([`crate::ops::throttle`]).

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sendout_store::Project;

use crate::http::error::ApiError;
use crate::ops::keys::{self, MAX_CREDENTIAL_LEN};
use crate::ops::AppState;
use crate::peer::client_of;

/// The management key's id header.
pub const MANAGEMENT_ID: &str = "x-management-id";
/// The management key's token header.
pub const MANAGEMENT_TOKEN: &str = "x-management-token";
/// A project key's id header.
pub const APP_ID: &str = "x-app-id";
/// A project key's token header.
pub const APP_TOKEN: &str = "x-app-token";

/// A caller holding the management key.
#[derive(Debug, Clone)]
pub struct ManagementKey {
    /// The management key's id (not secret; may be logged).
    pub id: String,
}

/// A caller holding a project's server-side key: the project it opens.
#[derive(Debug, Clone)]
pub struct AppKey(pub Project);

/// The id and token headers, both present and plausible, or a 401.
fn credentials<'a>(
    parts: &'a Parts,
    id_header: &str,
    token_header: &str,
) -> Result<(&'a str, &'a str), ApiError> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN)
    };
    match (header(id_header), header(token_header)) {
        (Some(id), Some(token)) => Ok((id, token)),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Runs `verify` unless the client is limited; counts a failure when it finds no key.
async fn limited<T, F>(parts: &Parts, state: &AppState, verify: F) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<Option<T>, ApiError>>,
{
    // Who the client is is worked out only when it matters: while nobody has failed, a
    // request with a right key costs the throttle one atomic load.
    let client = || client_of(parts, &state.config.trusted_proxies);
    if !state.throttle.is_idle() {
        if let Err(retry_after) = state.throttle.check(client(), Instant::now()) {
            return Err(ApiError::TooManyFailures { retry_after });
        }
    }
    match verify.await? {
        Some(found) => Ok(found),
        None => {
            state.throttle.record_failure(client(), Instant::now());
            Err(ApiError::Unauthorized)
        }
    }
}

impl FromRequestParts<AppState> for ManagementKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        limited(parts, state, async {
            let Ok((id, token)) = credentials(parts, MANAGEMENT_ID, MANAGEMENT_TOKEN) else {
                return Ok(None);
            };
            let right = keys::is_management_key(state, id, token).await?;
            Ok(right.then(|| Self { id: id.to_owned() }))
        })
        .await
    }
}

impl FromRequestParts<AppState> for AppKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        limited(parts, state, async {
            let Ok((app_id, token)) = credentials(parts, APP_ID, APP_TOKEN) else {
                return Ok(None);
            };
            Ok(keys::project_of_app_key(state, app_id, token)
                .await?
                .map(Self))
        })
        .await
    }
}
