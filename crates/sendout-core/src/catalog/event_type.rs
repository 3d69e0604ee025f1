//! One entry of the catalog, and the small vocabularies it is described with (channels,
//! distribution purposes, narrowing conditions).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{KeyNode, PathTarget};

/// How many suggestions [`EventType::suggest`] gives.
pub const SUGGESTIONS: usize = 3;

/// Where events of a type can be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Project-settings webhooks (`wh_…`), subscribed to by type.
    ProjectSettings,
    /// Distributions (`distr_…`), whose trigger is the type.
    Distribution,
}

impl Channel {
    /// Both channels, project settings first.
    pub const ALL: [Channel; 2] = [Channel::ProjectSettings, Channel::Distribution];

    /// The wire name: `project_settings` or `distribution`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::ProjectSettings => "project_settings",
            Channel::Distribution => "distribution",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a distribution does when its trigger fires (the columns of the seed's support matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Purpose {
    /// "Notify customers about promotion".
    NotifyAboutPromotion,
    /// "Send and publish unique codes from campaign".
    SendAndPublishCodes,
    /// "Send plain message to customers".
    SendPlainMessage,
}

impl Purpose {
    /// Every purpose, in the seed's column order.
    pub const ALL: [Purpose; 3] = [
        Purpose::NotifyAboutPromotion,
        Purpose::SendAndPublishCodes,
        Purpose::SendPlainMessage,
    ];

    /// The wire name, e.g. `SEND_PLAIN_MESSAGE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::NotifyAboutPromotion => "NOTIFY_ABOUT_PROMOTION",
            Purpose::SendAndPublishCodes => "SEND_AND_PUBLISH_CODES",
            Purpose::SendPlainMessage => "SEND_PLAIN_MESSAGE",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition that narrows a distribution trigger to some of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKey {
    /// Only events of one customer segment (segment triggers).
    SegmentId,
    /// Only events that happened in one campaign.
    CampaignId,
    /// Only custom events of one name (`customer.custom_event`).
    CustomEvent,
    /// Only events about one loyalty tier (tier triggers).
    LoyaltyTierId,
}

impl ConditionKey {
    /// Every key, in declaration order.
    pub const ALL: [ConditionKey; 4] = [
        ConditionKey::SegmentId,
        ConditionKey::CampaignId,
        ConditionKey::CustomEvent,
        ConditionKey::LoyaltyTierId,
    ];

    /// The wire name, e.g. `segment_id`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionKey::SegmentId => "segment_id",
            ConditionKey::CampaignId => "campaign_id",
            ConditionKey::CustomEvent => "custom_event",
            ConditionKey::LoyaltyTierId => "loyalty_tier_id",
        }
    }
}

impl fmt::Display for ConditionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A narrowing condition a trigger supports, and the `data` path its value is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Which condition.
    pub key: ConditionKey,
    /// The data path holding the value to compare (e.g. `segment.id`).
    pub path: String,
}

/// Where the key tree of a type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeysSource {
    /// The type's public data schema.
    Schema,
    /// No public schema; the schemas of its keys as Voucherify's index names them.
    ProxySchema,
    /// No schema; read off an example.
    Example,
    /// Nothing is known: every path is accepted.
    Unknown,
}

/// Where the example `data` of a type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExampleSource {
    /// Voucherify's published example (`reference/voucherify/examples/`).
    Voucherify,
    /// Built by sendout from the type's documented keys, with values of the same schemas in
    /// other types' examples (the type's note says which), where Voucherify publishes none.
    Built,
}

impl ExampleSource {
    /// The name the catalog and the API give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voucherify => "voucherify",
            Self::Built => "built",
        }
    }
}

/// How a type is listed in one channel: its group there and its title there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The channel.
    pub channel: Channel,
    /// The group, as the seed names it (e.g. `Voucher`, `Loyalty tier related activity`).
    pub group: String,
    /// The human title, as the seed writes it.
    pub title: String,
}

/// One event type: its name, where it is listed, the keys its `data` carries, an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventType {
    name: String,
    channels: Vec<Channel>,
    listings: Vec<Listing>,
    has_public_schema: bool,
    schema: Option<String>,
    keys_source: KeysSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    purposes: Vec<Purpose>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    purpose_keys: BTreeMap<String, Vec<Purpose>>,
    data: KeyNode,
    example_file: Option<String>,
    #[serde(default)]
    example_source: Option<ExampleSource>,
    example: Option<Value>,
}

impl EventType {
    /// The canonical name, e.g. `voucher.published`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group in its first channel (project settings when it is listed there).
    pub fn group(&self) -> &str {
        &self.primary().group
    }

    /// The human title in its first channel (project settings when it is listed there).
    pub fn title(&self) -> &str {
        &self.primary().title
    }

    /// The group in `channel`, if the type is listed there.
    pub fn group_in(&self, channel: Channel) -> Option<&str> {
        self.listing(channel).map(|l| l.group.as_str())
    }

    /// The title in `channel`, if the type is listed there (distribution titles are the
    /// trigger names of the support matrix, e.g. `Voucher redeemed`).
    pub fn title_in(&self, channel: Channel) -> Option<&str> {
        self.listing(channel).map(|l| l.title.as_str())
    }

    /// How the type is listed, one entry per channel.
    pub fn listings(&self) -> &[Listing] {
        &self.listings
    }

    /// The channels the type feeds.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Whether the type feeds `channel`.
    pub fn is_in(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }

    /// Whether Voucherify publishes a schema of the type's `data`.
    pub fn has_public_schema(&self) -> bool {
        self.has_public_schema
    }

    /// The name of the data schema in `OpenAPIWebhooks.json`, if public.
    pub fn schema_name(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Where the key tree comes from.
    pub fn keys_source(&self) -> KeysSource {
        self.keys_source
    }

    /// A remark on the type's provenance (removed from the spec, not in the seeds…).
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// An example `data` (always a JSON object), if Voucherify published one or sendout built
    /// one from the documented keys ([`EventType::example_source`] says which).
    pub fn example_data(&self) -> Option<&Value> {
        self.example.as_ref()
    }

    /// The example `data` as a distribution with action `purpose` gets it: without the
    /// top-level keys only other purposes provide.
    pub fn example_data_for(&self, purpose: Purpose) -> Option<Value> {
        let mut example = self.example.clone()?;
        if let Value::Object(map) = &mut example {
            map.retain(|key, _| self.gets_key(purpose, key));
        }
        Some(example)
    }

    /// Where the example comes from, if there is one.
    pub fn example_source(&self) -> Option<ExampleSource> {
        self.example_source
    }

    /// The file under `reference/voucherify/examples/` the example comes from.
    pub fn example_file(&self) -> Option<&str> {
        self.example_file.as_deref()
    }

    /// The distribution purposes the trigger supports (empty for non-distribution types).
    pub fn purposes(&self) -> &[Purpose] {
        &self.purposes
    }

    /// Whether a distribution with this trigger may have `purpose`.
    pub fn supports(&self, purpose: Purpose) -> bool {
        self.purposes.contains(&purpose)
    }

    /// The narrowing conditions the trigger supports (empty for non-distribution types).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The keys of [`EventType::conditions`].
    pub fn condition_keys(&self) -> impl Iterator<Item = ConditionKey> + '_ {
        self.conditions.iter().map(|c| c.key)
    }

    /// The data path a condition's value is compared with, if the trigger supports it.
    pub fn condition_path(&self, key: ConditionKey) -> Option<&str> {
        self.conditions
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.path.as_str())
    }

    /// The purposes that provide a top-level key of `data`, when only some of the trigger's
    /// purposes do (seed 001's purpose-dependent objects: a segment trigger's `voucher` comes
    /// only with [`Purpose::SendAndPublishCodes`]); `None` for a key every purpose provides.
    pub fn key_purposes(&self, key: &str) -> Option<&[Purpose]> {
        self.purpose_keys.get(key).map(Vec::as_slice)
    }

    /// The top-level keys only some purposes provide, each with those purposes.
    pub fn purpose_keys(&self) -> impl Iterator<Item = (&str, &[Purpose])> + '_ {
        self.purpose_keys
            .iter()
            .map(|(key, purposes)| (key.as_str(), purposes.as_slice()))
    }

    /// Whether a distribution with action `purpose` gets the value `path` names: its first
    /// key is shared, or belongs to `purpose` (the path itself is checked by
    /// [`EventType::has_path`]).
    pub fn provides(&self, purpose: Purpose, path: &str) -> bool {
        let first = path.split(['.', '[']).next().unwrap_or(path);
        self.gets_key(purpose, first)
    }

    /// Whether a distribution with action `purpose` gets the top-level key `key`.
    fn gets_key(&self, purpose: Purpose, key: &str) -> bool {
        self.key_purposes(key)
            .is_none_or(|purposes| purposes.contains(&purpose))
    }

    /// The key tree of `data` as a distribution with action `purpose` gets it: without the
    /// top-level keys other purposes provide.
    pub fn data_keys_for(&self, purpose: Purpose) -> KeyNode {
        self.data.without_keys(|key| !self.gets_key(purpose, key))
    }

    /// The root of the key tree of `data`.
    pub fn data_keys(&self) -> &KeyNode {
        &self.data
    }

    /// Whether `path` names a value the type's `data` can carry: dotted keys, array elements
    /// as `items.0`, `items[0]` or `items[]`, anything below an open object (see
    /// [`super::keys`]).
    pub fn has_path(&self, path: &str) -> bool {
        self.data.resolve(path).is_some()
    }

    /// What `path` leads to, if valid.
    pub fn resolve_path(&self, path: &str) -> Option<PathTarget<'_>> {
        self.data.resolve(path)
    }

    /// Every valid path: arrays as `items[]`, open objects as `metadata.*` (see
    /// [`KeyNode::paths`]).
    pub fn paths(&self) -> Vec<String> {
        self.data.paths()
    }

    /// Up to three valid paths nearest to `path`, for "did you mean" in error messages.
    pub fn suggest(&self, path: &str) -> Vec<String> {
        self.data.suggest(path, SUGGESTIONS)
    }

    fn listing(&self, channel: Channel) -> Option<&Listing> {
        self.listings.iter().find(|l| l.channel == channel)
    }

    fn primary(&self) -> &Listing {
        // The generator writes at least one listing per type (a test checks it).
        &self.listings[0]
    }
}
