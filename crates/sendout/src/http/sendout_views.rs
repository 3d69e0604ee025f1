//! How the audit log shows send outs and attempts: the public, stable shape
//! (`object: "webhook_sendout"`, snake_case) of the project API and the OpenAPI document.
//!
//! Invariants: a send out's `body` is embedded as the exact JSON text that was (and will be)
//! sent, so the bytes inside an answer are the bytes the signatures cover; custom header
//! values are shown as the operations answer them, every one `[redacted]` unless its target
//! marks it public ([`crate::ops::sendouts::redact`]).

use std::collections::BTreeMap;

use sendout_store::{Attempt, SendOut};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// Where a send out goes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// The webhook's (or distribution's) id.
    pub id: String,
    /// `webhook` or `distribution`.
    pub object: &'static str,
    pub target_url: String,
    /// For a distribution: the channel's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<u32>,
}

/// A send out as the audit log lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendOutView {
    #[schema(example = "whs_01hzx3r8k2m4n6p8q0s2t4v6w8")]
    pub id: String,
    #[schema(example = "webhook_sendout")]
    pub object: &'static str,
    /// The envelope's `type`.
    #[serde(rename = "type")]
    pub envelope_type: String,
    /// The type of the event that caused it (a distribution's trigger).
    pub event_type: String,
    /// `null` for test send outs.
    pub event_id: Option<String>,
    /// The request id of the event (`v-…`).
    pub group_id: Option<String>,
    pub source: SourceView,
    /// `PENDING`, `RETRYING`, `SUCCEEDED` or `FAILED`.
    #[schema(example = "SUCCEEDED")]
    pub status: &'static str,
    /// How many attempts were made.
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    /// When the last attempt was made ("executed at").
    pub last_attempt_at: Option<String>,
    /// Why it failed, once `FAILED`.
    pub failure_reason: Option<String>,
    /// Made by a test webhook.
    pub is_test: bool,
    pub event_created_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SendOut> for SendOutView {
    fn from(s: &SendOut) -> Self {
        Self {
            id: s.id.to_string(),
            object: "webhook_sendout",
            envelope_type: s.envelope_type.clone(),
            event_type: s.event_type.clone(),
            event_id: s.event_id.as_ref().map(ToString::to_string),
            group_id: s.group_id.clone(),
            source: SourceView {
                id: s.source_id.to_string(),
                object: s.source_id.kind().as_str(),
                target_url: s.target_url.clone(),
                channel: s.channel,
            },
            status: s.status.as_str(),
            attempt_count: s.attempts,
            next_attempt_at: s.next_attempt_at.map(|t| t.to_string()),
            last_attempt_at: s.last_attempt_at.map(|t| t.to_string()),
            failure_reason: s.failure_reason.clone(),
            is_test: s.is_test,
            event_created_at: s.event_created_at.map(|t| t.to_string()),
            created_at: s.created_at.to_string(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

/// One HTTP try.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first attempt.
    pub number: u32,
    pub started_at: String,
    pub duration_ms: u64,
    /// The receiver's status, if it answered.
    pub response_status: Option<u16>,
    /// At most 4 KiB of the receiver's answer.
    pub response_body: Option<String>,
    /// A transport error, timeout or refusal, when there was no answer.
    pub error: Option<String>,
    pub succeeded: bool,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        Self {
            number: a.number,
            started_at: a.started_at.to_string(),
            duration_ms: a.duration_ms,
            response_status: a.response_status,
            response_body: a.response_body.clone(),
            error: a.error.clone(),
            succeeded: a.succeeded,
        }
    }
}

/// Everything about one send out ("Show data").
#[derive(Debug, Serialize, ToSchema)]
pub struct SendOutDetail {
    #[serde(flatten)]
    pub send_out: SendOutView,
    /// Custom headers sent with every attempt: each value `[redacted]` unless the target
    /// (webhook or channel) lists the header in its `public_headers` now.
    pub headers: BTreeMap<String, String>,
    /// The exact body sent, embedded as JSON.
    #[schema(value_type = Object)]
    pub body: Box<RawValue>,
    /// The idempotency key its event was ingested with (the event's own, else its request's
    /// `Idempotency-Key`); `null` when it had none.
    pub idempotency_key: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

impl SendOutDetail {
    /// The detail of a send out with its attempts, oldest first.
    pub fn new(send_out: &SendOut, attempts: &[Attempt]) -> Self {
        let body = RawValue::from_string(send_out.body.clone()).unwrap_or_else(|_| {
            // Bodies are JSON by construction; should one not be, show it as a string.
            let quoted = serde_json::to_string(&send_out.body).unwrap_or_default();
            RawValue::from_string(quoted).unwrap_or_else(|_| empty_object())
        });
        Self {
            send_out: send_out.into(),
            headers: send_out.headers.clone(),
            body,
            idempotency_key: send_out.idempotency_key.clone(),
            attempts: attempts.iter().map(AttemptView::from).collect(),
        }
    }
}

fn empty_object() -> Box<RawValue> {
    serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("`{{}}` is JSON"))
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendOutList {
    #[schema(example = "list")]
    pub object: &'static str,
    #[schema(example = "data")]
    pub data_ref: &'static str,
    pub data: Vec<SendOutView>,
    /// How many send outs match the filters, on all pages.
    pub total: Option<u64>,
    pub has_more: bool,
    /// Pass as `starting_after_id` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_starting_after: Option<String>,
}
