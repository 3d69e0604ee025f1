//! Callout notices as the dashboard shows them: a project's in-app list, its unread count,
//! and marking notices read. (They are recorded by the store when a target is turned off or
//! on, and mailed by [`crate::notify`].)

use sendout_core::time::Timestamp;
use sendout_store::notices::Notice;
use sendout_store::Project;

use crate::ops::{AppState, OpsError};

/// How many notices the list shows, newest first.
pub const SHOWN: u32 = 100;

/// The project's in-app notices, newest first.
pub async fn list(state: &AppState, project: &Project) -> Result<Vec<Notice>, OpsError> {
    Ok(state.store.list_notices(&project.id, SHOWN).await?)
}

/// How many of the project's in-app notices are unread.
pub async fn unread(state: &AppState, project: &Project) -> Result<u64, OpsError> {
    Ok(state.store.unread_notices(&project.id).await?)
}

/// Marks read the notice `only` names, or (without it) every unread notice up to the one
/// `up_to` names: the newest the reader was shown, so one that came since stays unread.
pub async fn mark_read(
    state: &AppState,
    project: &Project,
    up_to: &str,
    only: Option<&str>,
) -> Result<u64, OpsError> {
    let id = |field: &str, text: &str| {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| OpsError::invalid(field, "must be the number of a notice"))
    };
    let only = only
        .filter(|text| !text.is_empty())
        .map(|text| id("id", text))
        .transpose()?;
    let up_to = match only {
        Some(only) => only,
        None => id("up_to", up_to)?,
    };
    Ok(state
        .store
        .mark_notices_read(&project.id, up_to, only, Timestamp::now())
        .await?)
}
