//! The exact body a receiver gets (PRODUCT §3).
//!
//! A send out's body is built when the send out is created; every attempt and every retry
//! sends those same bytes, so receivers can de-duplicate on `id` and the signatures cover
//! exactly what the audit log shows. [`build`] is a pure function of its inputs, which the
//! store keeps as they were, so the embedded store may build a webhook's body again instead
//! of storing it (`sendout-store`, `sqlite/rows.rs`).
//!
//! Invariants:
//! - the body is compact JSON (no insignificant whitespace) with the keys in the documented
//!   order: `id, project_id, created_at, type, data, source{id, object, target_url},
//!   event{id, type, created_at, entity_id, group_id, event_source}`;
//! - `data` and `event_source` are embedded verbatim from [`RawValue`]s, so an event's data is
//!   serialized once (with [`compact`]) and copied into each of its send outs, key order intact;
//! - an event without an entity has `"entity_id":null`, as Voucherify sends it, so receivers
//!   always find the key.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::ids::{DistributionId, EventId, GroupId, ProjectId, SendOutId, WebhookId};
use crate::time::Timestamp;

/// What kind of target a send out belongs to: the `source.object` of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceObject {
    /// A project-settings webhook (`wh_…`).
    Webhook,
    /// One webhook channel of a distribution (`distr_…`).
    Distribution,
}

/// The `source` object: which webhook or distribution the send out was made for.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SourceRef<'a> {
    /// The webhook's or the distribution's id.
    pub id: &'a str,
    /// Whether `id` names a webhook or a distribution.
    pub object: SourceObject,
    /// The URL the body is posted to.
    pub target_url: &'a str,
}

impl<'a> SourceRef<'a> {
    /// The source of a project-settings webhook's send out.
    pub fn webhook(id: &'a WebhookId, target_url: &'a str) -> Self {
        Self {
            id: id.as_str(),
            object: SourceObject::Webhook,
            target_url,
        }
    }

    /// The source of a distribution channel's send out (`target_url` is the channel's URL).
    pub fn distribution(id: &'a DistributionId, target_url: &'a str) -> Self {
        Self {
            id: id.as_str(),
            object: SourceObject::Distribution,
            target_url,
        }
    }
}

/// The `event` object: the event that caused the send out.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EventRef<'a> {
    /// The event's id.
    pub id: &'a EventId,
    /// The event's type; for a distribution channel, the trigger.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// When the event happened.
    pub created_at: Timestamp,
    /// The object the event is about; `None` is written as `null`.
    pub entity_id: Option<&'a str>,
    /// The request group the event belongs to.
    pub group_id: &'a GroupId,
    /// Who caused the event, as compact JSON (`{"channel":"API","api_key":{…}}`).
    pub event_source: &'a RawValue,
}

/// The whole body, borrowed from its parts; field order is the key order on the wire.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a SendOutId,
    project_id: &'a ProjectId,
    created_at: Timestamp,
    #[serde(rename = "type")]
    envelope_type: &'a str,
    data: &'a RawValue,
    source: &'a SourceRef<'a>,
    event: &'a EventRef<'a>,
}

/// Room for the envelope around `data` and `event_source`, so the buffer rarely regrows.
const ENVELOPE_OVERHEAD: usize = 512;

/// Builds the body of a send out.
///
/// `envelope_type` is the event's type for a webhook, and the channel's event name for a
/// distribution channel (whose `event.event_type` is the trigger). `data` must be compact
/// JSON, as [`compact`] makes it; it is embedded byte for byte.
pub fn build(
    send_out_id: &SendOutId,
    project_id: &ProjectId,
    created_at: Timestamp,
    envelope_type: &str,
    data: &RawValue,
    source: &SourceRef<'_>,
    event: &EventRef<'_>,
) -> String {
    let envelope = Envelope {
        id: send_out_id,
        project_id,
        created_at,
        envelope_type,
        data,
        source,
        event,
    };
    let capacity = data.get().len()
        + event.event_source.get().len()
        + source.target_url.len()
        + ENVELOPE_OVERHEAD;
    let mut buffer = Vec::with_capacity(capacity);
    // Writing strings, ids, timestamps and raw JSON into a Vec has no failure case.
    serde_json::to_writer(&mut buffer, &envelope).expect("serializing an envelope cannot fail");
    String::from_utf8(buffer).expect("serde_json writes UTF-8")
}

/// The body of a raw-payload distribution channel: the rendered value alone, no envelope.
/// The value must be compact JSON, as [`compact`] makes it.
pub fn raw_body(value: &RawValue) -> String {
    value.get().to_owned()
}

/// Removes insignificant whitespace from valid JSON text, leaving everything else as is.
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

/// Serializes a JSON value once, compactly and with its key order kept, for embedding into
/// any number of envelopes.
pub fn compact(value: &serde_json::Value) -> Box<RawValue> {
    let text = serde_json::to_string(value).expect("serializing a JSON value cannot fail");
    RawValue::from_string(text).expect("serde_json's own output is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn minify_keeps_strings_and_numbers_exactly() {
        let text = "{ \"a b\" : [ 1.10 , 2e3 ] ,\n\t\"c\\\" d\": \"x  y\\\\\" , \"e\": {} }";
        assert_eq!(
            minify(text),
            r#"{"a b":[1.10,2e3],"c\" d":"x  y\\","e":{}}"#
        );
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("the envelope is JSON")
    }

    #[test]
    fn keys_come_in_the_documented_order_and_entity_id_defaults_to_null() {
        let (send_out, project, webhook) = (SendOutId::new(), ProjectId::new(), WebhookId::new());
        let (event_id, group) = (EventId::new("voucher.created"), GroupId::new());
        let at = Timestamp::from_millis(1_704_107_471_111);
        let data = compact(&json!({"z": 1, "a": {"y": true, "b": null}}));
        let event_source = compact(&json!({"channel": "API"}));
        let event = EventRef {
            id: &event_id,
            event_type: "voucher.created",
            created_at: at,
            entity_id: None,
            group_id: &group,
            event_source: &event_source,
        };
        let source = SourceRef::webhook(&webhook, "https://example.com/hook");
        let body = build(
            &send_out,
            &project,
            at,
            "voucher.created",
            &data,
            &source,
            &event,
        );
        let expected = format!(
            concat!(
                r#"{{"id":"{}","project_id":"{}","created_at":"2024-01-01T11:11:11.111Z","#,
                r#""type":"voucher.created","data":{{"z":1,"a":{{"y":true,"b":null}}}},"#,
                r#""source":{{"id":"{}","object":"webhook","target_url":"https://example.com/hook"}},"#,
                r#""event":{{"id":"{}","type":"voucher.created","created_at":"2024-01-01T11:11:11.111Z","#,
                r#""entity_id":null,"group_id":"{}","event_source":{{"channel":"API"}}}}}}"#
            ),
            send_out, project, webhook, event_id, group
        );
        assert_eq!(body, expected);
    }

    #[test]
    fn strings_are_escaped_and_unicode_survives() {
        let (send_out, project, distribution) =
            (SendOutId::new(), ProjectId::new(), DistributionId::new());
        let (event_id, group) = (EventId::new("customer.order.paid"), GroupId::new());
        let url = "https://example.com/\"quoted\"/\u{1}\n/żółć/😀";
        let data = compact(&json!({"name": "Zoë \"Z\" \u{0}\t", "emoji": "🎉"}));
        let event_source = compact(&json!({"channel": "API"}));
        let event = EventRef {
            id: &event_id,
            event_type: "customer.order.paid",
            created_at: Timestamp::from_millis(0),
            entity_id: Some("cust_\"x\""),
            group_id: &group,
            event_source: &event_source,
        };
        let source = SourceRef::distribution(&distribution, url);
        let body = build(
            &send_out,
            &project,
            Timestamp::from_millis(0),
            "Order \"paid\"",
            &data,
            &source,
            &event,
        );
        assert!(!body.contains('\n') && !body.contains('\u{1}'));
        assert!(body.contains(r#"\"quoted\"/\u0001\n/żółć/😀"#));
        let parsed = parse(&body);
        assert_eq!(parsed["source"]["target_url"], url);
        assert_eq!(parsed["source"]["object"], "distribution");
        assert_eq!(parsed["type"], "Order \"paid\"");
        assert_eq!(parsed["data"]["name"], "Zoë \"Z\" \u{0}\t");
        assert_eq!(parsed["event"]["entity_id"], "cust_\"x\"");
    }

    #[test]
    fn raw_bodies_are_the_compact_value_alone() {
        let value = compact(&json!({"b": [1, 2, {"c": "d"}], "a": "x y"}));
        assert_eq!(raw_body(&value), r#"{"b":[1,2,{"c":"d"}],"a":"x y"}"#);
    }

    /// Rebuilds a Voucherify example envelope from its own parts (with fresh ids, since the
    /// examples' ids are placeholders) and compares it to the example, byte for byte.
    fn rebuilds_example(file: &str) {
        let path = format!(
            "{}/../../../shared/reference/voucherify/examples/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("the example is readable");
        let mut example = parse(&text);
        let (send_out, project, group) = (SendOutId::new(), ProjectId::new(), GroupId::new());
        let event_type = example["event"]["type"]
            .as_str()
            .expect("event.type")
            .to_owned();
        let event_id = EventId::new(&event_type);
        let (webhook, distribution) = (WebhookId::new(), DistributionId::new());
        let source_id = match example["source"]["object"].as_str() {
            Some("webhook") => webhook.to_string(),
            _ => distribution.to_string(),
        };
        example["id"] = json!(send_out);
        example["project_id"] = json!(project);
        example["source"]["id"] = json!(source_id);
        example["event"]["id"] = json!(event_id);
        example["event"]["group_id"] = json!(group);

        let timestamp = |value: &Value| {
            Timestamp::parse(value.as_str().expect("a timestamp")).expect("valid timestamp")
        };
        let data = compact(&example["data"]);
        let event_source = compact(&example["event"]["event_source"]);
        let target_url = example["source"]["target_url"]
            .as_str()
            .expect("target_url");
        let source = match example["source"]["object"].as_str() {
            Some("webhook") => SourceRef::webhook(&webhook, target_url),
            _ => SourceRef::distribution(&distribution, target_url),
        };
        let event = EventRef {
            id: &event_id,
            event_type: &event_type,
            created_at: timestamp(&example["event"]["created_at"]),
            entity_id: example["event"]["entity_id"].as_str(),
            group_id: &group,
            event_source: &event_source,
        };
        let body = build(
            &send_out,
            &project,
            timestamp(&example["created_at"]),
            example["type"].as_str().expect("type"),
            &data,
            &source,
            &event,
        );
        let expected = serde_json::to_string(&example).expect("serializable");
        assert_eq!(body, expected, "{file}");
    }

    #[test]
    fn a_project_webhook_envelope_matches_voucherify_example() {
        rebuilds_example("voucher.published.full_envelope.project_webhook.json");
    }

    #[test]
    fn a_distribution_envelope_matches_voucherify_example() {
        rebuilds_example("customer.redemption.succeeded.full_envelope.distribution_webhook.json");
    }
}
