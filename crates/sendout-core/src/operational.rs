//! Operational webhooks (issue 18 item 4): the events sendout itself produces about the
//! targets it delivers to (`sendout.webhook.disabled`, …), and the exact body a platform's
//! operational endpoint gets for one. Pure: the store records the incidents, the application
//! layer turns each into send outs with [`body`], and the worker delivers and signs them
//! like any other.
//!
//! The body is Voucherify-like: `{id, object: "event", type, created_at, project_id, data}`,
//! `data` holding the target, the reason, since when, the last response and links. Every
//! destination of one incident gets the same `id` (an event id, `evsen_…`), so a platform
//! receiving it twice (operator- and project-level) can tell.

use serde::Serialize;

use crate::ids::{EventId, ProjectId};
use crate::time::Timestamp;

/// The types of operational events, their names part of the contract (PRODUCT §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationalType {
    /// sendout disabled a webhook: its retries ran out, or it answered `410 Gone`.
    WebhookDisabled,
    /// A webhook has failed for the configured share of its retries.
    WebhookFailing,
    /// A webhook sendout had disabled was turned on again.
    WebhookEnabled,
    /// sendout paused a distribution.
    DistributionPaused,
    /// A distribution's channel has failed for the configured share of its retries.
    DistributionFailing,
    /// A distribution sendout had paused was set live again.
    DistributionLive,
    /// A send out of a webhook or channel was given up (`FAILED` after its retries, or `410`);
    /// at most one per target per coalescing window.
    SendOutExhausted,
}

impl OperationalType {
    pub const ALL: [Self; 7] = [
        Self::WebhookDisabled,
        Self::WebhookFailing,
        Self::WebhookEnabled,
        Self::DistributionPaused,
        Self::DistributionFailing,
        Self::DistributionLive,
        Self::SendOutExhausted,
    ];

    /// The event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebhookDisabled => "sendout.webhook.disabled",
            Self::WebhookFailing => "sendout.webhook.failing",
            Self::WebhookEnabled => "sendout.webhook.enabled",
            Self::DistributionPaused => "sendout.distribution.paused",
            Self::DistributionFailing => "sendout.distribution.failing",
            Self::DistributionLive => "sendout.distribution.live",
            Self::SendOutExhausted => "sendout.send_out.exhausted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The target an incident is about.
#[derive(Debug, Clone, Serialize)]
pub struct Target<'a> {
    /// `webhook` or `distribution`.
    pub object: &'a str,
    pub id: &'a str,
    pub url: Option<&'a str>,
    /// The channel's index, for a distribution's incident about one.
    pub channel: Option<u32>,
}

/// The last attempt of the send out that caused an incident.
#[derive(Debug, Clone, Serialize)]
pub struct LastResponse<'a> {
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    /// At most 4 KiB, as the audit log keeps it.
    pub body: Option<&'a str>,
}

/// Where a person or a script goes next.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    /// The target's failed send outs in the project API.
    pub send_outs: String,
    /// The same list in the dashboard.
    pub dashboard: String,
}

/// What happened, as recorded when it happened.
#[derive(Debug, Clone)]
pub struct Incident<'a> {
    pub kind: OperationalType,
    pub project_id: &'a ProjectId,
    pub target: Target<'a>,
    /// The send out that caused it, if one did (a re-enabling has none).
    pub send_out_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// When it happened.
    pub since: Timestamp,
    pub last_response: Option<LastResponse<'a>>,
}

#[derive(Serialize)]
struct SendOutRef<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct Data<'a> {
    target: &'a Target<'a>,
    send_out: Option<SendOutRef<'a>>,
    reason: Option<&'a str>,
    since: Timestamp,
    last_response: Option<&'a LastResponse<'a>>,
    links: Links,
}

/// The body on the wire; field order is the key order.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a EventId,
    object: &'static str,
    #[serde(rename = "type")]
    event_type: &'static str,
    created_at: Timestamp,
    project_id: &'a ProjectId,
    data: Data<'a>,
}

/// The links of an incident's target, from `public_url` (no trailing slash).
pub fn links(public_url: &str, project_id: &ProjectId, target_id: &str) -> Links {
    Links {
        send_outs: format!("{public_url}/v1/webhook-sendouts?source_id={target_id}&status=FAILED"),
        dashboard: format!(
            "{public_url}/dashboard/projects/{project_id}/audit-log?source={target_id}&status=FAILED"
        ),
    }
}

/// The compact JSON body of `incident` as the event `id`, made at `created_at`; links start
/// at `public_url`.
pub fn body(
    id: &EventId,
    incident: &Incident<'_>,
    created_at: Timestamp,
    public_url: &str,
) -> String {
    let body = Body {
        id,
        object: "event",
        event_type: incident.kind.as_str(),
        created_at,
        project_id: incident.project_id,
        data: Data {
            target: &incident.target,
            send_out: incident.send_out_id.map(|id| SendOutRef { id }),
            reason: incident.reason,
            since: incident.since,
            last_response: incident.last_response.as_ref(),
            links: links(public_url, incident.project_id, incident.target.id),
        },
    };
    serde_json::to_string(&body).expect("serializing an operational event cannot fail")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn types_read_back_as_written_and_name_their_id_prefix() {
        for kind in OperationalType::ALL {
            assert_eq!(OperationalType::parse(kind.as_str()), Some(kind));
            assert!(EventId::new(kind.as_str()).as_str().starts_with("evsen_"));
        }
        assert_eq!(OperationalType::parse("sendout.webhook.exploded"), None);
    }

    #[test]
    fn the_body_carries_the_target_reason_last_response_and_links() {
        let project = ProjectId::new();
        let id = EventId::new("sendout.webhook.disabled");
        let at = Timestamp::from_millis(1_700_000_000_000);
        let incident = Incident {
            kind: OperationalType::WebhookDisabled,
            project_id: &project,
            target: Target {
                object: "webhook",
                id: "wh_1",
                url: Some("https://shop.example/hook"),
                channel: None,
            },
            send_out_id: Some("whs_1"),
            reason: Some("the target answered 410 Gone"),
            since: at,
            last_response: Some(LastResponse {
                status: Some(410),
                error: None,
                body: Some("gone"),
            }),
        };
        let text = body(&id, &incident, at, "https://sendout.example");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            !text.contains(": ") && !text.contains(", "),
            "compact: {text}"
        );
        assert_eq!(json["id"], id.as_str());
        assert_eq!(json["object"], "event");
        assert_eq!(json["type"], "sendout.webhook.disabled");
        assert_eq!(json["created_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(json["project_id"], project.as_str());
        assert_eq!(json["data"]["target"]["id"], "wh_1");
        assert_eq!(json["data"]["send_out"]["id"], "whs_1");
        assert_eq!(json["data"]["last_response"]["status"], 410);
        assert_eq!(json["data"]["since"], "2023-11-14T22:13:20.000Z");
        assert_eq!(
            json["data"]["links"]["send_outs"],
            "https://sendout.example/v1/webhook-sendouts?source_id=wh_1&status=FAILED"
        );
    }
}
