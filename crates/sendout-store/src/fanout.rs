//! Where an event becomes send outs: the pure plan of what ingest inserts, in the same
//! transaction as the event itself (PRODUCT §4 "Fan-out").
//!
//! [`plan`] decides, for one event and everything its project could deliver it to, which send
//! outs to create. It does no I/O: the store loads the targets inside its write transaction
//! and inserts what the plan returns, so the plan is always made against the targets as they
//! are at commit time.
//!
//! Every planned send out carries its final body (built once, by
//! [`sendout_core::envelope::build`] or, for a distribution channel, by
//! [`sendout_core::distribution::WebhookChannel::body`]), so every retry sends the same bytes
//! with the same `id`. Each send out is made by its kind's constructor ([`SendOut::to_webhook`],
//! [`SendOut::to_channel`]).
//!
//! Channels are separate: project-settings webhooks get only project-settings types
//! ([`to_webhooks`]), distributions only their triggers ([`to_distributions`]); a type in both
//! (`customer.rewarded`, …) goes to both.

use std::collections::BTreeSet;

use sendout_core::catalog::{catalog, Channel};
use sendout_core::envelope::{self, EventRef, SourceRef};
use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;

use sendout_core::distribution::{is_trigger, DistributionStatus, EventData, SendOutContext};
use serde_json::Value;

use crate::model::{Distribution, NewEvent, SendOut, Webhook};

/// Everything an event of a project may fan out to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Targets<'a> {
    /// The project's webhooks, active or not (inactive ones are skipped here).
    pub webhooks: &'a [Webhook],
    /// The project's distributions, whatever their status (only live ones fan out).
    pub distributions: &'a [Distribution],
}

/// The send outs one event makes: webhooks first, then distributions' channels, each in the
/// order given.
pub fn plan(
    project_id: &ProjectId,
    event: &NewEvent,
    targets: Targets<'_>,
    now: Timestamp,
) -> Vec<SendOut> {
    let mut planned = to_webhooks(project_id, event, targets.webhooks, now);
    planned.extend(to_distributions(
        project_id,
        event,
        targets.distributions,
        now,
    ));
    planned
}

/// The distinct types among `events` that can trigger distributions, sorted: what ingest
/// loads live distributions for (a batch of project-settings events loads none).
pub fn trigger_types<'e>(events: impl IntoIterator<Item = &'e NewEvent>) -> Vec<&'e str> {
    let types: BTreeSet<&str> = events
        .into_iter()
        .map(|event| event.event_type.as_str())
        .filter(|event_type| is_trigger(event_type))
        .collect();
    types.into_iter().collect()
}

/// One send out per channel of every live distribution whose trigger (type and condition)
/// the event matches, due at once, with the channel's URL, headers and designed body.
pub fn to_distributions(
    project_id: &ProjectId,
    event: &NewEvent,
    distributions: &[Distribution],
    now: Timestamp,
) -> Vec<SendOut> {
    let candidates: Vec<&Distribution> = distributions
        .iter()
        .filter(|d| {
            d.status == DistributionStatus::Live && d.spec.trigger().event() == event.event_type
        })
        .collect();
    if candidates.is_empty() || !is_trigger(&event.event_type) {
        return Vec::new();
    }
    // Parsed once per event, only when some distribution may want it. The text is valid JSON
    // (it is a `RawValue`), so the fallback is never taken.
    let value: Value = serde_json::from_str(event.data.get()).unwrap_or(Value::Null);
    let data = EventData {
        raw: &event.data,
        value: &value,
    };
    let event_ref = event_ref(event);
    let mut planned = Vec::new();
    for distribution in candidates {
        if !distribution.spec.matches(&event.event_type, &value) {
            continue;
        }
        for (index, channel) in distribution.spec.channels().iter().enumerate() {
            let id = SendOutId::new();
            let context = SendOutContext {
                send_out_id: &id,
                project_id,
                distribution_id: &distribution.id,
                created_at: now,
            };
            let body = channel.body(context, &event_ref, data);
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            planned.push(SendOut::to_channel(
                id,
                project_id,
                &distribution.id,
                (index, channel),
                &event_ref,
                body,
                now,
            ));
        }
    }
    planned
}

/// One send out per active webhook subscribed to the event's type (or to `"*"`), due at once.
pub fn to_webhooks(
    project_id: &ProjectId,
    event: &NewEvent,
    webhooks: &[Webhook],
    now: Timestamp,
) -> Vec<SendOut> {
    // Project-settings webhooks, even `["*"]` ones, get only project-settings events;
    // distribution-only triggers (`customer.segment.entered`, …) feed distributions alone.
    let for_webhooks = catalog()
        .get(&event.event_type)
        .is_some_and(|t| t.is_in(Channel::ProjectSettings));
    if !for_webhooks {
        return Vec::new();
    }
    webhooks
        .iter()
        .filter(|webhook| webhook.active && webhook.events.matches(&event.event_type))
        .map(|webhook| {
            let id = SendOutId::new();
            let source = SourceRef::webhook(&webhook.id, webhook.target_url.as_str());
            let cause = event_ref(event);
            let body = envelope::build(
                &id,
                project_id,
                now,
                &event.event_type,
                &event.data,
                &source,
                &cause,
            );
            SendOut::to_webhook(id, project_id, webhook, &cause, body, now)
        })
        .collect()
}

/// The `event` object of an envelope, borrowed from the stored event.
fn event_ref(event: &NewEvent) -> EventRef<'_> {
    EventRef {
        id: &event.id,
        event_type: &event.event_type,
        created_at: event.created_at,
        entity_id: event.entity_id.as_deref(),
        group_id: &event.group_id,
        event_source: &event.event_source,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sendout_core::ids::{EventId, GroupId, WebhookId};
    use sendout_core::input::{EventFilter, TargetUrl};

    use crate::model::{SendOutStatus, SourceId};
    use serde_json::value::RawValue;
    use serde_json::Value;

    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("valid json")
    }

    fn event(event_type: &str) -> NewEvent {
        NewEvent {
            id: EventId::new(event_type),
            event_type: event_type.to_owned(),
            data: raw(r#"{"voucher":{"code":"ABC"}}"#),
            entity_id: Some("v_1".to_owned()),
            group_id: GroupId::new(),
            event_source: raw(r#"{"channel":"API"}"#),
            created_at: Timestamp::from_millis(1_704_107_471_111),
        }
    }

    fn webhook(project: &ProjectId, events: &[&str], active: bool) -> Webhook {
        let at = Timestamp::from_millis(1_704_000_000_000);
        Webhook {
            id: WebhookId::new(),
            project_id: project.clone(),
            target_url: TargetUrl::parse(&format!("https://example.com/{}", WebhookId::new()))
                .expect("a valid URL"),
            events: EventFilter::parse(events).expect("a valid filter"),
            active,
            headers: BTreeMap::from([("x-key".to_owned(), "abc".to_owned())]),
            description: None,
            disabled_reason: None,
            disabled_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn targets(webhooks: &[Webhook]) -> Targets<'_> {
        Targets {
            webhooks,
            distributions: &[],
        }
    }

    #[test]
    fn an_event_goes_only_to_active_webhooks_subscribed_to_its_type_or_to_all() {
        let project = ProjectId::new();
        let webhooks = vec![
            webhook(&project, &["voucher.published"], true),
            webhook(&project, &["*"], true),
            webhook(&project, &["voucher.published"], false),
            webhook(&project, &["redemption.succeeded"], true),
            webhook(&project, &["*"], false),
        ];
        let now = Timestamp::from_millis(1_704_107_500_000);
        let planned = plan(
            &project,
            &event("voucher.published"),
            targets(&webhooks),
            now,
        );
        let sources: Vec<&str> = planned.iter().map(|s| s.source_id.as_str()).collect();
        assert_eq!(
            sources,
            vec![webhooks[0].id.as_str(), webhooks[1].id.as_str()]
        );
    }

    #[test]
    fn a_planned_send_out_is_pending_due_now_and_carries_the_webhooks_target_and_headers() {
        let project = ProjectId::new();
        let hook = webhook(&project, &["*"], true);
        let ev = event("voucher.published");
        let now = Timestamp::from_millis(1_704_107_500_000);
        let planned = to_webhooks(&project, &ev, std::slice::from_ref(&hook), now);
        assert_eq!(planned.len(), 1);
        let send_out = &planned[0];
        assert_eq!(send_out.project_id, project);
        assert_eq!(send_out.event_id.as_ref(), Some(&ev.id));
        assert_eq!(send_out.status, SendOutStatus::Pending);
        assert_eq!(send_out.next_attempt_at, Some(now));
        assert_eq!(send_out.attempts, 0);
        assert_eq!(send_out.source_id, SourceId::Webhook(hook.id.clone()));
        assert_eq!(send_out.target_url, hook.target_url.as_str());
        assert_eq!(send_out.headers, hook.headers);
        assert_eq!(send_out.envelope_type, "voucher.published");
        assert_eq!(send_out.event_type, "voucher.published");
        assert_eq!(send_out.group_id.as_deref(), Some(ev.group_id.as_str()));
        assert_eq!(send_out.event_created_at, Some(ev.created_at));
        assert_eq!(send_out.created_at, now);
        assert!(!send_out.is_test);
    }

    #[test]
    fn the_body_is_the_documented_envelope_with_the_send_outs_own_id() {
        let project = ProjectId::new();
        let hook = webhook(&project, &["voucher.published"], true);
        let ev = event("voucher.published");
        let now = Timestamp::from_millis(1_704_107_500_000);
        let planned = to_webhooks(&project, &ev, std::slice::from_ref(&hook), now);
        let body: Value = serde_json::from_str(&planned[0].body).expect("body is json");
        assert_eq!(body["id"], planned[0].id.as_str());
        assert_eq!(body["project_id"], project.as_str());
        assert_eq!(body["type"], "voucher.published");
        assert_eq!(body["created_at"], now.to_string());
        assert_eq!(body["data"]["voucher"]["code"], "ABC");
        assert_eq!(body["source"]["id"], hook.id.as_str());
        assert_eq!(body["source"]["object"], "webhook");
        assert_eq!(body["source"]["target_url"], hook.target_url.as_str());
        assert_eq!(body["event"]["id"], ev.id.as_str());
        assert_eq!(body["event"]["type"], "voucher.published");
        assert_eq!(body["event"]["entity_id"], "v_1");
        assert_eq!(body["event"]["group_id"], ev.group_id.as_str());
        assert_eq!(body["event"]["event_source"]["channel"], "API");
        assert!(!planned[0].body.contains(' '), "the body is compact");
    }

    #[test]
    fn distribution_only_triggers_never_reach_webhooks_even_those_for_all_events() {
        let project = ProjectId::new();
        let hook = webhook(&project, &["*"], true);
        let planned = to_webhooks(
            &project,
            &event("customer.segment.entered"),
            &[hook],
            Timestamp::now(),
        );
        assert!(planned.is_empty());
    }

    #[test]
    fn every_send_out_gets_its_own_id() {
        let project = ProjectId::new();
        let webhooks: Vec<Webhook> = (0..5).map(|_| webhook(&project, &["*"], true)).collect();
        let planned = plan(
            &project,
            &event("redemption.succeeded"),
            targets(&webhooks),
            Timestamp::now(),
        );
        let mut ids: Vec<&SendOutId> = planned.iter().map(|s| &s.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn no_webhooks_means_no_send_outs() {
        let project = ProjectId::new();
        let planned = plan(
            &project,
            &event("voucher.published"),
            Targets::default(),
            Timestamp::now(),
        );
        assert!(planned.is_empty());
    }
}
