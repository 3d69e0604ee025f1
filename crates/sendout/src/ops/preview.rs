//! The payload designer's preview: a distribution channel's request for a trigger, rendered
//! exactly as it would be sent, without storing anything.
//!
//! Invariants: the body comes from [`WebhookChannel::body`], the function fan-out uses, with
//! the event's data compacted as ingest compacts it; the headers come from the delivery
//! client's own header builder, plus `user-agent`. The signatures are made over this very
//! body, but never with the project's secret: the caller chooses the body (a raw template
//! makes it anything), so a preview signed with the real secret would sign whatever an app
//! key holder asked, and receivers would take it as sendout's. They are made with
//! [`PREVIEW_SIGNING_SECRET`], a published key that no project has, so a receiver's
//! verifier can still be tried on a preview by giving it that key.
//!
//! Decisions (docs/DISTRIBUTIONS.md): without `data`, the trigger's catalog example is used
//! (`{}` for a trigger without a public example), without the keys only other actions get
//! when the action is given; ids in the body are valid placeholders made
//! of zeros (`whs_000…`, `distr_000…`, `evcus_000…`, `v-000…`), the project id is the
//! caller's, both times are now, `entity_id` is `null` and `event_source` is
//! `{"channel":"INTERNAL"}`, as in Voucherify's own sample output.

use std::collections::BTreeMap;

use sendout_core::distribution::{
    check_action, parse_action, ChannelInput, EventData, SendOutContext, TriggerInput,
    WebhookChannel,
};
use sendout_core::envelope::{self, minify, EventRef};
use sendout_core::field::FieldError;
use sendout_core::ids::{DistributionId, EventId, GroupId, SendOutId};
use sendout_core::time::Timestamp;
use sendout_store::{Claim, Project, SendOut, SigningSecrets};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::delivery::client::request_headers;
use crate::delivery::USER_AGENT;
use crate::ops::distributions::distribution_error;
use crate::ops::{AppState, OpsError};

/// The key a preview's signatures are made with instead of the project's secret, used as a
/// webhook token is (both schemes derive their keys from it as from a real one). It is
/// public and no project's: a signature made with it proves nothing to a receiver.
pub const PREVIEW_SIGNING_SECRET: &str = "preview_not_a_signing_secret_0000000000";

/// A channel's request, exactly as it would be sent.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Every header sendout sends, signatures included, and the channel's custom headers.
    pub headers: BTreeMap<String, String>,
    /// The exact body text.
    pub body: String,
    /// Whether an event with this data fires the trigger (its condition matches).
    pub matches: bool,
}

/// What to preview: a channel for a trigger, with the event's data or the catalog example.
#[derive(Debug, Clone)]
pub struct PreviewInput {
    pub trigger: TriggerInput,
    /// Checked as a distribution's channel, named `channel`.
    pub channel: ChannelInput,
    /// The distribution's action, if known: the channel is then checked for it as on save.
    pub action: Option<String>,
    /// The event's `data` (an object); the trigger's catalog example when absent.
    pub data: Option<Box<RawValue>>,
}

/// The body of every placeholder id: a ULID of zeros.
const ZEROS: &str = "00000000000000000000000000";

/// The placeholder ids of a preview.
struct Placeholders {
    send_out: SendOutId,
    distribution: DistributionId,
    event: EventId,
    group: GroupId,
}

impl Placeholders {
    fn for_trigger(trigger: &str) -> Result<Self, OpsError> {
        let broken = |e: sendout_core::ids::IdError| OpsError::Internal(e.to_string());
        Ok(Self {
            send_out: SendOutId::parse(&format!("{}{ZEROS}", SendOutId::PREFIX)).map_err(broken)?,
            distribution: DistributionId::parse(&format!("{}{ZEROS}", DistributionId::PREFIX))
                .map_err(broken)?,
            event: EventId::parse(&format!("ev{}_{ZEROS}", EventId::letters_for(trigger)))
                .map_err(broken)?,
            group: GroupId::parse(&format!("{}{ZEROS}", GroupId::PREFIX)).map_err(broken)?,
        })
    }
}

/// The event's data as ingest would keep it: the given object compacted, or the example.
fn event_data(
    given: Option<Box<RawValue>>,
    example: Option<&Value>,
) -> Result<Box<RawValue>, OpsError> {
    match given {
        Some(raw) => given_data(&raw),
        None => Ok(envelope::compact(example.unwrap_or(&json!({})))),
    }
}

/// Event data a person gave (to preview or to test with), as ingest would keep it: a JSON
/// object, compacted; anything else is invalid, naming `data`.
pub fn given_data(raw: &RawValue) -> Result<Box<RawValue>, OpsError> {
    if !raw.get().trim_start().starts_with('{') {
        return Err(OpsError::invalid("data", "must be a JSON object"));
    }
    RawValue::from_string(minify(raw.get()))
        .map_err(|e| OpsError::Internal(format!("minified JSON does not parse: {e}")))
}

/// Renders the channel's request for the trigger, for `project`, now, within the
/// deployment's limits: the channel is checked as a saved one is, and a payload longer than
/// `max_rendered_payload_bytes` is refused (422 `rendered_payload_too_large`) as soon as
/// rendering passes it, as fan-out would not send it.
pub fn preview(
    state: &AppState,
    project: &Project,
    input: PreviewInput,
) -> Result<Preview, OpsError> {
    let limits = &state.config.limits;
    let (trigger, event_type) = input.trigger.parse().map_err(|e| distribution_error(&e))?;
    let channel = input
        .channel
        .parse_within("channel", event_type, &limits.distribution)
        .map_err(|e| distribution_error(&e))?;
    let action = input
        .action
        .as_deref()
        .map(|action| {
            let action = parse_action(action, event_type)?;
            check_action(&channel, "channel", event_type, action)?;
            Ok(action)
        })
        .transpose()
        .map_err(|e| distribution_error(&e))?;
    let example = match action {
        Some(action) => event_type.example_data_for(action),
        None => event_type.example_data().cloned(),
    };
    let raw = event_data(input.data, example.as_ref())?;
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|e| OpsError::Internal(format!("compacted data does not parse: {e}")))?;
    let data = EventData {
        raw: &raw,
        value: &value,
    };
    let limit = limits.fan_out.rendered_payload_bytes;
    let rendered = render(
        project,
        &channel,
        (event_type.name(), data),
        Timestamp::now(),
        limit,
    )?;
    Ok(Preview {
        matches: trigger.matches(event_type.name(), &value),
        ..rendered
    })
}

/// The headers and body of `channel` for an event of `trigger` with `data`, at `now`, unless
/// its payload is longer than `limit` bytes.
fn render(
    project: &Project,
    channel: &WebhookChannel,
    (trigger, data): (&str, EventData<'_>),
    now: Timestamp,
    limit: usize,
) -> Result<Preview, OpsError> {
    let ids = Placeholders::for_trigger(trigger)?;
    let event_source = envelope::compact(&json!({"channel": "INTERNAL"}));
    let event = EventRef {
        id: &ids.event,
        event_type: trigger,
        created_at: now,
        entity_id: None,
        group_id: &ids.group,
        event_source: &event_source,
    };
    let context = SendOutContext {
        send_out_id: &ids.send_out,
        project_id: &project.id,
        distribution_id: &ids.distribution,
        created_at: now,
    };
    let body = channel
        .body(context, &event, data, limit)
        .map_err(|too_large| OpsError::Unprocessable {
            key: "rendered_payload_too_large",
            errors: vec![FieldError::at(
                "channel.payload",
                format!(
                    "{too_large} for this data (max_rendered_payload_bytes); such a send out \
                     would be recorded FAILED and never sent"
                ),
            )],
        })?;
    let claim = Claim {
        send_out: SendOut::to_channel(
            ids.send_out.clone(),
            &project.id,
            &ids.distribution,
            (0, channel),
            &event,
            body,
            now,
        ),
        secrets: SigningSecrets {
            current: PREVIEW_SIGNING_SECRET.to_owned(),
            previous: None,
        },
        target_active: true,
        // A preview is never stored, claimed or completed.
        lease_until: now,
    };
    let mut headers: BTreeMap<String, String> = request_headers(&claim, now.as_secs())
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    headers.insert("user-agent".to_owned(), USER_AGENT.to_owned());
    Ok(Preview {
        headers,
        body: claim.send_out.body,
        matches: true,
    })
}
