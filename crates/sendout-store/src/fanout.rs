//! Where an event becomes send outs: the pure plan of what ingest inserts, in the same
//! transaction as the event itself (PRODUCT §4 "Fan-out").
//!
//! [`plan_all`] decides, for the events of one ingest call and everything their project could
//! deliver them to, which send outs to create ([`plan`] does it for one event). It does no
//! I/O: the store loads the targets inside its write transaction and inserts what the plan
//! returns, so the plan is always made against the targets as they are at commit time.
//!
//! Bounds ([`Limits`], the deployment's): the send outs are counted before any body is built,
//! and a call past `send_outs_per_event` or `send_outs_per_request` gets none
//! ([`TooManySendOuts`]: the store writes nothing of it). A channel whose payload renders
//! longer than `rendered_payload_bytes` gets a send out `FAILED` at once, without a body
//! ([`SendOut::unsendable`]); rendering stops at the bound.
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
use sendout_core::template::TooLarge;
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

/// The bounds of one ingest call's fan-out, the deployment's (docs/OPERATIONS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most send outs one event may make.
    pub send_outs_per_event: usize,
    /// Most send outs one ingest call (a batch) may make.
    pub send_outs_per_request: usize,
    /// Longest rendered payload of a distribution channel, in bytes: a longer one is not
    /// sent (its send out is made `FAILED` with the reason, see [`plan`]).
    pub rendered_payload_bytes: usize,
}

impl Default for Limits {
    /// The documented defaults: 1,000 send outs per event, 50,000 per call, 1 MiB payloads.
    fn default() -> Self {
        Self {
            send_outs_per_event: 1_000,
            send_outs_per_request: 50_000,
            rendered_payload_bytes: 1024 * 1024,
        }
    }
}

/// Why an ingest call makes no send outs at all: its fan-out is larger than [`Limits`]
/// allow. Nothing of the call is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooManySendOuts {
    /// One event would make more send outs than `send_outs_per_event`.
    #[error(
        "{field} would make {count} send outs; at most {limit} are allowed per event \
         (the project's matching webhooks and live distributions' channels)"
    )]
    PerEvent {
        /// The event, as a field of the request (`events[3]`, or `event` alone).
        field: String,
        count: usize,
        limit: usize,
    },
    /// The call's events together would make more than `send_outs_per_request`.
    #[error(
        "the request would make {count} send outs; at most {limit} are allowed per request; \
         send fewer events at a time"
    )]
    PerRequest { count: usize, limit: usize },
}

/// What one event reaches, before any body is made: cheap to count.
struct Reach<'e, 't> {
    event: &'e NewEvent,
    webhooks: Vec<&'t Webhook>,
    /// The live distributions whose trigger matches, with the event's data they read.
    distributions: Vec<&'t Distribution>,
    value: Value,
}

impl Reach<'_, '_> {
    fn count(&self) -> usize {
        self.webhooks.len()
            + self
                .distributions
                .iter()
                .map(|d| d.spec.channels().len())
                .sum::<usize>()
    }
}

/// The send outs of a whole ingest call, per event in order, or why none may be made: the
/// send outs are counted first, against `limits`, before any body is built.
pub fn plan_all(
    project_id: &ProjectId,
    events: &[NewEvent],
    targets: Targets<'_>,
    now: Timestamp,
    limits: &Limits,
) -> Result<Vec<Vec<SendOut>>, TooManySendOuts> {
    let reaches: Vec<Reach<'_, '_>> = events.iter().map(|e| reach(e, targets)).collect();
    let mut total = 0usize;
    for (i, reach) in reaches.iter().enumerate() {
        let count = reach.count();
        if count > limits.send_outs_per_event {
            let field = if events.len() == 1 {
                "the event".to_owned()
            } else {
                format!("events[{i}]")
            };
            return Err(TooManySendOuts::PerEvent {
                field,
                count,
                limit: limits.send_outs_per_event,
            });
        }
        total += count;
    }
    if total > limits.send_outs_per_request {
        return Err(TooManySendOuts::PerRequest {
            count: total,
            limit: limits.send_outs_per_request,
        });
    }
    Ok(reaches
        .into_iter()
        .map(|reach| make(project_id, &reach, now, limits.rendered_payload_bytes))
        .collect())
}

/// The send outs one event makes: webhooks first, then distributions' channels, each in the
/// order given. A channel whose rendered payload is longer than `limits` allows gets a send
/// out that is `FAILED` at once with the reason and no body, and is never sent
/// ([`SendOut::unsendable`]): one bad template must not stop the event, nor its other
/// targets' deliveries. The per-event and per-call counts are [`plan_all`]'s.
pub fn plan(
    project_id: &ProjectId,
    event: &NewEvent,
    targets: Targets<'_>,
    now: Timestamp,
    limits: &Limits,
) -> Vec<SendOut> {
    make(
        project_id,
        &reach(event, targets),
        now,
        limits.rendered_payload_bytes,
    )
}

fn reach<'e, 't>(event: &'e NewEvent, targets: Targets<'t>) -> Reach<'e, 't> {
    let webhooks = to_webhooks_matching(event, targets.webhooks);
    let (distributions, value) = to_distributions_matching(event, targets.distributions);
    Reach {
        event,
        webhooks,
        distributions,
        value,
    }
}

fn make(
    project_id: &ProjectId,
    reach: &Reach<'_, '_>,
    now: Timestamp,
    limit: usize,
) -> Vec<SendOut> {
    let mut planned: Vec<SendOut> = reach
        .webhooks
        .iter()
        .map(|webhook| webhook_send_out(project_id, reach.event, webhook, now))
        .collect();
    planned.extend(channel_send_outs(
        project_id,
        reach.event,
        &reach.distributions,
        &reach.value,
        now,
        limit,
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
/// the event matches, due at once, with the channel's URL, headers and designed body (or
/// `FAILED` without one, when the payload is longer than `limit` bytes).
pub fn to_distributions(
    project_id: &ProjectId,
    event: &NewEvent,
    distributions: &[Distribution],
    now: Timestamp,
    limit: usize,
) -> Vec<SendOut> {
    let (matching, value) = to_distributions_matching(event, distributions);
    channel_send_outs(project_id, event, &matching, &value, now, limit)
}

/// The live distributions whose trigger the event fires, and its data parsed for them
/// (`null` when none may want it).
fn to_distributions_matching<'t>(
    event: &NewEvent,
    distributions: &'t [Distribution],
) -> (Vec<&'t Distribution>, Value) {
    let candidates: Vec<&Distribution> = distributions
        .iter()
        .filter(|d| {
            d.status == DistributionStatus::Live && d.spec.trigger().event() == event.event_type
        })
        .collect();
    if candidates.is_empty() || !is_trigger(&event.event_type) {
        return (Vec::new(), Value::Null);
    }
    // Parsed once per event, only when some distribution may want it. The text is valid JSON
    // (it is a `RawValue`), so the fallback is never taken.
    let value: Value = serde_json::from_str(event.data.get()).unwrap_or(Value::Null);
    let matching = candidates
        .into_iter()
        .filter(|d| d.spec.matches(&event.event_type, &value))
        .collect();
    (matching, value)
}

fn channel_send_outs(
    project_id: &ProjectId,
    event: &NewEvent,
    distributions: &[&Distribution],
    value: &Value,
    now: Timestamp,
    limit: usize,
) -> Vec<SendOut> {
    let data = EventData {
        raw: &event.data,
        value,
    };
    let event_ref = event_ref(event);
    let mut planned = Vec::new();
    for distribution in distributions {
        for (index, channel) in distribution.spec.channels().iter().enumerate() {
            let id = SendOutId::new();
            let context = SendOutContext {
                send_out_id: &id,
                project_id,
                distribution_id: &distribution.id,
                created_at: now,
            };
            let body = channel.body(context, &event_ref, data, limit);
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let send_out = SendOut::to_channel(
                id,
                project_id,
                &distribution.id,
                (index, channel),
                &event_ref,
                body.as_ref().map_or_else(|_| String::new(), Clone::clone),
                now,
            );
            planned.push(match body {
                Ok(_) => send_out,
                Err(too_large) => send_out.unsendable(unsendable_reason(too_large)),
            });
        }
    }
    planned
}

/// The failure reason of a channel's send out whose payload was too long to make.
fn unsendable_reason(too_large: TooLarge) -> String {
    format!(
        "not sent: {too_large} (max_rendered_payload_bytes); the channel's payload design \
         renders more than that for this event"
    )
}

/// One send out per active webhook subscribed to the event's type (or to `"*"`), due at once.
pub fn to_webhooks(
    project_id: &ProjectId,
    event: &NewEvent,
    webhooks: &[Webhook],
    now: Timestamp,
) -> Vec<SendOut> {
    to_webhooks_matching(event, webhooks)
        .into_iter()
        .map(|webhook| webhook_send_out(project_id, event, webhook, now))
        .collect()
}

/// The active webhooks subscribed to the event's type (or to `"*"`).
fn to_webhooks_matching<'t>(event: &NewEvent, webhooks: &'t [Webhook]) -> Vec<&'t Webhook> {
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
        .collect()
}

fn webhook_send_out(
    project_id: &ProjectId,
    event: &NewEvent,
    webhook: &Webhook,
    now: Timestamp,
) -> SendOut {
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
            public_headers: Default::default(),
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
            &Limits::default(),
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
            &Limits::default(),
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
            &Limits::default(),
        );
        assert!(planned.is_empty());
    }
}
