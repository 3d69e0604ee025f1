//! Endpoint health (issue 18 item 5): how a webhook, or each channel of a distribution, has
//! been answering over the last hour and day, as the store keeps it
//! (`sendout_store::health`: rollups written with the attempts, never a scan of them).
//!
//! Decisions (docs/API.md):
//! - a target with nothing recorded has health too, all zero: its figures are `null` where
//!   there is nothing to measure (no success rate or percentile without attempts);
//! - a distribution has one health per channel it has now, by index; figures kept for an
//!   index it no longer has (a channel removed) are not shown, and go with retention.

use sendout_core::time::Timestamp;
use sendout_store::health::TargetHealth;
use sendout_store::{Distribution, Project, SourceKind, Webhook};

use crate::ops::{distributions, webhooks, AppState, OpsError};

/// A webhook and its health.
pub async fn of_webhook(
    state: &AppState,
    project: &Project,
    raw_id: &str,
) -> Result<(Webhook, TargetHealth), OpsError> {
    let webhook = webhooks::get(state, project, raw_id).await?;
    let found = state
        .store
        .target_health(
            &project.id,
            SourceKind::Webhook,
            webhook.id.as_str(),
            Timestamp::now(),
        )
        .await?;
    let health = found
        .into_iter()
        .next()
        .unwrap_or_else(|| TargetHealth::empty(SourceKind::Webhook, webhook.id.to_string(), None));
    Ok((webhook, health))
}

/// A distribution and the health of each of its channels, in channel order.
pub async fn of_distribution(
    state: &AppState,
    project: &Project,
    raw_id: &str,
) -> Result<(Distribution, Vec<TargetHealth>), OpsError> {
    let distribution = distributions::get(state, project, raw_id).await?;
    let found = state
        .store
        .target_health(
            &project.id,
            SourceKind::Distribution,
            distribution.id.as_str(),
            Timestamp::now(),
        )
        .await?;
    let channels = channels_of(&distribution, found);
    Ok((distribution, channels))
}

/// The health of every target of the project (webhooks, and channels of distributions),
/// without the hourly series: what lists show.
pub async fn of_project(
    state: &AppState,
    project: &Project,
) -> Result<Vec<TargetHealth>, OpsError> {
    Ok(state
        .store
        .project_health(&project.id, Timestamp::now())
        .await?)
}

/// One health per channel `distribution` has now, from those `found` (the store's, by
/// channel), empty where none was recorded.
pub fn channels_of(distribution: &Distribution, found: Vec<TargetHealth>) -> Vec<TargetHealth> {
    let mut found = found.into_iter().peekable();
    (0..distribution.spec.channels().len())
        .map(|index| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            while found.peek().is_some_and(|h| h.channel < Some(index)) {
                found.next();
            }
            match found.next_if(|h| h.channel == Some(index)) {
                Some(health) => health,
                None => TargetHealth::empty(
                    SourceKind::Distribution,
                    distribution.id.to_string(),
                    Some(index),
                ),
            }
        })
        .collect()
}
