//! Checking the two kinds of key: the management key and a project's server-side key.
//!
//! Invariants: tokens are compared as SHA-256 hashes in constant time, and an unknown id
//! costs the same comparison as a wrong token; ids and tokens longer than
//! [`MAX_CREDENTIAL_LEN`] are refused before any work; no token is ever logged.

use sendout_store::{hash_token, Project};
use subtle::ConstantTimeEq;

use crate::ops::{AppState, OpsError};

/// Ids and tokens longer than this are not ours.
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// A stand-in hash compared when the id is unknown, so that the answer takes as long.
const NO_SUCH_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether `token` hashes to `expected_hash`, in time independent of where they differ.
fn token_matches(token: &str, expected_hash: &str) -> bool {
    hash_token(token)
        .as_bytes()
        .ct_eq(expected_hash.as_bytes())
        .into()
}

fn plausible(id: &str, token: &str) -> bool {
    id.len() <= MAX_CREDENTIAL_LEN && token.len() <= MAX_CREDENTIAL_LEN
}

/// Whether `id` and `token` are a management key.
pub async fn is_management_key(state: &AppState, id: &str, token: &str) -> Result<bool, OpsError> {
    if !plausible(id, token) {
        return Ok(false);
    }
    let stored = state.store.management_key(id).await?;
    let matches = token_matches(token, stored.as_deref().unwrap_or(NO_SUCH_KEY));
    Ok(stored.is_some() && matches)
}

/// The project whose server-side key `app_id` and `token` are, if they are one.
pub async fn project_of_app_key(
    state: &AppState,
    app_id: &str,
    token: &str,
) -> Result<Option<Project>, OpsError> {
    if !plausible(app_id, token) {
        return Ok(None);
    }
    let project = state.store.project_by_app_id(app_id).await?;
    let expected = project
        .as_ref()
        .map_or(NO_SUCH_KEY, |p| p.app_token_hash.as_str());
    let matches = token_matches(token, expected);
    Ok(project.filter(|_| matches))
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
