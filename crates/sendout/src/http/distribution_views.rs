//! The shapes of the distributions API (PRODUCT §6): the resource as read, the request as
//! written, the list, and the preview's request and answer.
//!
//! The trigger and the channels are the core types themselves ([`Trigger`],
//! [`WebhookChannel`]), serialized, so the resource shows exactly what is stored and used; the
//! request takes them as the input types of [`sendout_core::distribution::input`], whose
//! parsing applies every rule.

use std::collections::BTreeMap;

use sendout_core::distribution::{ChannelInput, Trigger, TriggerInput, WebhookChannel};
use sendout_store::Distribution;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// A distribution as the project API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DistributionView {
    #[schema(example = "distr_01hzx3r8k2m4n6p8q0s2t4v6w8")]
    pub id: String,
    #[schema(example = "distribution")]
    pub object: &'static str,
    #[schema(example = "Order paid to CRM")]
    pub name: String,
    /// `{"event": "customer.order.paid", "condition": {"campaign_id": "camp_…"}}`; the
    /// condition is `{}` when there is none.
    #[schema(value_type = Object, example = json!({"event": "customer.order.paid", "condition": {}}))]
    pub trigger: Trigger,
    /// `NOTIFY_ABOUT_PROMOTION`, `SEND_AND_PUBLISH_CODES` or `SEND_PLAIN_MESSAGE`.
    #[schema(example = "SEND_PLAIN_MESSAGE")]
    pub action: String,
    /// `DRAFT`, `LIVE` or `PAUSED`.
    #[schema(example = "LIVE")]
    pub status: String,
    /// Webhook channels: `{type, event_name, url, headers, public_headers, payload: {mode,
    /// raw, …}}`; `public_headers` names the headers whose values the audit log shows (every
    /// other value shows there as `[redacted]`).
    #[schema(value_type = Vec<Object>)]
    pub channels: Vec<WebhookChannel>,
    /// Why sendout paused it (retries exhausted, `410 Gone`); `null` when a person did.
    pub paused_reason: Option<String>,
    /// When it was paused, while it is `PAUSED`.
    pub paused_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Distribution> for DistributionView {
    fn from(distribution: Distribution) -> Self {
        let spec = distribution.spec;
        Self {
            id: distribution.id.to_string(),
            object: "distribution",
            name: spec.name().to_owned(),
            trigger: spec.trigger().clone(),
            action: spec.action().as_str().to_owned(),
            status: distribution.status.as_str().to_owned(),
            channels: spec.channels().to_vec(),
            paused_reason: distribution.paused_reason,
            paused_at: distribution.paused_at.map(|t| t.to_string()),
            created_at: distribution.created_at.to_string(),
            updated_at: distribution.updated_at.to_string(),
        }
    }
}

/// Voucherify's list shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct DistributionList {
    #[schema(example = "list")]
    pub object: &'static str,
    #[schema(example = "data")]
    pub data_ref: &'static str,
    pub data: Vec<DistributionView>,
    pub total: usize,
}

/// The body of create and update (`PUT` replaces everything but the status, which it keeps
/// when absent). The read-only fields of the resource are accepted and ignored, so a client
/// may `PUT` back what it read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistributionRequest {
    #[schema(example = "Order paid to CRM")]
    pub name: String,
    /// `{"event": <a distribution trigger>, "condition": {<key>: <value>}}`; condition keys:
    /// `segment_id`, `campaign_id`, `custom_event`, `loyalty_tier_id`, each only where the
    /// trigger carries it.
    #[schema(value_type = Object, example = json!({"event": "customer.order.paid"}))]
    pub trigger: TriggerInput,
    /// One of the purposes the trigger supports (the seed's matrix).
    #[schema(example = "SEND_PLAIN_MESSAGE")]
    pub action: String,
    /// 1 to 10 webhook channels. A channel's optional `public_headers` names those of its
    /// `headers` whose values the audit log may show; every other value shows there as
    /// `[redacted]`.
    #[schema(value_type = Vec<Object>, example = json!([{"event_name": "Order-paid",
        "url": "https://crm.example/hooks",
        "headers": {"x-crm-key": "abc", "x-tenant": "acme"}, "public_headers": ["x-tenant"],
        "payload": {"mode": "custom", "raw": false,
                    "template": "{\"total\":{{order.total_amount}}}"}}]))]
    pub channels: Vec<ChannelInput>,
    /// `DRAFT`, `LIVE` or `PAUSED`; `LIVE` when creating without it, kept when updating.
    #[schema(example = "LIVE")]
    pub status: Option<String>,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub object: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub paused_reason: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub paused_at: Option<IgnoredAny>,
}

/// What to preview: a channel for a trigger, with the event's data or the catalog example.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(value_type = Object, example = json!({"event": "customer.order.paid"}))]
    pub trigger: TriggerInput,
    /// A channel as in a distribution.
    #[schema(value_type = Object, example = json!({"event_name": "Order-paid",
        "url": "https://crm.example/hooks",
        "payload": {"mode": "custom", "template": "{\"total\":{{order.total_amount}}}"}}))]
    pub channel: ChannelInput,
    /// The distribution's action, when known: the channel is then also checked for it, as on
    /// save (a key only other actions get is refused, 422 `key_not_for_action`).
    #[schema(example = "SEND_AND_PUBLISH_CODES")]
    pub action: Option<String>,
    /// The event's `data` (an object); the trigger's catalog example when absent.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<RawValue>>,
}

/// A channel's request, exactly as it would be sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    /// Every header sendout sends, signatures included, and the channel's custom headers.
    pub headers: BTreeMap<String, String>,
    /// The exact body text.
    pub body: String,
    /// Whether an event with this data fires the trigger (its condition matches).
    pub matches: bool,
}
