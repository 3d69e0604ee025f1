//! Project-settings webhooks: their rules, written once for the management API and the
//! dashboard.
//!
//! Rules (docs/API.md, "Webhooks"):
//! - `target_url` is an absolute `http`/`https` URL ([`TargetUrl`]);
//! - `events` is `["*"]` (every event, present and future) or catalog names of
//!   project-settings events, stored canonically (the spec's `…aded` read as `…added`); an
//!   unknown name or a distribution-only trigger is unprocessable, naming it;
//! - `public_headers` names those of the webhook's own `headers` whose values the audit log
//!   may show (any case, each once); every other value is a secret and shows as `[redacted]`.
//!   A name that is not one of the headers is refused, naming the field;
//! - on update, `active`, `headers`, `public_headers` and `description` keep their values when
//!   absent (a kept public header that the new `headers` drop stops being public), and a
//!   blank description clears it; with [`WebhookInput::spec_list_is_every_event`], the
//!   management spec's whole list put back to a webhook for every event keeps it so.

pub mod spec_events;

use std::collections::BTreeMap;

use sendout_core::field::FieldError;
use sendout_core::ids::WebhookId;
use sendout_core::input::{CustomHeaders, EventFilter, InputError, PublicHeaders, TargetUrl};
use sendout_core::time::Timestamp;
use sendout_store::{Project, SourceId, Webhook, WebhookFields};

use crate::ops::{creation_refused, not_found_as, text, AppState, OpsError, Problems};

/// A webhook as asked for, unchecked (headers are already typed).
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub target_url: String,
    /// `["*"]` or event type names.
    pub events: Vec<String>,
    /// True when absent on create; kept when absent on update.
    pub active: Option<bool>,
    /// Kept when absent on update; empty removes them all.
    pub headers: Option<CustomHeaders>,
    /// Names of `headers` whose values the audit log may show; none when absent on create,
    /// kept (among the headers) when absent on update.
    pub public_headers: Option<Vec<String>>,
    /// Kept when absent on update; `Some(None)` or blank text clears it.
    pub description: Option<Option<String>>,
    /// Whether `events` naming exactly the management spec's list (what a webhook for every
    /// event reads as there) keeps a webhook for every event so.
    pub spec_list_is_every_event: bool,
}

/// A target URL from input, or an error about `field`.
pub fn target_url(field: &str, text: &str) -> Result<TargetUrl, FieldError> {
    TargetUrl::parse(text.trim()).map_err(|e| FieldError::at(field, e))
}

/// A webhook's subscription from input: `["*"]`, or canonical names of project-settings
/// event types. Unknown names and distribution-only triggers are unprocessable.
pub fn event_filter(events: &[String]) -> Result<EventFilter, OpsError> {
    EventFilter::parse(events).map_err(|e| match e {
        InputError::UnknownEventTypes { .. } => OpsError::Unprocessable {
            key: "unknown_event_type",
            errors: vec![FieldError::at("events", e)],
        },
        InputError::DistributionOnlyEventTypes { .. } => OpsError::Unprocessable {
            key: "event_type_not_for_webhooks",
            errors: vec![FieldError::at("events", e)],
        },
        other => OpsError::invalid("events", other),
    })
}

/// A webhook's public headers from input, each one of its `headers`; absent, the current
/// webhook's (less those `headers` no longer has), or none.
pub fn public_headers(
    given: Option<&[String]>,
    headers: &BTreeMap<String, String>,
    current: Option<&Webhook>,
) -> Result<PublicHeaders, FieldError> {
    let names = || headers.keys().map(String::as_str);
    let Some(given) = given else {
        return Ok(current.map_or_else(PublicHeaders::default, |w| {
            w.public_headers.clone().retained_among(names())
        }));
    };
    let public = PublicHeaders::parse(given).map_err(|e| FieldError::at("public_headers", e))?;
    public
        .check_among(names())
        .map_err(|e| FieldError::at("public_headers", e))?;
    Ok(public)
}

fn headers_map(headers: &CustomHeaders) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_str().to_owned()))
        .collect()
}

/// The fields of a webhook from `input`, checked; `current` supplies what an update leaves
/// out. Every field is checked, and every error kept, first-checked first. Pure.
pub fn fields(input: WebhookInput, current: Option<&Webhook>) -> Result<WebhookFields, OpsError> {
    let mut problems = Problems::default();
    let target = problems.field(target_url("target_url", &input.target_url));
    let events = problems.check(event_filter(&input.events)).map(|events| {
        let every = current.is_some_and(|w| w.events.is_all());
        if input.spec_list_is_every_event && every && spec_events::is_spec_list(&events) {
            EventFilter::all()
        } else {
            events
        }
    });
    let headers = match (&input.headers, current) {
        (Some(headers), _) => headers_map(headers),
        (None, Some(current)) => current.headers.clone(),
        (None, None) => BTreeMap::new(),
    };
    let public = problems.field(public_headers(
        input.public_headers.as_deref(),
        &headers,
        current,
    ));
    let description = problems.field(text::description(
        input.description,
        current.and_then(|w| w.description.clone()),
    ));
    let fields = target.zip(events).zip(public).zip(description).map(
        |(((target, events), public_headers), description)| WebhookFields {
            target_url: target,
            events,
            active: input.active.or(current.map(|w| w.active)).unwrap_or(true),
            headers,
            public_headers,
            description,
        },
    );
    problems.finish_with(fields)
}

/// The project's webhooks.
pub async fn list(state: &AppState, project: &Project) -> Result<Vec<Webhook>, OpsError> {
    state
        .store
        .list_webhooks(&project.id)
        .await
        .map_err(|e| not_found_as(e, "project", project.id.as_str()))
}

/// The webhook named by `raw_id` in `project`; malformed or foreign ids are not found.
pub async fn get(state: &AppState, project: &Project, raw_id: &str) -> Result<Webhook, OpsError> {
    let id = WebhookId::parse(raw_id).map_err(|_| OpsError::not_found("webhook", raw_id))?;
    state
        .store
        .get_webhook(&project.id, &id)
        .await
        .map_err(|e| not_found_as(e, "webhook", raw_id))
}

/// Checks `input` and creates the webhook.
pub async fn create(
    state: &AppState,
    project: &Project,
    input: WebhookInput,
) -> Result<Webhook, OpsError> {
    let fields = fields(input, None)?;
    let quota = state.config.limits.webhooks_per_project;
    let webhook = state
        .store
        .create_webhook_within(&project.id, fields, quota)
        .await
        .map_err(|e| creation_refused(e, "max_webhooks_per_project", project))?;
    tracing::info!(project.id = %project.id, webhook.id = %webhook.id, "webhook created");
    Ok(webhook)
}

/// Checks `input` and replaces the webhook named by `raw_id` with it.
pub async fn update(
    state: &AppState,
    project: &Project,
    raw_id: &str,
    input: WebhookInput,
) -> Result<Webhook, OpsError> {
    let current = get(state, project, raw_id).await?;
    let fields = fields(input, Some(&current))?;
    let webhook = state
        .store
        .update_webhook(&project.id, &current.id, fields)
        .await
        .map_err(|e| not_found_as(e, "webhook", raw_id))?;
    tracing::info!(project.id = %project.id, webhook.id = %webhook.id, "webhook updated");
    Ok(webhook)
}

/// What [`recover`] did.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub webhook: Webhook,
    /// The earliest creation time of the failed send outs made due again.
    pub since: Timestamp,
    pub requeued: u64,
}

/// Turns the webhook named by `raw_id` on and makes every failed send out of it created at or
/// after `since` due again now, so nothing that failed while it was off is left behind.
/// Without `since`: from when it was turned off (`disabled_at`, or its last change for one a
/// person turned off) less the retry window, the longest a send out stays open, which
/// reaches back to the send out whose retries ran out.
pub async fn recover(
    state: &AppState,
    project: &Project,
    raw_id: &str,
    since: Option<&str>,
) -> Result<Recovered, OpsError> {
    let since =
        crate::ops::sendouts::timestamp("since", since).map_err(|e| OpsError::Invalid(vec![e]))?;
    let current = get(state, project, raw_id).await?;
    let since = since.unwrap_or_else(|| {
        let window = state
            .config
            .retry
            .offsets_from_first()
            .last()
            .copied()
            .unwrap_or_default()
            .saturating_add(state.config.lease);
        let off = current.disabled_at.unwrap_or(current.updated_at);
        off.plus_millis(-i64::try_from(window.as_millis()).unwrap_or(i64::MAX))
    });
    let fields = WebhookFields {
        target_url: current.target_url.clone(),
        events: current.events.clone(),
        active: true,
        headers: current.headers.clone(),
        public_headers: current.public_headers.clone(),
        description: current.description.clone(),
    };
    let webhook = state
        .store
        .update_webhook(&project.id, &current.id, fields)
        .await
        .map_err(|e| not_found_as(e, "webhook", raw_id))?;
    let requeued = state
        .store
        .requeue_failed(
            &project.id,
            &SourceId::Webhook(webhook.id.clone()),
            since,
            Timestamp::now(),
        )
        .await?;
    tracing::info!(project.id = %project.id, webhook.id = %webhook.id, requeued, "webhook recovered");
    Ok(Recovered {
        webhook,
        since,
        requeued,
    })
}

/// Deletes the webhook named by `raw_id` (its send outs stay in the audit log); answers what
/// it was.
pub async fn delete(
    state: &AppState,
    project: &Project,
    raw_id: &str,
) -> Result<Webhook, OpsError> {
    let webhook = get(state, project, raw_id).await?;
    state
        .store
        .delete_webhook(&project.id, &webhook.id)
        .await
        .map_err(|e| not_found_as(e, "webhook", raw_id))?;
    tracing::info!(project.id = %project.id, webhook.id = %webhook.id, "webhook deleted");
    Ok(webhook)
}
