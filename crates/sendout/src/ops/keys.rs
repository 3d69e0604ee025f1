//! Checking the two kinds of key: the management key and a project's server-side key.
//!
//! Invariants: tokens are compared as SHA-256 hashes in constant time, and an unknown id
//! costs the same comparison as a wrong token; ids and tokens longer than
//! [`MAX_CREDENTIAL_LEN`] are refused before any work; no token is ever logged.
//!
//! A project found by its app id is remembered for `app_key_cache` ([`AppKeys`]), since a
//! single-event ingest read it on every request (a tenth of the engine's time in the
//! benchmark's profile). The token is still hashed and compared on every request, and an
//! unknown id is never remembered (so a client sending made-up ids cannot fill the memory,
//! and a project made on another node is found at once). This process forgets a project
//! when it changes or deletes one; another node sharing the database serves its copy for at
//! most `app_key_cache` more (docs/OPERATIONS.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sendout_store::{hash_token, Project};
use subtle::ConstantTimeEq;

use crate::ops::{AppState, OpsError};

/// Ids and tokens longer than this are not ours.
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// The most projects [`AppKeys`] remembers; past it, it starts again from empty.
const MAX_REMEMBERED: usize = 10_000;

/// Projects recently found by their app id, each kept for the cache's time to live.
#[derive(Debug)]
pub struct AppKeys {
    ttl: Duration,
    found: Mutex<HashMap<String, (Project, Instant)>>,
}

impl AppKeys {
    /// Remembers each project for `ttl` (zero: never).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            found: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, app_id: &str, now: Instant) -> Option<Project> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found
            .get(app_id)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(project, _)| project.clone())
    }

    fn remember(&self, project: &Project, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= MAX_REMEMBERED && !found.contains_key(&project.app_id) {
            found.clear();
        }
        found.insert(project.app_id.clone(), (project.clone(), now));
    }

    /// Forgets every remembered project: one was changed or deleted by this process.
    pub fn forget_all(&self) {
        self.found.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

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
    let now = Instant::now();
    let project = match state.app_keys.get(app_id, now) {
        Some(project) => Some(project),
        None => {
            let found = state.store.project_by_app_id(app_id).await?;
            if let Some(project) = &found {
                state.app_keys.remember(project, now);
            }
            found
        }
    };
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
