//! Distributions (PRODUCT §6, seeds/003): a trigger (a distribution event type, optionally
//! narrowed by a condition), an action, one or more webhook channels, a status — the pure
//! rules, and the one function that makes a channel's body.
//!
//! A [`DistributionSpec`] is what a user writes (name, trigger, action, channels). It is made
//! from input once, by [`DistributionInput::parse`](input::DistributionInput::parse), which
//! enforces every rule:
//! - the trigger is a distribution event type of the catalog ([`Channel::Distribution`]);
//! - the action is one of the purposes the trigger supports (the seed's support matrix);
//! - the condition uses only keys the trigger carries, each with a non-empty text value;
//! - there are 1 to [`MAX_CHANNELS`] webhook channels, each with an [`EventName`], a target URL,
//!   custom headers and a payload design whose every path exists in the trigger's data.
//!
//! `Deserialize` of these types reads what the store kept: it parses URLs, headers and
//! templates again but does not re-check them against the catalog, so that a catalog update
//! can never make a stored distribution unreadable. Input from users goes through
//! [`input`] only.
//!
//! Invariant: [`WebhookChannel::body`] is the only code that turns an event into a channel's
//! body; fan-out and preview both call it, so a preview is byte for byte what is sent.

mod error;
pub mod input;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::catalog::{catalog, Channel, ConditionKey, EventType, Purpose};
use crate::envelope::{self, EventRef, SourceRef};
use crate::ids::{DistributionId, ProjectId, SendOutId};
use crate::input::{CustomHeaders, PublicHeaders, TargetUrl};
use crate::template::{Path, PayloadDesign, TooLarge, MAX_TEMPLATE_BYTES};
use crate::time::Timestamp;

pub use error::DistributionError;
pub use input::{
    check_action, parse_action, ChannelInput, DistributionInput, PayloadInput, TriggerInput,
};

/// The most webhook channels one distribution may have.
pub const MAX_CHANNELS: usize = 10;
/// The longest distribution name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest channel event name, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 100;
/// The longest condition value, in characters.
pub const MAX_CONDITION_VALUE_CHARS: usize = 200;
/// The most placeholders of a custom template (or attributes of a selection) by default.
pub const DEFAULT_MAX_PLACEHOLDERS: usize = 500;

/// The bounds a deployment puts on what a distribution may hold, checked when one is saved
/// or previewed ([`DistributionInput::parse_within`]). They can only be tighter than the
/// language's own ceilings ([`MAX_CHANNELS`], [`MAX_TEMPLATE_BYTES`]), which also hold for
/// what the store reads back, so lowering a bound never makes a stored distribution
/// unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most webhook channels of one distribution (at most [`MAX_CHANNELS`]).
    pub channels: usize,
    /// Longest custom template, in bytes (at most [`MAX_TEMPLATE_BYTES`]).
    pub template_bytes: usize,
    /// Most placeholders of a custom template, and most attributes of a selection: each
    /// can copy a large value of the event into the body.
    pub placeholders: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            channels: MAX_CHANNELS,
            template_bytes: MAX_TEMPLATE_BYTES,
            placeholders: DEFAULT_MAX_PLACEHOLDERS,
        }
    }
}

/// Where a distribution stands. Only `LIVE` distributions fan out; a `PAUSED` one keeps its
/// configuration (and, when sendout paused it, the reason), a `DRAFT` one was never set live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DistributionStatus {
    Draft,
    Live,
    Paused,
}

impl DistributionStatus {
    /// Every status.
    pub const ALL: [DistributionStatus; 3] = [Self::Draft, Self::Live, Self::Paused];

    /// The wire name: `DRAFT`, `LIVE` or `PAUSED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Live => "LIVE",
            Self::Paused => "PAUSED",
        }
    }

    /// The status of a wire name, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for DistributionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel's event name, sent as the envelope's `type`: 1 to 100 characters of printable
/// text in any script (`Order-paid`, `loyalty.points:gained`, `Zamówienie opłacone`), as
/// merchants name their events. Receivers route on it, so it holds nothing a log line, a header
/// or a person reading it could take for something else: no control characters, no line or
/// paragraph separators, no bidirectional controls, no noncharacters, and no space at either
/// end (a name that differs from another only there could not be told apart).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName(String);

/// Why a character may not be in an event name, if it may not.
fn unprintable(c: char) -> Option<&'static str> {
    match c {
        c if c.is_control() => Some("a control character"),
        '\u{2028}' | '\u{2029}' => Some("a line or paragraph separator"),
        '\u{200E}'
        | '\u{200F}'
        | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some("a bidirectional control"),
        '\u{FDD0}'..='\u{FDEF}' => Some("a noncharacter"),
        c if (u32::from(c) & 0xFFFE) == 0xFFFE => Some("a noncharacter"),
        _ => None,
    }
}

impl EventName {
    /// Parses an event name; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars == 0 {
            return Err("it is empty".to_owned());
        }
        if chars > MAX_EVENT_NAME_CHARS {
            return Err(format!(
                "it is longer than {MAX_EVENT_NAME_CHARS} characters"
            ));
        }
        if let Some((c, what)) = text.chars().find_map(|c| unprintable(c).map(|w| (c, w))) {
            return Err(format!(
                "it may hold only printable text; U+{:04X} is {what}",
                u32::from(c)
            ));
        }
        if text.trim().is_empty() {
            return Err("it is only spaces".to_owned());
        }
        if text.trim() != text {
            return Err("it must not start or end with a space".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|reason| de::Error::custom(format!("event_name: {reason}")))
    }
}

/// What fires a distribution: an event type, narrowed by a condition whose every key must
/// match (an empty condition matches every event of the type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    event: String,
    #[serde(default)]
    condition: BTreeMap<ConditionKey, String>,
}

impl Trigger {
    /// The trigger's event type, by its canonical name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The narrowing condition (empty: none).
    pub fn condition(&self) -> &BTreeMap<ConditionKey, String> {
        &self.condition
    }

    /// The trigger's catalog entry (`None` only if a catalog update removed the type).
    pub fn event_type(&self) -> Option<&'static EventType> {
        catalog().get(&self.event)
    }

    /// Whether an event of `event_type` with `data` fires this trigger: the type is the
    /// trigger's and, for every condition key, the value at the trigger's condition path
    /// (`segment.id`, `campaign.id`, …) equals the condition's value. A number or boolean is
    /// compared by its JSON text; a missing value or another type never matches.
    pub fn matches(&self, event_type: &str, data: &Value) -> bool {
        if event_type != self.event {
            return false;
        }
        if self.condition.is_empty() {
            return true;
        }
        let Some(trigger) = self.event_type() else {
            return false;
        };
        self.condition.iter().all(|(key, expected)| {
            let Some(path) = trigger.condition_path(*key) else {
                return false;
            };
            let Ok(path) = Path::parse(path) else {
                return false;
            };
            match path.lookup(data) {
                Some(Value::String(text)) => text == expected,
                Some(value @ (Value::Number(_) | Value::Bool(_))) => {
                    let text = value.to_string();
                    text == *expected
                }
                _ => false,
            }
        })
    }
}

/// A channel's payload: the design and the raw flag, as one JSON object
/// (`{"mode":"custom","template":"…","raw":false}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What the channel sends as `data`.
    #[serde(flatten)]
    pub design: PayloadDesign,
    /// Whether the designed value is the whole body instead of the envelope's `data`.
    #[serde(default)]
    pub raw: bool,
}

/// One webhook channel of a distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookChannel {
    /// Always `webhook`: the only channel type sendout delivers.
    #[serde(rename = "type", default = "webhook_type", skip_deserializing)]
    kind: &'static str,
    event_name: EventName,
    url: TargetUrl,
    #[serde(default)]
    headers: CustomHeaders,
    /// Channels stored before the field existed read with none: every value redacted.
    #[serde(default)]
    public_headers: PublicHeaders,
    payload: Payload,
}

fn webhook_type() -> &'static str {
    "webhook"
}

/// The ids and time of the send out a channel body is made for.
#[derive(Debug, Clone, Copy)]
pub struct SendOutContext<'a> {
    pub send_out_id: &'a SendOutId,
    pub project_id: &'a ProjectId,
    pub distribution_id: &'a DistributionId,
    pub created_at: Timestamp,
}

/// An event's data in both forms: the compact text as ingested (embedded as is in full mode,
/// so key order and number spelling are kept) and the parsed value (read by designs and
/// conditions).
#[derive(Debug, Clone, Copy)]
pub struct EventData<'a> {
    pub raw: &'a RawValue,
    pub value: &'a Value,
}

impl WebhookChannel {
    /// A channel from its checked parts (`public_headers` among `headers`).
    pub fn new(
        event_name: EventName,
        url: TargetUrl,
        (headers, public_headers): (CustomHeaders, PublicHeaders),
        payload: Payload,
    ) -> Self {
        Self {
            kind: webhook_type(),
            event_name,
            url,
            headers,
            public_headers,
            payload,
        }
    }

    /// The envelope `type` of this channel's send outs.
    pub fn event_name(&self) -> &EventName {
        &self.event_name
    }

    /// Where the channel posts.
    pub fn url(&self) -> &TargetUrl {
        &self.url
    }

    /// Custom headers sent with every attempt.
    pub fn headers(&self) -> &CustomHeaders {
        &self.headers
    }

    /// The custom headers whose values the audit log may show.
    pub fn public_headers(&self) -> &PublicHeaders {
        &self.public_headers
    }

    /// The custom headers as plain text pairs (how send outs keep them).
    pub fn header_map(&self) -> BTreeMap<String, String> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_str().to_owned()))
            .collect()
    }

    /// The payload design and raw flag.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The designed value for `data`, as compact JSON, unless it is longer than `limit`
    /// bytes (rendering stops as soon as it is). Full mode embeds the ingested text.
    pub fn design(&self, data: EventData<'_>, limit: usize) -> Result<Box<RawValue>, TooLarge> {
        match &self.payload.design {
            PayloadDesign::Full if data.raw.get().len() > limit => Err(TooLarge { limit }),
            PayloadDesign::Full => Ok(data.raw.to_owned()),
            design => design.render_raw_within(data.value, limit),
        }
    }

    /// The exact body of this channel's send out for an event: the envelope with `type` = the
    /// event name, `source` = the distribution and this channel's URL, `event.type` = the
    /// trigger and `data` = the designed value — or, with raw payload on, the designed value
    /// alone. Refused when the designed value is longer than `limit` bytes (the rendered
    /// payload bound, [`Limits`] aside: it is the deployment's, applied at send time).
    pub fn body(
        &self,
        send_out: SendOutContext<'_>,
        event: &EventRef<'_>,
        data: EventData<'_>,
        limit: usize,
    ) -> Result<String, TooLarge> {
        let designed = self.design(data, limit)?;
        if self.payload.raw {
            return Ok(envelope::raw_body(&designed));
        }
        let source = SourceRef::distribution(send_out.distribution_id, self.url.as_str());
        Ok(envelope::build(
            send_out.send_out_id,
            send_out.project_id,
            send_out.created_at,
            self.event_name.as_str(),
            &designed,
            &source,
            event,
        ))
    }
}

/// What a user configures in a distribution: everything but its status and bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionSpec {
    name: String,
    trigger: Trigger,
    action: Purpose,
    channels: Vec<WebhookChannel>,
}

impl DistributionSpec {
    /// The distribution's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What fires it.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// What it does (a purpose the trigger supports).
    pub fn action(&self) -> Purpose {
        self.action
    }

    /// Its webhook channels, at least one.
    pub fn channels(&self) -> &[WebhookChannel] {
        &self.channels
    }

    /// Whether an event of `event_type` with `data` fires this distribution (status aside).
    pub fn matches(&self, event_type: &str, data: &Value) -> bool {
        self.trigger.matches(event_type, data)
    }
}

/// Whether `event_type` can trigger distributions at all.
pub fn is_trigger(event_type: &str) -> bool {
    catalog()
        .get(event_type)
        .is_some_and(|t| t.is_in(Channel::Distribution))
}

#[cfg(test)]
mod tests;
