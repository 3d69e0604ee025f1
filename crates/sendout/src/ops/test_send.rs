//! "Send test webhook" (PRODUCT §4): one delivery of a catalog example, made now, kept in the
//! audit log marked `is_test`, for a URL before any webhook exists or for an existing
//! webhook with its URL and headers, active or not.
//!
//! Invariants: a test is signed and shaped exactly like a real delivery (the same envelope,
//! a fresh sample event id, `event.event_source.channel` `INTERNAL`); it is attempted once and
//! never retried; its failure never disables a webhook. A test made before the webhook exists
//! has `source.id` [`UNSAVED_WEBHOOK_ID`]; a test of an existing webhook (by its route, or
//! from its edit form) has that webhook's id.

use std::collections::BTreeMap;

use sendout_core::catalog::{catalog, EventType};
use sendout_core::envelope::{self, EventRef, SourceObject, SourceRef};
use sendout_core::field::FieldError;
use sendout_core::ids::{EventId, GroupId, SendOutId};
use sendout_core::input::CustomHeaders;
use sendout_core::time::Timestamp;
use sendout_store::{Attempt, Next, Project, SendOut, SendOutStatus, SourceId, Webhook};
use serde_json::json;
use serde_json::value::RawValue;

use crate::ops::preview::given_data;
use crate::ops::{webhooks, AppState, OpsError};

/// The `source.id` of a test made before its webhook exists.
pub const UNSAVED_WEBHOOK_ID: &str = SourceId::UNSAVED_WEBHOOK;
/// The type tested when none is chosen and the webhook takes every event.
pub const DEFAULT_TEST_TYPE: &str = "voucher.published";

/// The catalog entry of `name` (accepting the documented misspellings), or unprocessable,
/// naming `field`.
pub fn known_type(name: &str, field: &str) -> Result<&'static EventType, OpsError> {
    catalog().get(name).ok_or_else(|| OpsError::Unprocessable {
        key: "unknown_event_type",
        errors: vec![FieldError::at(
            field,
            format!(
                "`{}` is not a known event type; GET /v1/event-types lists them all",
                name.chars().take(128).collect::<String>()
            ),
        )],
    })
}

/// The request group of a test: the request's own id when it is one, or a fresh one.
pub fn request_group(request_id: Option<&str>) -> GroupId {
    request_id
        .and_then(|v| GroupId::parse(v).ok())
        .unwrap_or_default()
}

/// A test of a URL that is not (yet) a webhook, unchecked: the URL, the type whose example
/// is sent ([`DEFAULT_TEST_TYPE`] when absent), the data to send instead of the example, and
/// the custom headers sent along.
#[derive(Debug, Clone, Default)]
pub struct UrlTest {
    pub target_url: String,
    pub event_type: Option<String>,
    pub data: Option<Box<RawValue>>,
    pub headers: Option<CustomHeaders>,
}

/// The data a test sends: the given object, or the type's example. A type without an
/// example (no public schema or example to build one from) needs the data given: it is
/// unprocessable without, and nothing is sent, rather than a silent `{}`.
pub fn test_data(
    event_type: &EventType,
    given: Option<&RawValue>,
) -> Result<Box<RawValue>, OpsError> {
    match (given, event_type.example_data()) {
        (Some(raw), _) => given_data(raw),
        (None, Some(example)) => Ok(envelope::compact(example)),
        (None, None) => Err(OpsError::Unprocessable {
            key: "test_data_required",
            errors: vec![FieldError::at(
                "data",
                format!(
                    "`{}` has no example to send (Voucherify publishes no schema or example \
                     of it); give the event's data to test with",
                    event_type.name()
                ),
            )],
        }),
    }
}

/// What the test delivery did.
#[derive(Debug, Clone)]
pub struct Tested {
    /// The test's entry in the audit log.
    pub send_out_id: SendOutId,
    pub succeeded: bool,
    pub event_type: String,
    pub target_url: String,
    /// The one attempt, if one was made.
    pub attempt: Option<Attempt>,
    /// Why the test failed, when it did and the attempt does not say.
    pub failure: Option<String>,
}

impl Tested {
    /// Why it failed: the attempt's error, or the failure's reason.
    pub fn error(&self) -> Option<String> {
        self.attempt
            .as_ref()
            .and_then(|a| a.error.clone())
            .or_else(|| self.failure.clone())
    }

    /// Where the test ended: `Succeeded` or `Failed` (it is tried once).
    pub fn status(&self) -> SendOutStatus {
        if self.succeeded {
            SendOutStatus::Succeeded
        } else {
            SendOutStatus::Failed
        }
    }
}

/// Where and what a test sends.
struct Test<'a> {
    project: &'a Project,
    source_id: SourceId,
    target_url: String,
    headers: BTreeMap<String, String>,
    type_name: String,
    data: Option<Box<RawValue>>,
    group_id: GroupId,
}

/// Builds the test send out, attempts it once and records it.
async fn run(state: &AppState, test: Test<'_>) -> Result<Tested, OpsError> {
    let event_type = known_type(&test.type_name, "event_type")?;
    let name = event_type.name();
    let data = test_data(event_type, test.data.as_deref())?;
    let event_source = envelope::compact(&json!({"channel": "INTERNAL"}));
    let (id, event_id, now) = (SendOutId::new(), EventId::new(name), Timestamp::now());
    let source = SourceRef {
        id: test.source_id.as_str(),
        object: SourceObject::Webhook,
        target_url: &test.target_url,
    };
    let event = EventRef {
        id: &event_id,
        event_type: name,
        created_at: now,
        entity_id: None,
        group_id: &test.group_id,
        event_source: &event_source,
    };
    let body = envelope::build(&id, &test.project.id, now, name, &data, &source, &event);
    let target = (test.target_url.clone(), test.headers);
    let send_out = SendOut::test_send(
        id.clone(),
        &test.project.id,
        test.source_id,
        target,
        &event,
        body,
        now,
    );
    let mut claim = state
        .store
        .insert_send_out(send_out, state.config.lease)
        .await?;
    // A test goes out whether or not the webhook is active (or exists yet).
    claim.target_active = true;
    let mut completion = state.deliverer.attempt_manual(&claim).await;
    completion.next = once_only(completion.next, completion.attempt.as_ref());
    let completion = attempt_recorded(state, completion).await?;
    tracing::info!(project.id = %test.project.id, sendout.id = %id, "test webhook sent");

    let succeeded = completion.next == Next::Succeeded;
    let failure = match &completion.next {
        Next::Failed { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    Ok(Tested {
        send_out_id: id,
        succeeded,
        event_type: name.to_owned(),
        target_url: test.target_url,
        attempt: completion.attempt,
        failure,
    })
}

/// A test is tried once: a failure ends it (no retry) and never disables the webhook.
fn once_only(next: Next, attempt: Option<&Attempt>) -> Next {
    match next {
        Next::Succeeded => Next::Succeeded,
        Next::Failed { reason, .. } => Next::Failed {
            reason,
            disable_target: false,
        },
        Next::RetryAt(_) => Next::Failed {
            reason: attempt
                .and_then(|a| {
                    a.error.clone().or_else(|| {
                        a.response_status
                            .map(|s| format!("the receiver answered {s}"))
                    })
                })
                .unwrap_or_else(|| "the test delivery failed".to_owned()),
            disable_target: false,
        },
    }
}

async fn attempt_recorded(
    state: &AppState,
    completion: sendout_store::Completion,
) -> Result<sendout_store::Completion, OpsError> {
    state.store.complete(vec![completion.clone()]).await?;
    Ok(completion)
}

/// Sends a catalog example to a URL once, stamped with `source_id`: [`SourceId::UnsavedWebhook`]
/// before the webhook exists, the webhook's own id when a form edits one (its URL and headers
/// may be changed and not yet saved, yet the test is still that webhook's).
pub async fn test_url(
    state: &AppState,
    project: &Project,
    source_id: SourceId,
    input: UrlTest,
    group_id: GroupId,
) -> Result<Tested, OpsError> {
    let url = webhooks::target_url("target_url", &input.target_url)
        .map_err(|e| OpsError::Invalid(vec![e]))?;
    let test = Test {
        project,
        source_id,
        target_url: url.as_str().to_owned(),
        headers: input
            .headers
            .map(|h| {
                h.iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.as_str().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        type_name: input
            .event_type
            .unwrap_or_else(|| DEFAULT_TEST_TYPE.to_owned()),
        data: input.data,
        group_id,
    };
    run(state, test).await
}

/// Sends a catalog example (or `data`) to `webhook` once (active or not): of `event_type`,
/// or the webhook's first event.
pub async fn test_webhook(
    state: &AppState,
    project: &Project,
    webhook: Webhook,
    (event_type, data): (Option<String>, Option<Box<RawValue>>),
    group_id: GroupId,
) -> Result<Tested, OpsError> {
    let type_name = event_type.unwrap_or_else(|| {
        webhook
            .events
            .event_types()
            .first()
            .map_or(DEFAULT_TEST_TYPE, |e| *e)
            .to_owned()
    });
    let test = Test {
        project,
        source_id: SourceId::Webhook(webhook.id),
        target_url: webhook.target_url.to_string(),
        headers: webhook.headers,
        type_name,
        data,
        group_id,
    };
    run(state, test).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_test_is_never_retried_nor_disables_the_webhook() {
        let next = once_only(
            Next::Failed {
                reason: "410 Gone".into(),
                disable_target: true,
            },
            None,
        );
        assert_eq!(
            next,
            Next::Failed {
                reason: "410 Gone".into(),
                disable_target: false
            }
        );
        let retry = once_only(Next::RetryAt(Timestamp::now()), None);
        assert!(matches!(
            retry,
            Next::Failed {
                disable_target: false,
                ..
            }
        ));
    }
}
