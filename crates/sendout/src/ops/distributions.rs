//! Distributions: their rules are `sendout_core::distribution`'s (a malformed value is
//! invalid, a well-formed one the catalog does not allow is unprocessable under its own key);
//! here they are checked, stored, listed, paused and set live.
//!
//! Rules (docs/DISTRIBUTIONS.md): a new distribution starts `LIVE` unless asked `DRAFT` or
//! `PAUSED`; an update replaces name, trigger, action and channels and keeps the status when
//! none is given; pausing by a person gives no reason, setting live clears an automatic
//! pause's reason; ids of another project, or malformed ids, are not found.

use sendout_core::distribution::{
    DistributionError, DistributionInput, DistributionSpec, DistributionStatus,
};
use sendout_core::ids::DistributionId;
use sendout_store::{Distribution, Project};

use crate::ops::{creation_refused, not_found_as, AppState, OpsError};

/// A rule of the core as an operation's error.
pub fn distribution_error(error: &DistributionError) -> OpsError {
    if error.is_semantic() {
        OpsError::Unprocessable {
            key: error.key(),
            errors: vec![error.field_error()],
        }
    } else {
        OpsError::Invalid(vec![error.field_error()])
    }
}

/// A distribution as asked for, unchecked.
#[derive(Debug, Clone)]
pub struct DistributionChange {
    pub input: DistributionInput,
    /// `DRAFT`, `LIVE` or `PAUSED`; `LIVE` on create and kept on update when absent.
    pub status: Option<String>,
}

fn status(text: Option<&str>) -> Result<Option<DistributionStatus>, OpsError> {
    text.map(|text| {
        DistributionStatus::parse(text)
            .ok_or_else(|| OpsError::invalid("status", "must be `DRAFT`, `LIVE` or `PAUSED`"))
    })
    .transpose()
}

/// The checked spec and status of a change, within the deployment's limits.
fn parts(
    state: &AppState,
    change: DistributionChange,
) -> Result<(DistributionSpec, Option<DistributionStatus>), OpsError> {
    let status = status(change.status.as_deref())?;
    let spec = change
        .input
        .parse_within(&state.config.limits.distribution)
        .map_err(|e| distribution_error(&e))?;
    Ok((spec, status))
}

fn parse_id(raw_id: &str) -> Result<DistributionId, OpsError> {
    DistributionId::parse(raw_id).map_err(|_| OpsError::not_found("distribution", raw_id))
}

/// Checks `change` and creates the distribution.
pub async fn create(
    state: &AppState,
    project: &Project,
    change: DistributionChange,
) -> Result<Distribution, OpsError> {
    let (spec, status) = parts(state, change)?;
    let created = state
        .store
        .create_distribution_within(
            &project.id,
            spec,
            status.unwrap_or(DistributionStatus::Live),
            state.config.limits.distributions_per_project,
        )
        .await
        .map_err(|e| creation_refused(e, "max_distributions_per_project", project))?;
    tracing::info!(project.id = %project.id, distribution.id = %created.id, "distribution created");
    Ok(created)
}

/// The project's distributions, oldest first.
pub async fn list(state: &AppState, project: &Project) -> Result<Vec<Distribution>, OpsError> {
    Ok(state.store.list_distributions(&project.id).await?)
}

/// The distribution named by `raw_id` in `project`.
pub async fn get(
    state: &AppState,
    project: &Project,
    raw_id: &str,
) -> Result<Distribution, OpsError> {
    let id = parse_id(raw_id)?;
    state
        .store
        .get_distribution(&project.id, &id)
        .await
        .map_err(|e| not_found_as(e, "distribution", raw_id))
}

/// Checks `change` and replaces the distribution named by `raw_id` with it.
pub async fn update(
    state: &AppState,
    project: &Project,
    raw_id: &str,
    change: DistributionChange,
) -> Result<Distribution, OpsError> {
    let id = parse_id(raw_id)?;
    let (spec, status) = parts(state, change)?;
    let updated = state
        .store
        .update_distribution(&project.id, &id, spec, status)
        .await
        .map_err(|e| not_found_as(e, "distribution", raw_id))?;
    tracing::info!(project.id = %project.id, distribution.id = %id, "distribution updated");
    Ok(updated)
}

/// Deletes the distribution named by `raw_id`; its send outs stay in the audit log and are
/// not sent any more.
pub async fn delete(state: &AppState, project: &Project, raw_id: &str) -> Result<(), OpsError> {
    let id = parse_id(raw_id)?;
    state
        .store
        .delete_distribution(&project.id, &id)
        .await
        .map_err(|e| not_found_as(e, "distribution", raw_id))?;
    tracing::info!(project.id = %project.id, distribution.id = %id, "distribution deleted");
    Ok(())
}

/// Pauses (`Paused`, by a person: no reason) or sets live the distribution named by `raw_id`.
pub async fn set_status(
    state: &AppState,
    project: &Project,
    raw_id: &str,
    status: DistributionStatus,
) -> Result<Distribution, OpsError> {
    let id = parse_id(raw_id)?;
    let changed = state
        .store
        .set_distribution_status(&project.id, &id, status, None)
        .await
        .map_err(|e| not_found_as(e, "distribution", raw_id))?;
    tracing::info!(project.id = %project.id, distribution.id = %id, status = %status, "distribution status set");
    Ok(changed)
}
