//! Projects and their keys: creation with fresh credentials, reading, changing, deleting,
//! and the rotation of the signing secret.
//!
//! Invariants: the app token is made here and stored only as a hash, so it exists in clear
//! only in the [`NewProjectKeys`] of the call that made it; a rotated-out signing secret keeps
//! signing for `secret_rotation_grace`.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sendout_core::field::FieldError;
use sendout_core::ids::ProjectId;
use sendout_core::input::TargetUrl;
use sendout_core::time::Timestamp;
use sendout_store::{
    hash_token, CalloutNotifications, NewProject, Project, ProjectUpdate, Store, StoreError,
};

use crate::config::{safe_target, Secret};
use crate::ops::notifications::{self, NotificationsInput};
use crate::ops::text::{self, text_field, DEFAULT_TIMEZONE, MAX_NAME_CHARS, WEBHOOK_VERSION};
use crate::ops::webhooks::target_url;
use crate::ops::{not_found_as, AppState, OpsError, Problems};

/// A random token of `len` letters and digits.
pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A project's freshly made credentials, shown once.
#[derive(Debug, Clone)]
pub struct NewProjectKeys {
    pub project: Project,
    pub app_token: Secret,
}

/// Creates a project with fresh keys and signing secret, from values already checked.
pub async fn create_project(
    store: &dyn Store,
    name: String,
    description: Option<String>,
    timezone: String,
) -> Result<NewProjectKeys, StoreError> {
    let (new, app_token) = new_project(name, description, timezone);
    let project = store.create_project(new).await?;
    Ok(NewProjectKeys {
        project,
        app_token: Secret::new(app_token),
    })
}

/// A project with fresh keys and signing secret, not yet stored, and its app token.
pub fn new_project(
    name: String,
    description: Option<String>,
    timezone: String,
) -> (NewProject, String) {
    let app_token = random_token(40);
    let new = NewProject {
        id: ProjectId::new(),
        name,
        description,
        timezone,
        webhook_version: WEBHOOK_VERSION.into(),
        webhook_token: random_token(40),
        app_id: uuid_like(),
        app_token_hash: hash_token(&app_token),
        callout_notifications: Default::default(),
        operational_webhook_url: None,
    };
    (new, app_token)
}

/// An app id in Voucherify's format (a UUID), from random bytes.
fn uuid_like() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new project as asked for, unchecked.
#[derive(Debug, Clone, Default)]
pub struct ProjectInput {
    pub name: String,
    pub description: Option<String>,
    /// `Etc/UTC` when absent.
    pub timezone: Option<String>,
    /// Only [`WEBHOOK_VERSION`].
    pub webhook_version: Option<String>,
    /// Over the defaults ([`notifications`]).
    pub callout_notifications: Option<NotificationsInput>,
    /// Where the project's operational events go; blank or absent: nowhere of its own.
    pub operational_webhook_url: Option<String>,
}

/// A change to a project: only the fields given change.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    /// `Some(None)` (or blank text) clears the description.
    pub description: Option<Option<String>>,
    pub timezone: Option<String>,
    pub webhook_version: Option<String>,
    /// Over the stored settings ([`notifications`]).
    pub callout_notifications: Option<NotificationsInput>,
    /// `Some(None)` (or blank text) removes the project's operational URL.
    pub operational_webhook_url: Option<Option<String>>,
}

/// A project's operational URL from input: a target URL that the delivery rules allow
/// (an address literal among those refused at connect time is refused here); blank: none.
pub fn operational_webhook_url(
    state: &AppState,
    text: Option<&str>,
) -> Result<Option<TargetUrl>, FieldError> {
    const FIELD: &str = "operational_webhook_url";
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let url = target_url(FIELD, text)?;
    safe_target(&url, &state.config.allowed_target_ranges)
        .map_err(|message| FieldError::at(FIELD, message))?;
    Ok(Some(url))
}

/// `input` over `current`, each problem noted.
fn callout_notifications(
    problems: &mut Problems,
    input: Option<NotificationsInput>,
    current: &CalloutNotifications,
) -> Option<CalloutNotifications> {
    match notifications::apply(input?, current) {
        Ok(applied) => Some(applied),
        Err(errors) => {
            for error in errors {
                problems.invalid(error);
            }
            None
        }
    }
}

/// Checks `input` and creates the project with fresh keys.
pub async fn create(state: &AppState, input: ProjectInput) -> Result<NewProjectKeys, OpsError> {
    let mut problems = Problems::default();
    let name = problems.field(text_field("name", &input.name, MAX_NAME_CHARS));
    // Blank text is no description, as it is in an update.
    let description = problems.field(text::description(input.description.map(Some), None));
    let timezone = problems.field(match input.timezone {
        Some(tz) => text::timezone(&tz),
        None => Ok(DEFAULT_TIMEZONE.to_owned()),
    });
    if let Some(version) = input.webhook_version {
        problems.field(text::webhook_version(&version));
    }
    let notifications = callout_notifications(
        &mut problems,
        input.callout_notifications,
        &CalloutNotifications::default(),
    );
    let operational = problems
        .field(operational_webhook_url(
            state,
            input.operational_webhook_url.as_deref(),
        ))
        .flatten();
    let (name, description, timezone) = problems.finish_with(
        name.zip(description)
            .zip(timezone)
            .map(|((n, d), t)| (n, d, t)),
    )?;
    let (mut new, app_token) = new_project(name, description, timezone);
    new.callout_notifications = notifications.unwrap_or_default();
    new.operational_webhook_url = operational;
    let keys = NewProjectKeys {
        project: state.store.create_project(new).await?,
        app_token: Secret::new(app_token),
    };
    tracing::info!(project.id = %keys.project.id, "project created");
    Ok(keys)
}

/// Every project.
pub async fn list(state: &AppState) -> Result<Vec<Project>, OpsError> {
    Ok(state.store.list_projects().await?)
}

/// The project named by `raw_id`; a malformed or unknown id is [`OpsError::NotFound`].
pub async fn get(state: &AppState, raw_id: &str) -> Result<Project, OpsError> {
    let id = ProjectId::parse(raw_id).map_err(|_| OpsError::not_found("project", raw_id))?;
    state
        .store
        .get_project(&id)
        .await
        .map_err(|e| not_found_as(e, "project", raw_id))
}

/// Checks `change` and applies it to the project named by `raw_id`.
pub async fn update(
    state: &AppState,
    raw_id: &str,
    change: ProjectChange,
) -> Result<Project, OpsError> {
    let project = get(state, raw_id).await?;
    let mut problems = Problems::default();
    let update = ProjectUpdate {
        name: problems
            .field(
                change
                    .name
                    .map(|n| text_field("name", &n, MAX_NAME_CHARS))
                    .transpose(),
            )
            .flatten(),
        description: match change.description {
            None => None,
            description => problems.field(text::description(description, None)),
        },
        timezone: problems
            .field(change.timezone.map(|tz| text::timezone(&tz)).transpose())
            .flatten(),
        webhook_version: problems
            .field(
                change
                    .webhook_version
                    .map(|v| text::webhook_version(&v))
                    .transpose(),
            )
            .flatten(),
        callout_notifications: callout_notifications(
            &mut problems,
            change.callout_notifications,
            &project.callout_notifications,
        ),
        operational_webhook_url: match change.operational_webhook_url {
            None => None,
            Some(text) => problems.field(operational_webhook_url(state, text.as_deref())),
        },
    };
    problems.finish()?;
    let updated = state
        .store
        .update_project(&project.id, update)
        .await
        .map_err(|e| not_found_as(e, "project", raw_id));
    state.app_keys.forget_all();
    updated
}

/// Deletes the project named by `raw_id` with everything it owns.
pub async fn delete(state: &AppState, raw_id: &str) -> Result<(), OpsError> {
    let project = get(state, raw_id).await?;
    state
        .store
        .delete_project(&project.id)
        .await
        .map_err(|e| not_found_as(e, "project", raw_id))?;
    state.app_keys.forget_all();
    tracing::info!(project.id = %project.id, "project deleted");
    Ok(())
}

/// Gives the project a new signing secret; the old one keeps signing for the grace period.
pub async fn rotate_webhook_token(state: &AppState, raw_id: &str) -> Result<Project, OpsError> {
    let project = get(state, raw_id).await?;
    let grace_ms =
        i64::try_from(state.config.secret_rotation_grace.as_millis()).unwrap_or(i64::MAX);
    let grace_until = Timestamp::now().plus_millis(grace_ms);
    let new_token = random_token(40);
    let rotated = state
        .store
        .rotate_webhook_token(&project.id, &new_token, grace_until)
        .await
        .map_err(|e| not_found_as(e, "project", raw_id))?;
    state.app_keys.forget_all();
    tracing::info!(project.id = %project.id, "webhook token rotated");
    Ok(rotated)
}

/// While a rotated-out secret still signs (at `now`): when it stops.
pub fn previous_token_expiry(project: &Project, now: Timestamp) -> Option<Timestamp> {
    match (
        &project.previous_webhook_token,
        project.previous_token_expires_at,
    ) {
        (Some(_), Some(until)) if until > now => Some(until),
        _ => None,
    }
}
