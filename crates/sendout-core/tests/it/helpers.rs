//! What the distribution tests share: the seed's files, catalog examples, distribution
//! inputs and a channel body rendered as fan-out renders it.
#![allow(dead_code)]

use sendout_core::catalog::catalog;
use sendout_core::distribution::{
    DistributionError, DistributionInput, DistributionSpec, EventData, SendOutContext,
    WebhookChannel,
};
use sendout_core::envelope::{self, EventRef};
use sendout_core::ids::{DistributionId, EventId, GroupId, ProjectId, SendOutId};
use sendout_core::template::TooLarge;
use sendout_core::time::Timestamp;
use serde_json::{json, Value};

pub fn shared(file: &str) -> String {
    let path = format!(
        "{}/../../../shared/reference/voucherify/examples/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn example(trigger: &str) -> Value {
    catalog()
        .get(trigger)
        .and_then(|t| t.example_data())
        .cloned()
        .unwrap_or_else(|| panic!("{trigger} has an example"))
}

/// A valid distribution as JSON, for tests to alter.
pub fn distribution(trigger: &str, action: &str, payload: Value) -> Value {
    json!({
        "name": "Test distribution",
        "trigger": {"event": trigger},
        "action": action,
        "channels": [{
            "type": "webhook",
            "event_name": "Test-event",
            "url": "https://crm.example/hooks",
            "headers": {"X-Crm-Key": "abc"},
            "payload": payload,
        }],
    })
}

pub fn parse(input: Value) -> Result<DistributionSpec, DistributionError> {
    serde_json::from_value::<DistributionInput>(input)
        .expect("the input has the right shape")
        .parse()
}

pub fn spec(input: Value) -> DistributionSpec {
    parse(input).unwrap_or_else(|e| panic!("{e}"))
}

pub fn refusal(input: Value) -> DistributionError {
    match parse(input) {
        Ok(spec) => panic!("accepted: {spec:?}"),
        Err(error) => error,
    }
}

pub fn full() -> Value {
    json!({"mode": "full"})
}

pub fn custom(template: &str) -> Value {
    json!({"mode": "custom", "template": template})
}

/// Renders a channel's body for `data` with fresh ids, as fan-out does, without a bound.
pub fn body(channel: &WebhookChannel, trigger: &str, data: &Value) -> (String, Ids) {
    let (text, ids) = body_within(channel, trigger, data, usize::MAX);
    (text.expect("no bound to pass"), ids)
}

/// Renders a channel's body for `data` with fresh ids, as fan-out does, unless its payload
/// is longer than `limit` bytes.
pub fn body_within(
    channel: &WebhookChannel,
    trigger: &str,
    data: &Value,
    limit: usize,
) -> (Result<String, TooLarge>, Ids) {
    let ids = Ids::new(trigger);
    let raw = envelope::compact(data);
    let event_source = envelope::compact(&json!({"channel": "INTERNAL"}));
    let event = EventRef {
        id: &ids.event,
        event_type: trigger,
        created_at: ids.at,
        entity_id: Some("cust_1"),
        group_id: &ids.group,
        event_source: &event_source,
    };
    let context = SendOutContext {
        send_out_id: &ids.send_out,
        project_id: &ids.project,
        distribution_id: &ids.distribution,
        created_at: ids.at,
    };
    let text = channel.body(
        context,
        &event,
        EventData {
            raw: &raw,
            value: data,
        },
        limit,
    );
    (text, ids)
}

pub struct Ids {
    pub send_out: SendOutId,
    pub project: ProjectId,
    pub distribution: DistributionId,
    pub event: EventId,
    pub group: GroupId,
    pub at: Timestamp,
}

impl Ids {
    pub fn new(trigger: &str) -> Self {
        Self {
            send_out: SendOutId::new(),
            project: ProjectId::new(),
            distribution: DistributionId::new(),
            event: EventId::new(trigger),
            group: GroupId::new(),
            at: Timestamp::from_millis(1_704_107_471_111),
        }
    }
}
