//! Who is calling: extractors for the two kinds of key.
//!
//! - [`ManagementKey`]: `X-Management-Id` + `X-Management-Token`, for `/management/v1/…`;
//! - [`AppKey`]: a project's server-side key, `X-App-Id` + `X-App-Token`, for `/v1/…`.
//!
//! Invariants: tokens are compared as SHA-256 hashes in constant time (an unknown id costs
//! the same comparison as a wrong token); a route takes exactly one kind of key, so an app key
//! on a management route is a 401 like no key at all; every failure is the same 401, which
//! says nothing about which part was wrong; no token is ever logged.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sendout_store::{hash_token, Project};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::ops::AppState;

/// The management key's id header.
pub const MANAGEMENT_ID: &str = "x-management-id";
/// The management key's token header.
pub const MANAGEMENT_TOKEN: &str = "x-management-token";
/// A project key's id header.
pub const APP_ID: &str = "x-app-id";
/// A project key's token header.
pub const APP_TOKEN: &str = "x-app-token";

/// Ids and tokens longer than this are not ours; refused before any work.
const MAX_CREDENTIAL_LEN: usize = 256;

/// A stand-in hash compared when the id is unknown, so that the answer takes as long.
const NO_SUCH_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// Whether `token` hashes to `expected_hash`, in time independent of where they differ.
fn token_matches(token: &str, expected_hash: &str) -> bool {
    hash_token(token)
        .as_bytes()
        .ct_eq(expected_hash.as_bytes())
        .into()
}

impl FromRequestParts<AppState> for ManagementKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (id, token) = credentials(parts, MANAGEMENT_ID, MANAGEMENT_TOKEN)?;
        let stored = state.store.management_key(id).await?;
        let matches = token_matches(token, stored.as_deref().unwrap_or(NO_SUCH_KEY));
        if stored.is_some() && matches {
            Ok(Self { id: id.to_owned() })
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

impl FromRequestParts<AppState> for AppKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (app_id, token) = credentials(parts, APP_ID, APP_TOKEN)?;
        let project = state.store.project_by_app_id(app_id).await?;
        let expected = project
            .as_ref()
            .map_or(NO_SUCH_KEY, |p| p.app_token_hash.as_str());
        let matches = token_matches(token, expected);
        match project {
            Some(project) if matches => Ok(Self(project)),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_its_own_hash() {
        let hash = hash_token("s3cret");
        assert!(token_matches("s3cret", &hash));
        assert!(!token_matches("s3cret ", &hash));
        assert!(!token_matches("s3cret", NO_SUCH_KEY));
        assert!(!token_matches("s3cret", ""));
    }
}
