//! What distribution channels send: the seed's templates on the catalog's examples, full and
//! attribute designs, the sample output / raw payload pair of Voucherify's payload designer,
//! the stored shape, and the support matrix of docs/DISTRIBUTIONS.md.

use crate::helpers;

use helpers::*;
use sendout_core::catalog::{catalog, Channel, Purpose};
use sendout_core::distribution::DistributionSpec;
use sendout_core::envelope;
use serde_json::{json, Value};

#[test]
fn the_order_confirmation_template_of_the_seed_sends_typed_and_mixed_values_in_data() {
    let template = shared("distribution.payload_templates.txt");
    let order_confirmation = template
        .split("\n\n\n")
        .nth(1)
        .expect("the second template of the seed");
    let made = spec(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(order_confirmation),
    ));
    let data = example("customer.order.paid");
    let (text, ids) = body(&made.channels()[0], "customer.order.paid", &data);
    let sent: Value = serde_json::from_str(&text).expect("the body is JSON");
    assert_eq!(
        sent["data"],
        json!({"order": {
            "orderId": data["order"]["id"],
            "total": data["order"]["total_amount"],
            "currency": "USD",
            "message": format!("Thank you for your order, {}!", data["customer"]["name"].as_str().expect("a name")),
        }})
    );
    assert!(sent["data"]["order"]["total"].is_number());
    assert_eq!(sent["type"], "Test-event");
    assert_eq!(sent["id"], ids.send_out.as_str());
    assert_eq!(
        sent["source"],
        json!({"id": ids.distribution.as_str(), "object": "distribution", "target_url": "https://crm.example/hooks"})
    );
    assert_eq!(sent["event"]["type"], "customer.order.paid");
    assert_eq!(sent["event"]["id"], ids.event.as_str());
}

#[test]
fn the_customer_summary_template_of_the_seed_renders_on_a_segment_trigger() {
    let template = shared("distribution.payload_templates.txt");
    let summary = template.split("\n\n\n").next().expect("the first template");
    let mut input = distribution(
        "customer.segment.entered",
        "NOTIFY_ABOUT_PROMOTION",
        custom(summary),
    );
    input["channels"][0]["payload"]["raw"] = json!(true);
    let made = spec(input);
    let data = example("customer.segment.entered");
    let (text, _) = body(&made.channels()[0], "customer.segment.entered", &data);
    let customer = &data["customer"];
    let text_of = |v: &Value| v.as_str().map_or(String::new(), str::to_owned);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON"),
        json!({"customer_profile": {
            "ID": text_of(&customer["id"]),
            "name": text_of(&customer["name"]),
            "email": text_of(&customer["email"]),
        }})
    );
}

#[test]
fn full_mode_embeds_the_ingested_data_byte_for_byte() {
    let made = spec(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        full(),
    ));
    let data = example("customer.order.paid");
    let (text, _) = body(&made.channels()[0], "customer.order.paid", &data);
    let compact = envelope::compact(&data);
    assert!(text.contains(&format!("\"data\":{}", compact.get())));
}

#[test]
fn attribute_mapping_builds_nested_objects() {
    let payload = json!({"mode": "attributes", "attributes": [
        {"path": "customer.source_id", "key": "user.id"},
        {"path": "customer.name", "key": "user.name"},
        {"path": "order.total_amount"}]});
    let made = spec(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        payload,
    ));
    let data = example("customer.order.paid");
    let (text, _) = body(&made.channels()[0], "customer.order.paid", &data);
    let sent: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        sent["data"],
        json!({"user": {"id": data["customer"]["source_id"], "name": data["customer"]["name"]},
               "order": {"total_amount": data["order"]["total_amount"]}})
    );
}

/// The payload designer's pair from Voucherify's docs: the same static template sent inside
/// the envelope ("sample output") and alone ("raw payload").
#[test]
fn the_sample_output_and_raw_payload_pair_of_the_payload_designer() {
    let raw_payload: Value =
        serde_json::from_str(&shared("distribution.payload_designer.raw_payload.json"))
            .expect("JSON");
    let sample: Value =
        serde_json::from_str(&shared("distribution.payload_designer.sample_output.json"))
            .expect("JSON");
    let trigger = sample["event"]["type"].as_str().expect("a trigger");
    let template = serde_json::to_string_pretty(&raw_payload).expect("serializable");
    let mut input = distribution(trigger, "SEND_PLAIN_MESSAGE", custom(&template));
    input["channels"][0]["url"] = sample["source"]["target_url"].clone();
    let data = example(trigger);

    let enveloped = spec(input.clone());
    let (text, _) = body(&enveloped.channels()[0], trigger, &data);
    let mut sent: Value = serde_json::from_str(&text).expect("JSON");
    // Ids, times, the event's details and the event name (empty in the sample, which sendout
    // does not allow) are the sample's own; everything else must be what sendout made.
    for key in ["id", "project_id", "created_at", "type"] {
        sent[key] = sample[key].clone();
    }
    sent["source"]["id"] = sample["source"]["id"].clone();
    sent["event"] = sample["event"].clone();
    assert_eq!(sent, sample);

    input["channels"][0]["payload"]["raw"] = json!(true);
    let raw = spec(input);
    let (text, _) = body(&raw.channels()[0], trigger, &data);
    assert_eq!(text, serde_json::to_string(&raw_payload).expect("compact"));
}

#[test]
fn a_spec_is_stored_in_the_resource_shape_and_reads_back_equal() {
    let mut input = distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(r#"{"order":{"id":"{{order.id}}","total":{{order.total_amount}}}}"#),
    );
    input["trigger"] =
        json!({"event": "customer.order.paid", "condition": {"campaign_id": "camp_autumn"}});
    let made = spec(input);
    let stored = serde_json::to_value(&made).expect("serializable");
    assert_eq!(
        stored["trigger"],
        json!({"event": "customer.order.paid", "condition": {"campaign_id": "camp_autumn"}})
    );
    assert_eq!(stored["action"], "SEND_PLAIN_MESSAGE");
    let channel = &stored["channels"][0];
    assert_eq!(channel["type"], "webhook");
    assert_eq!(channel["event_name"], "Test-event");
    assert_eq!(channel["headers"], json!({"x-crm-key": "abc"}));
    assert_eq!(channel["payload"]["mode"], "custom");
    assert_eq!(channel["payload"]["raw"], false);
    assert!(channel["payload"]["template"].is_string());
    let back: DistributionSpec = serde_json::from_value(stored).expect("reads back");
    assert_eq!(back, made);
}

/// The support matrix as docs/DISTRIBUTIONS.md shows it, made from the catalog.
fn support_matrix() -> String {
    let mark = |yes: bool| if yes { "✅" } else { "—" };
    let mut table = String::from(
        "| related activity | trigger | title | NOTIFY_ABOUT_PROMOTION | SEND_AND_PUBLISH_CODES \
         | SEND_PLAIN_MESSAGE | condition keys |\n|---|---|---|:-:|:-:|:-:|---|\n",
    );
    for group in catalog().groups(Channel::Distribution) {
        for trigger in group.types {
            let keys: Vec<String> = trigger
                .conditions()
                .iter()
                .map(|c| format!("`{}` (`{}`)", c.key, c.path))
                .collect();
            let keys = if keys.is_empty() {
                "—".to_owned()
            } else {
                keys.join(", ")
            };
            table.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} | {} |\n",
                group.name,
                trigger.name(),
                trigger.title_in(Channel::Distribution).unwrap_or_default(),
                mark(trigger.supports(Purpose::NotifyAboutPromotion)),
                mark(trigger.supports(Purpose::SendAndPublishCodes)),
                mark(trigger.supports(Purpose::SendPlainMessage)),
                keys,
            ));
        }
    }
    table
}

#[test]
fn the_support_matrix_in_the_docs_is_the_catalogs() {
    let path = format!("{}/../../docs/DISTRIBUTIONS.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let table = support_matrix();
    assert!(
        doc.contains(&table),
        "docs/DISTRIBUTIONS.md's support matrix is stale; replace it with:\n\n{table}"
    );
}
