//! The application layer: every operation the JSON API and the dashboard offer, written
//! once. Each takes typed input, applies the rules (with `sendout_core`'s types and limits),
//! calls the store and answers store/core records or one [`OpsError`].
//!
//! Invariants:
//! - nothing here knows how it is reached: no axum, no JSON request types, no API or
//!   dashboard errors; [`crate::http`] and [`crate::dashboard`] are two front ends over it and
//!   never over each other;
//! - a refused value is an [`OpsError::Invalid`] (or [`OpsError::Unprocessable`]) holding
//!   [`FieldError`]s with structured paths, in the order the input is checked: the API shows
//!   the first, the dashboard shows each next to its field.

pub mod distributions;
pub mod health;
pub mod keys;
pub mod notices;
pub mod notifications;
pub mod preview;
pub mod projects;
pub mod sendouts;
pub mod test_send;
pub mod text;
pub mod throttle;
pub mod webhooks;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sendout_core::field::FieldError;
use sendout_store::{Project, Store, StoreError};

use crate::config::Config;
use crate::delivery::Deliverer;

/// What every operation, handler and worker shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub deliverer: Arc<Deliverer>,
    /// `Some` when this process runs workers: true while they run.
    pub workers_alive: Option<Arc<AtomicBool>>,
    /// Failed authentications per client, for every API and the dashboard's sign-in.
    pub throttle: Arc<throttle::AuthThrottle>,
    /// Projects recently found by their app key.
    pub app_keys: Arc<keys::AppKeys>,
}

/// Why an operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// No such object (in this project); malformed ids included.
    #[error("cannot find {resource} with id {id}")]
    NotFound { resource: &'static str, id: String },
    /// Values of the wrong form, first-checked first (never empty).
    #[error("invalid payload: {}", first(.0))]
    Invalid(Vec<FieldError>),
    /// Well-formed input asking for what is not allowed (an unknown event type, …): `key`
    /// names the rule the first error broke; `errors` are every field's, first-checked first.
    #[error("{}", first(.errors))]
    Unprocessable {
        key: &'static str,
        errors: Vec<FieldError>,
    },
    /// The request conflicts with the object's current state.
    #[error("conflict: {details}")]
    Conflict { key: &'static str, details: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: logged where it is answered, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

fn first(errors: &[FieldError]) -> String {
    errors.first().map(ToString::to_string).unwrap_or_default()
}

impl OpsError {
    /// A missing object of `resource` named `id`.
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    /// One refused top-level field.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::Invalid(vec![FieldError::at(field, message)])
    }

    /// The field errors it holds (none for a missing object, a conflict or a store failure).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(errors) | Self::Unprocessable { errors, .. } => errors,
            _ => &[],
        }
    }
}

/// A store `NotFound` as a missing `resource` named `id`.
pub fn not_found_as(error: StoreError, resource: &'static str, id: &str) -> OpsError {
    match error {
        StoreError::NotFound => OpsError::not_found(resource, id),
        other => other.into(),
    }
}

/// Why the store did not create an object in `project`: one more than its quota (named by
/// its `setting`) is a 422 `quota_exceeded` on the project; a missing project is not found.
pub fn creation_refused(error: StoreError, setting: &str, project: &Project) -> OpsError {
    match error {
        StoreError::QuotaExceeded { what, limit } => OpsError::Unprocessable {
            key: "quota_exceeded",
            errors: vec![FieldError::at(
                "project",
                format!(
                    "already has {limit} {what}, the most a project may have ({setting}); \
                     delete one to make room"
                ),
            )],
        },
        other => not_found_as(other, "project", project.id.as_str()),
    }
}

/// Collects the field errors of one input, in the order its fields are checked; the first
/// decides whether the whole is [`OpsError::Invalid`] or [`OpsError::Unprocessable`].
#[derive(Debug, Default)]
pub struct Problems {
    errors: Vec<FieldError>,
    key: Option<&'static str>,
}

impl Problems {
    /// A malformed value.
    pub fn invalid(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// A well-formed value that breaks the rule `key`.
    pub fn unprocessable(&mut self, key: &'static str, error: FieldError) {
        if self.errors.is_empty() {
            self.key = Some(key);
        }
        self.errors.push(error);
    }

    /// The value of a field's check, or `None` with its error kept.
    pub fn field<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.invalid(e)).ok()
    }

    /// The value of a check, or `None` with its errors kept.
    pub fn check<T>(&mut self, result: Result<T, OpsError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(OpsError::Unprocessable { key, errors }) => {
                for error in errors {
                    self.unprocessable(key, error);
                }
                None
            }
            Err(OpsError::Invalid(errors)) => {
                self.errors.extend(errors);
                None
            }
            Err(other) => {
                // Not a field error: a check never answers one; keep it visible anyway.
                self.errors.push(FieldError::at("input", other));
                None
            }
        }
    }

    /// `Ok` when nothing was refused.
    pub fn finish(self) -> Result<(), OpsError> {
        match (self.errors.is_empty(), self.key) {
            (true, _) => Ok(()),
            (false, Some(key)) => Err(OpsError::Unprocessable {
                key,
                errors: self.errors,
            }),
            (false, None) => Err(OpsError::Invalid(self.errors)),
        }
    }

    /// `value` (made of every checked field) when nothing was refused.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, OpsError> {
        self.finish()?;
        value.ok_or_else(|| OpsError::invalid("input", "is incomplete"))
    }
}
