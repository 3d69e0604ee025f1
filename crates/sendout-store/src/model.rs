//! The records the store keeps, as plain data. Values arrive here already parsed and checked
//! at the edge (HTTP, CLI); the store keeps them as given and returns them as stored.

use std::collections::{BTreeMap, HashMap};

use sendout_core::distribution::{DistributionSpec, DistributionStatus, WebhookChannel};
use sendout_core::envelope::{self, EventRef};
use sendout_core::ids::{DistributionId, EventId, GroupId, ProjectId, SendOutId, WebhookId};
use sendout_core::input::{EventFilter, PublicHeaders, TargetUrl};
use sendout_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A tenant. `webhook_token` is kept in clear because every delivery is signed with it;
/// the app token is kept only as a SHA-256 hash (see [`crate::hash_token`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    pub timezone: String,
    pub webhook_version: String,
    pub webhook_token: String,
    /// The secret being rotated out, still used to sign until `previous_token_expires_at`.
    pub previous_webhook_token: Option<String>,
    pub previous_token_expires_at: Option<Timestamp>,
    pub app_id: String,
    pub app_token_hash: String,
    /// Who is told when a target fails or is given up on.
    pub callout_notifications: CalloutNotifications,
    /// Where the project's operational events go besides the operator's URL, if anywhere.
    pub operational_webhook_url: Option<TargetUrl>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A project's `webhooks_callout_notifications` (Voucherify's Management API): for each kind
/// of target, whether to email, to whom, and whether to show in-app notices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalloutNotifications {
    /// Project-settings webhooks.
    pub webhooks: CalloutNotification,
    /// Distributions' webhook channels.
    pub distributions: CalloutNotification,
}

/// The notice settings of one kind of target. The default: no email, in-app notices on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalloutNotification {
    pub email: bool,
    pub emails: Vec<String>,
    pub in_app: bool,
}

impl Default for CalloutNotification {
    fn default() -> Self {
        Self {
            email: false,
            emails: Vec::new(),
            in_app: true,
        }
    }
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("webhook_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Project {
    /// The signing secrets in force at `now`: the current one, and the previous one while
    /// its grace period lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> SigningSecrets {
        SigningSecrets::in_force(
            self.webhook_token.clone(),
            self.previous_webhook_token.clone(),
            self.previous_token_expires_at,
            now,
        )
    }
}

/// The secrets a send out is signed with at the moment of its attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecrets {
    pub current: String,
    pub previous: Option<String>,
}

impl SigningSecrets {
    /// The secrets in force at `now`: `current`, and `previous` until `previous_until`.
    pub fn in_force(
        current: String,
        previous: Option<String>,
        previous_until: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        let previous = match (previous, previous_until) {
            (Some(token), Some(until)) if until > now => Some(token),
            _ => None,
        };
        Self { current, previous }
    }
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecrets([redacted])")
    }
}

/// The fields a project update may change; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub timezone: Option<String>,
    pub webhook_version: Option<String>,
    pub callout_notifications: Option<CalloutNotifications>,
    /// `Some(None)` removes the project's operational URL.
    pub operational_webhook_url: Option<Option<TargetUrl>>,
}

/// A project-settings webhook. Its events are stored as `["*"]` for all events, otherwise as
/// canonical catalog names; here they are the parsed [`EventFilter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub project_id: ProjectId,
    pub target_url: TargetUrl,
    pub events: EventFilter,
    pub active: bool,
    pub headers: BTreeMap<String, String>,
    /// Those of `headers` whose values the audit log may show; the others are secrets.
    pub public_headers: PublicHeaders,
    pub description: Option<String>,
    /// Why the webhook was disabled automatically, if it was.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The writable fields of a webhook, for create and full update (PUT replaces them all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFields {
    pub target_url: TargetUrl,
    pub events: EventFilter,
    pub active: bool,
    pub headers: BTreeMap<String, String>,
    /// Names among `headers` only (the application layer checks it).
    pub public_headers: PublicHeaders,
    pub description: Option<String>,
}

/// A distribution (PRODUCT §6): what a user configured ([`DistributionSpec`], checked against
/// the catalog before it reaches the store) and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub id: DistributionId,
    pub project_id: ProjectId,
    pub spec: DistributionSpec,
    /// Only `LIVE` distributions fan out, and only their send outs are sent.
    pub status: DistributionStatus,
    /// Why sendout paused it (retries exhausted, `410 Gone`); `None` when a person paused it
    /// or it is not paused.
    pub paused_reason: Option<String>,
    /// When it was paused, while it is `PAUSED`.
    pub paused_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An event accepted by the ingest API, ready to be stored and fanned out.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: EventId,
    /// The canonical catalog name.
    pub event_type: String,
    /// Compact JSON of the event's `data`, key order as received.
    pub data: Box<RawValue>,
    pub entity_id: Option<String>,
    pub group_id: GroupId,
    /// Compact JSON of the event's `event_source`.
    pub event_source: Box<RawValue>,
    pub created_at: Timestamp,
}

/// What ingesting one event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub event_id: EventId,
    pub send_outs: u32,
}

/// A key a client made an ingest idempotent with, and the fingerprint (a hash) of what it
/// sent with it: a later ingest with the same key and fingerprint is answered as the first
/// was; with another fingerprint it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

/// How the caller writes an ingest's answer (its shape is the API's, not the store's), so
/// that the store can keep the answer with its keys in the ingest's own transaction.
pub trait IngestAnswer: Send + Sync {
    /// One new event's part of the answer.
    fn event(&self, event: &NewEvent, outcome: &IngestOutcome) -> String;
    /// The whole answer from every event's part, in order (a replayed event's part is the
    /// one it first got).
    fn request(&self, parts: &[&str]) -> String;
}

/// An ingest with keys ([`crate::Queue::ingest_keyed`]).
#[derive(Debug)]
pub struct KeyedIngest {
    pub events: Vec<NewEvent>,
    pub keys: IngestKeys,
}

/// The keys of a [`KeyedIngest`], and how its answer is written.
#[derive(Clone)]
pub struct IngestKeys {
    /// The request's key (the `Idempotency-Key` header), over the whole body.
    pub request_key: Option<IdempotencyKey>,
    /// Each event's own key, over the event, by position: empty, or one per event.
    pub event_keys: Vec<Option<IdempotencyKey>>,
    /// Until when the keys stored now hold; a key found past its time is used again as new.
    pub expires_at: Timestamp,
    pub answer: std::sync::Arc<dyn IngestAnswer>,
}

impl std::fmt::Debug for IngestKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are the client's; they are not written to logs.
        f.debug_struct("IngestKeys")
            .field("request_key", &self.request_key.is_some())
            .field("event_keys", &self.event_keys.iter().flatten().count())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl IngestKeys {
    /// The key an event's row records for the audit log: its own, else its request's.
    pub(crate) fn event_key(&self, index: usize) -> Option<&str> {
        self.event_keys
            .get(index)
            .and_then(Option::as_ref)
            .or(self.request_key.as_ref())
            .map(|k| k.key.as_str())
    }
}

/// What an ingest with keys did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedOutcome {
    /// Answered: `body` is the answer (status 202) stored with the keys, or the one stored
    /// before (`replayed`, when the request's key was seen with this body). `created` are the
    /// events made now: none for a replay, fewer than sent when some events' own keys were
    /// seen before.
    Answered {
        body: String,
        replayed: bool,
        created: Vec<IngestOutcome>,
    },
    /// A key was seen before with another body (or event): nothing was made. `event` is
    /// the position of the event whose key it was; `None` for the request's key.
    Reused { event: Option<usize> },
}

/// Where a send out goes: a project-settings webhook, one channel of a distribution, or an
/// operational endpoint (sendout's events about its own targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Webhook,
    Distribution,
    Operational,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Distribution => "distribution",
            Self::Operational => "operational",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "webhook" => Some(Self::Webhook),
            "distribution" => Some(Self::Distribution),
            "operational" => Some(Self::Operational),
            _ => None,
        }
    }
}

/// Which operational endpoint a send out goes to: the operator's (configuration, every
/// project's events, its own secret) or the project's own (a project setting, signed with
/// the project's secret like its webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationalDestination {
    Operator,
    Project,
}

impl OperationalDestination {
    /// The source id its send outs carry in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "ops_operator",
            Self::Project => "ops_project",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Operator, Self::Project]
            .into_iter()
            .find(|d| d.as_str() == text)
    }
}

/// Where a send out goes, typed: what its row's `source_kind` and `source_id` name (and
/// `source.object` and `source.id` in its envelope and views).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceId {
    /// A project-settings webhook.
    Webhook(WebhookId),
    /// A test sent from the add form before its webhook exists: stored, and shown, as the
    /// webhook id [`SourceId::UNSAVED_WEBHOOK`].
    UnsavedWebhook,
    /// A distribution; which of its channels is [`SendOut::channel`].
    Distribution(DistributionId),
    /// An operational endpoint.
    Operational(OperationalDestination),
}

impl SourceId {
    /// The id a test of an unsaved webhook carries.
    pub const UNSAVED_WEBHOOK: &'static str = "wh_test";

    /// Reads a stored `source_kind` and `source_id`; `None` if they name no source.
    pub fn parse(kind: SourceKind, id: &str) -> Option<Self> {
        match kind {
            SourceKind::Webhook if id == Self::UNSAVED_WEBHOOK => Some(Self::UnsavedWebhook),
            SourceKind::Webhook => WebhookId::parse(id).ok().map(Self::Webhook),
            SourceKind::Distribution => DistributionId::parse(id).ok().map(Self::Distribution),
            SourceKind::Operational => OperationalDestination::parse(id).map(Self::Operational),
        }
    }

    /// The kind of target: a test of an unsaved webhook is a webhook's.
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::Webhook(_) | Self::UnsavedWebhook => SourceKind::Webhook,
            Self::Distribution(_) => SourceKind::Distribution,
            Self::Operational(_) => SourceKind::Operational,
        }
    }

    /// The id as stored and shown.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Webhook(id) => id.as_str(),
            Self::UnsavedWebhook => Self::UNSAVED_WEBHOOK,
            Self::Distribution(id) => id.as_str(),
            Self::Operational(destination) => destination.as_str(),
        }
    }
}

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SourceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The life of a send out: `PENDING` until its first attempt, `RETRYING` between failed
/// attempts, then `SUCCEEDED` or `FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SendOutStatus {
    Pending,
    Retrying,
    Succeeded,
    Failed,
}

impl SendOutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Retrying => "RETRYING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(Self::Pending),
            "RETRYING" => Some(Self::Retrying),
            "SUCCEEDED" => Some(Self::Succeeded),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Whether a worker may still pick the send out up by itself.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Retrying)
    }
}

/// One delivery of one event to one target: the exact body and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendOut {
    pub id: SendOutId,
    pub project_id: ProjectId,
    /// `None` only for test send outs made from a sample.
    pub event_id: Option<EventId>,
    /// The envelope's `type`: the event type, or a distribution channel's event name.
    pub envelope_type: String,
    /// The type of the event that caused the send out (the trigger, for distributions).
    pub event_type: String,
    /// The webhook or distribution it goes to (or came from, once that is deleted).
    pub source_id: SourceId,
    /// For distributions, the index of the channel within the distribution.
    pub channel: Option<u32>,
    pub target_url: String,
    /// Custom headers sent with every attempt.
    pub headers: BTreeMap<String, String>,
    /// The exact request body, sent unchanged on every attempt.
    pub body: String,
    pub status: SendOutStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub failure_reason: Option<String>,
    pub is_test: bool,
    /// The request id (`group_id`) of the event.
    pub group_id: Option<String>,
    pub event_created_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The idempotency key its event was ingested with: read only for the audit log's detail
    /// ([`crate::Audit::get_send_out`]), `None` elsewhere.
    pub idempotency_key: Option<String>,
}

/// The four kinds of send out, each made by one constructor: fan-out to a webhook
/// ([`SendOut::to_webhook`]), to a distribution's channel ([`SendOut::to_channel`], which a
/// preview renders too), a test ([`SendOut::test_send`]) and an operational event
/// ([`SendOut::operational`]). Each is `PENDING`, due `now`,
/// with the body it will always send, and records `event` as its cause.
impl SendOut {
    /// The send out of `event` to a project-settings webhook, with its URL and headers.
    pub fn to_webhook(
        id: SendOutId,
        project_id: &ProjectId,
        webhook: &Webhook,
        event: &EventRef<'_>,
        body: String,
        now: Timestamp,
    ) -> Self {
        Self {
            target_url: webhook.target_url.to_string(),
            headers: webhook.headers.clone(),
            ..Self::pending(
                id,
                project_id,
                SourceId::Webhook(webhook.id.clone()),
                event,
                body,
                now,
            )
        }
    }

    /// The send out of `event` (the trigger) to the channel at `index` of a distribution:
    /// its envelope type is the channel's event name.
    pub fn to_channel(
        id: SendOutId,
        project_id: &ProjectId,
        distribution_id: &DistributionId,
        (index, channel): (u32, &WebhookChannel),
        event: &EventRef<'_>,
        body: String,
        now: Timestamp,
    ) -> Self {
        let source = SourceId::Distribution(distribution_id.clone());
        Self {
            envelope_type: channel.event_name().as_str().to_owned(),
            channel: Some(index),
            target_url: channel.url().to_string(),
            headers: channel.header_map(),
            ..Self::pending(id, project_id, source, event, body, now)
        }
    }

    /// A test of `source_id` at `target_url` with `headers`, made from a sample `event`
    /// that is not stored (so the send out names no event id).
    pub fn test_send(
        id: SendOutId,
        project_id: &ProjectId,
        source_id: SourceId,
        (target_url, headers): (String, BTreeMap<String, String>),
        event: &EventRef<'_>,
        body: String,
        now: Timestamp,
    ) -> Self {
        Self {
            event_id: None,
            target_url,
            headers,
            is_test: true,
            ..Self::pending(id, project_id, source_id, event, body, now)
        }
    }

    /// The send out of an operational event (`body`, made by
    /// [`sendout_core::operational::body`] as the event `event_id` of type `event_type`) to
    /// an operational endpoint. It names no stored event (operational events are not
    /// ingested) and carries no custom headers.
    pub fn operational(
        id: SendOutId,
        project_id: &ProjectId,
        (destination, target_url): (OperationalDestination, &TargetUrl),
        (event_id, event_type): (&EventId, &str),
        body: String,
        now: Timestamp,
    ) -> Self {
        let group_id = GroupId::new();
        let source = envelope::compact(&serde_json::json!({}));
        let event = EventRef {
            id: event_id,
            event_type,
            created_at: now,
            entity_id: None,
            group_id: &group_id,
            event_source: &source,
        };
        Self {
            event_id: None,
            group_id: None,
            target_url: target_url.to_string(),
            ..Self::pending(
                id,
                project_id,
                SourceId::Operational(destination),
                &event,
                body,
                now,
            )
        }
    }

    /// This fresh send out made `FAILED` at once with `reason`, never to be sent: its body
    /// could not be made (a channel's payload longer than the bound). It keeps no body, so
    /// [`SendOut::is_sendable`] is false and no retry can send it.
    #[must_use]
    pub fn unsendable(self, reason: String) -> Self {
        Self {
            body: String::new(),
            status: SendOutStatus::Failed,
            next_attempt_at: None,
            failure_reason: Some(reason),
            ..self
        }
    }

    /// Whether the send out has a request to send: false only for one made
    /// [`SendOut::unsendable`] (every body that is made is JSON, never empty).
    pub fn is_sendable(&self) -> bool {
        !self.body.is_empty()
    }

    /// What every fresh send out is: due now, never attempted, without target details yet.
    fn pending(
        id: SendOutId,
        project_id: &ProjectId,
        source_id: SourceId,
        event: &EventRef<'_>,
        body: String,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            project_id: project_id.clone(),
            event_id: Some(event.id.clone()),
            envelope_type: event.event_type.to_owned(),
            event_type: event.event_type.to_owned(),
            source_id,
            channel: None,
            target_url: String::new(),
            headers: BTreeMap::new(),
            body,
            status: SendOutStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            failure_reason: None,
            is_test: false,
            group_id: Some(event.group_id.to_string()),
            event_created_at: Some(event.created_at),
            created_at: now,
            updated_at: now,
            idempotency_key: None,
        }
    }
}

/// One HTTP try of a send out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub send_out_id: SendOutId,
    /// 1 for the first attempt.
    pub number: u32,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    pub response_status: Option<u16>,
    /// At most 4 KiB of the response body.
    pub response_body: Option<String>,
    /// A transport error, timeout or refusal, when there was no HTTP response.
    pub error: Option<String>,
    pub succeeded: bool,
}

/// A lease a worker holds on a send out: what it names when it gives the send out back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub send_out_id: SendOutId,
    /// The end of the lease, as the claim set it.
    pub until: Timestamp,
}

/// A send out leased to one worker, with what it needs to make the attempt.
#[derive(Debug, Clone)]
pub struct Claim {
    pub send_out: SendOut,
    pub secrets: SigningSecrets,
    /// Whether the target (webhook, or distribution) is still active. An inactive target's
    /// send outs are not sent; they end `FAILED` with that reason.
    pub target_active: bool,
    /// The end of the lease this claim holds: its completion names it, so that a worker whose
    /// lease ran out (and the send out went to another) cannot overwrite the newer result.
    pub lease_until: Timestamp,
}

impl Claim {
    /// The lease this claim holds.
    pub fn lease(&self) -> Lease {
        Lease {
            send_out_id: self.send_out.id.clone(),
            until: self.lease_until,
        }
    }
}

/// Where ingest hands over the send outs it leased to this process's worker (see
/// [`crate::Queue::hand_off`]).
#[derive(Debug, Clone)]
pub struct Handoff {
    /// The worker's inbox. Ingest leases at most as many send outs as it has room for at
    /// that moment, and sends their claims once they are committed.
    pub inbox: tokio::sync::mpsc::Sender<Claim>,
    /// How long a handed-over send out is leased for, from its commit.
    pub lease: std::time::Duration,
}

/// What happens to a send out after an attempt (or after deciding not to make one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Another attempt is due at this time.
    RetryAt(Timestamp),
    /// Given up. With `disable_target`, the webhook is disabled (or the distribution paused)
    /// with `reason`.
    Failed {
        reason: String,
        disable_target: bool,
    },
}

/// The result of working on one claim, written back in a batch.
#[derive(Debug, Clone)]
pub struct Completion {
    pub send_out_id: SendOutId,
    pub attempt: Option<Attempt>,
    pub next: Next,
    pub at: Timestamp,
    /// The lease it was made under ([`Claim::lease_until`]). If the send out is no longer
    /// held under that lease (it ran out and another worker claimed it), the attempt is still
    /// recorded but the send out's state, schedule and target are left to the newer holder.
    /// `None` writes unconditionally.
    pub lease: Option<Timestamp>,
    /// If this completion gives a webhook's or channel's send out up (`FAILED` with
    /// `disable_target`), it is reported as `sendout.send_out.exhausted`, at most once per
    /// target per this window. `None`: never reported (operational send outs, so that
    /// operational events are never about operational deliveries).
    pub exhausted_window: Option<std::time::Duration>,
}

/// The custom headers the targets of some send outs mark public, as they are now
/// ([`crate::Audit::public_headers`]): by webhook, and by distribution and channel. A target
/// that is not here (deleted, or not asked for) marks none: its values are all secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicHeaderSets {
    by_target: HashMap<(SourceId, Option<u32>), PublicHeaders>,
}

impl PublicHeaderSets {
    /// Records what the target `source` (its channel `channel`, for a distribution) marks.
    pub fn insert(&mut self, source: SourceId, channel: Option<u32>, public: PublicHeaders) {
        self.by_target.insert((source, channel), public);
    }

    /// What the target of `send_out` marks public now; `None` if it is gone.
    pub fn of(&self, send_out: &SendOut) -> Option<&PublicHeaders> {
        let channel = match send_out.source_id {
            SourceId::Distribution(_) => send_out.channel,
            _ => None,
        };
        self.by_target.get(&(send_out.source_id.clone(), channel))
    }
}

/// Filters of the audit log; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct SendOutFilter {
    pub status: Option<SendOutStatus>,
    pub source_id: Option<String>,
    pub event_type: Option<String>,
    pub target_url: Option<String>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub is_test: Option<bool>,
}

/// One page of a newest-first listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
    pub total: Option<u64>,
}

/// How many send outs had each status in one time bucket (for the dashboard chart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusBucket {
    pub bucket_start: Timestamp,
    pub status: SendOutStatus,
    pub count: u64,
}
