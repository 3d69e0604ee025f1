//! Distribution rules against the catalog and the seed (seeds/003): the support matrix, the
//! conditions each trigger carries, and payload designs checked against the trigger's data.

use crate::helpers;

use helpers::*;
use sendout_core::catalog::{catalog, Channel, ConditionKey, Purpose};
use sendout_core::distribution::{DistributionError, MAX_CHANNELS};
use serde_json::{json, Value};

#[test]
fn every_supported_trigger_and_purpose_pair_of_the_seed_matrix_is_accepted() {
    let mut accepted = 0;
    for trigger in catalog().by_channel(Channel::Distribution) {
        for purpose in trigger.purposes() {
            spec(distribution(trigger.name(), purpose.as_str(), full()));
            accepted += 1;
        }
    }
    // The seed's table: 7 triggers with all three purposes, the manual schedule with two,
    // 19 with plain messages only.
    assert_eq!(accepted, 7 * 3 + 2 + 19);
}

#[test]
fn every_unsupported_pair_is_refused_naming_the_actions_the_trigger_allows() {
    let mut refused = 0;
    for trigger in catalog().by_channel(Channel::Distribution) {
        for purpose in Purpose::ALL.into_iter().filter(|p| !trigger.supports(*p)) {
            let error = refusal(distribution(trigger.name(), purpose.as_str(), full()));
            assert_eq!(error.key(), "unsupported_action", "{}", trigger.name());
            assert!(error.is_semantic());
            let message = error.to_string();
            for allowed in trigger.purposes() {
                assert!(message.contains(allowed.as_str()), "{message}");
            }
            refused += 1;
        }
    }
    assert_eq!(refused, 27 * 3 - (7 * 3 + 2 + 19));
}

#[test]
fn an_unknown_action_is_refused_with_the_allowed_ones() {
    let error = refusal(distribution("customer.referred", "SEND_SMS", full()));
    assert_eq!(error.key(), "unsupported_action");
    assert!(error.to_string().contains("SEND_PLAIN_MESSAGE"), "{error}");
}

#[test]
fn project_settings_events_and_unknown_names_are_not_triggers() {
    let error = refusal(distribution(
        "voucher.published",
        "SEND_PLAIN_MESSAGE",
        full(),
    ));
    assert_eq!(error.key(), "unknown_trigger");
    assert!(
        error.to_string().contains("customer.segment.entered"),
        "{error}"
    );
    let error = refusal(distribution(
        "customer.teleported",
        "SEND_PLAIN_MESSAGE",
        full(),
    ));
    assert_eq!(error.key(), "unknown_trigger");
    assert!(error.to_string().contains("customer.teleported"), "{error}");
}

#[test]
fn each_condition_key_is_accepted_exactly_where_the_trigger_carries_it() {
    let keys = [
        ConditionKey::SegmentId,
        ConditionKey::CampaignId,
        ConditionKey::CustomEvent,
        ConditionKey::LoyaltyTierId,
    ];
    for trigger in catalog().by_channel(Channel::Distribution) {
        let action = trigger.purposes()[0].as_str();
        for key in keys {
            let mut input = distribution(trigger.name(), action, full());
            input["trigger"]["condition"] = json!({key.as_str(): "value_1"});
            let carried = trigger.condition_keys().any(|k| k == key);
            match parse(input) {
                Ok(spec) => {
                    assert!(carried, "{} took {key}", trigger.name());
                    assert_eq!(spec.trigger().condition()[&key], "value_1");
                }
                Err(error) => {
                    assert!(!carried, "{} refused {key}: {error}", trigger.name());
                    assert_eq!(error.key(), "unsupported_condition");
                    for allowed in trigger.condition_keys() {
                        assert!(error.to_string().contains(allowed.as_str()), "{error}");
                    }
                }
            }
        }
    }
}

#[test]
fn condition_values_must_be_short_non_blank_text() {
    for value in ["", "   ", &"x".repeat(201)] {
        let mut input = distribution("customer.segment.entered", "SEND_PLAIN_MESSAGE", full());
        input["trigger"]["condition"] = json!({"segment_id": value});
        let error = refusal(input);
        assert!(!error.is_semantic(), "{error}");
        assert!(error
            .to_string()
            .starts_with("trigger.condition.segment_id"));
    }
}

#[test]
fn a_segment_trigger_refuses_redemption_date_naming_it_and_what_the_trigger_offers() {
    let template = r#"{"when": "{{redemption.date}}", "who": "{{customer.name}}"}"#;
    let error = refusal(distribution(
        "customer.segment.entered",
        "SEND_PLAIN_MESSAGE",
        custom(template),
    ));
    assert_eq!(error.key(), "unknown_template_path");
    let message = error.to_string();
    assert!(
        message.starts_with("channels[0].payload.template"),
        "{message}"
    );
    assert!(message.contains("`redemption.date`"), "{message}");
    assert!(!message.contains("`customer.name` is not"), "{message}");
    assert!(
        message.contains("`customer`") && message.contains("`segment`"),
        "{message}"
    );
    assert!(message.contains("GET /v1/event-types/customer.segment.entered"));
}

#[test]
fn unknown_paths_come_with_suggestions() {
    let error = refusal(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(r#"{"total": {{order.total_amout}}}"#),
    ));
    let DistributionError::UnknownPaths { unknown, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(unknown[0].path, "order.total_amout");
    assert!(unknown[0]
        .suggestions
        .iter()
        .any(|s| s == "order.total_amount"));
}

#[test]
fn a_template_that_does_not_parse_is_refused_with_its_line_and_column() {
    let error = refusal(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom("{\n  \"total\": {{order.total_amount}\n}"),
    ));
    let DistributionError::TemplateSyntax {
        field,
        error: syntax,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(field, "channels[0].payload.template");
    assert_eq!(syntax.line, 2);
    assert!(error.is_semantic());
}

#[test]
fn attribute_paths_are_checked_against_the_trigger_too() {
    let payload = json!({"mode": "attributes", "attributes": [{"path": "redemption.date"}]});
    let error = refusal(distribution(
        "customer.segment.left",
        "SEND_PLAIN_MESSAGE",
        payload,
    ));
    assert_eq!(error.key(), "unknown_template_path");
    assert!(error
        .to_string()
        .starts_with("channels[0].payload.attributes"));
    let clash = json!({"mode": "attributes", "attributes": [
        {"path": "customer.id", "key": "user"}, {"path": "customer.name", "key": "user.name"}]});
    let error = refusal(distribution(
        "customer.segment.left",
        "SEND_PLAIN_MESSAGE",
        clash,
    ));
    assert_eq!(error.key(), "invalid_attributes");
}

#[test]
fn the_purpose_dependent_keys_are_the_scenario_keys_of_the_spec() {
    use Purpose::*;
    let paid = catalog()
        .get("customer.order.paid")
        .expect("in the catalog");
    assert_eq!(
        paid.key_purposes("campaign"),
        Some(&[NotifyAboutPromotion, SendAndPublishCodes][..])
    );
    assert_eq!(
        paid.key_purposes("voucher"),
        Some(&[SendAndPublishCodes][..])
    );
    assert_eq!(
        paid.key_purposes("publication"),
        Some(&[SendAndPublishCodes][..])
    );
    assert_eq!(
        paid.key_purposes("promotion_tier"),
        Some(&[NotifyAboutPromotion][..])
    );
    assert_eq!(paid.key_purposes("order"), None);
    // A trigger's own `voucher` is shared: every purpose it supports gets it.
    let redeemed = catalog()
        .get("customer.redemption.succeeded")
        .expect("in the catalog");
    assert_eq!(redeemed.purpose_keys().count(), 0);
    // The manual schedule supports both campaign purposes, so its `campaign` is shared.
    let manual = catalog()
        .get("manual_distribution_schedule")
        .expect("in the catalog");
    assert_eq!(manual.key_purposes("campaign"), None);
    assert_eq!(
        manual.key_purposes("voucher"),
        Some(&[SendAndPublishCodes][..])
    );
    // Every listed key is a key of the data, and names only purposes the trigger supports.
    for trigger in catalog().by_channel(Channel::Distribution) {
        for (key, purposes) in trigger.purpose_keys() {
            assert!(trigger.data_keys().key(key).is_some(), "{key}");
            assert!(purposes.iter().all(|p| trigger.supports(*p)), "{key}");
        }
    }
}

#[test]
fn the_keys_offered_follow_the_action() {
    let entered = catalog()
        .get("customer.segment.entered")
        .expect("in the catalog");
    let top = |purpose: Purpose| -> Vec<String> {
        entered
            .data_keys_for(purpose)
            .keys()
            .map(|(k, _)| k.to_owned())
            .collect()
    };
    assert_eq!(top(Purpose::SendPlainMessage), ["customer", "segment"]);
    assert_eq!(
        top(Purpose::SendAndPublishCodes),
        ["customer", "segment", "campaign", "voucher", "publication"]
    );
    assert_eq!(
        top(Purpose::NotifyAboutPromotion),
        ["customer", "segment", "campaign", "promotion_tier"]
    );
}

#[test]
fn a_key_the_action_does_not_get_is_refused_naming_the_key_and_the_action() {
    let template = r#"{"code": "{{voucher.code}}", "who": "{{customer.name}}"}"#;
    let error = refusal(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(template),
    ));
    assert_eq!(error.key(), "key_not_for_action");
    assert!(error.is_semantic());
    let message = error.to_string();
    assert!(
        message.starts_with("channels[0].payload.template: `voucher.code`"),
        "{message}"
    );
    assert!(message.contains("SEND_PLAIN_MESSAGE"), "{message}");
    assert!(
        message.contains("`voucher` comes only with SEND_AND_PUBLISH_CODES"),
        "{message}"
    );
    assert!(!message.contains("customer.name"), "{message}");
    // The same template is what a code-publishing distribution sends.
    spec(distribution(
        "customer.order.paid",
        "SEND_AND_PUBLISH_CODES",
        custom(template),
    ));
    // A promotion tier belongs to promotions; an attribute is checked as a template is.
    let attributes = json!({"mode": "attributes", "attributes": [
        {"path": "customer.id"}, {"path": "promotion_tier.name", "key": "tier"}]});
    let error = refusal(distribution(
        "customer.segment.left",
        "SEND_AND_PUBLISH_CODES",
        attributes.clone(),
    ));
    assert_eq!(error.key(), "key_not_for_action");
    assert!(error
        .to_string()
        .starts_with("channels[0].payload.attributes: `promotion_tier.name`"));
    spec(distribution(
        "customer.segment.left",
        "NOTIFY_ABOUT_PROMOTION",
        attributes,
    ));
    // A path the data does not carry at all is still an unknown path.
    let error = refusal(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(r#"{"x": "{{voucher.nope}}"}"#),
    ));
    assert_eq!(error.key(), "unknown_template_path");
}

#[test]
fn payload_modes_take_only_their_own_settings() {
    let cases = [
        json!({"mode": "fancy"}),
        json!({"mode": "full", "template": "{}"}),
        json!({"mode": "custom"}),
        json!({"mode": "attributes"}),
        json!({"mode": "custom", "template": "{}", "attributes": []}),
    ];
    for payload in cases {
        let error = refusal(distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            payload.clone(),
        ));
        assert!(!error.is_semantic(), "{payload}: {error}");
        assert!(
            error.to_string().starts_with("channels[0].payload."),
            "{error}"
        );
    }
}

#[test]
fn channels_number_one_to_the_maximum() {
    let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
    input["channels"] = json!([]);
    assert!(refusal(input.clone()).to_string().starts_with("channels:"));
    let channel =
        distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full())["channels"][0].clone();
    input["channels"] = Value::Array(vec![channel.clone(); MAX_CHANNELS]);
    assert_eq!(spec(input.clone()).channels().len(), MAX_CHANNELS);
    input["channels"] = Value::Array(vec![channel; MAX_CHANNELS + 1]);
    assert!(!refusal(input).is_semantic());
}

#[test]
fn event_names_are_printable_text_in_any_script_of_one_to_a_hundred_characters() {
    for good in [
        "Order-paid",
        "loyalty.points:gained",
        "A",
        "Voucher redeemed 2",
        "Zamówienie opłacone",
        "注文支払い済み",
        "Заказ оплачен",
        "طلب مدفوع",
        "Order \"paid\" 🎉",
        "-dash/and (brackets)",
        &"x".repeat(100),
        &"ż".repeat(100),
    ] {
        let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
        input["channels"][0]["event_name"] = json!(good);
        assert_eq!(spec(input).channels()[0].event_name().as_str(), good);
    }
    for (bad, why) in [
        ("", "it is empty"),
        ("   ", "it is only spaces"),
        (" padded", "must not start or end with a space"),
        ("padded\u{a0}", "must not start or end with a space"),
        ("new\nline", "U+000A is a control character"),
        ("tab\there", "U+0009 is a control character"),
        ("nul\u{0}", "U+0000 is a control character"),
        ("del\u{7f}", "U+007F is a control character"),
        ("next\u{85}line", "U+0085 is a control character"),
        ("line\u{2028}sep", "U+2028 is a line or paragraph separator"),
        ("evil\u{202e}dap", "U+202E is a bidirectional control"),
        ("iso\u{2066}late", "U+2066 is a bidirectional control"),
        ("non\u{ffff}char", "U+FFFF is a noncharacter"),
        (&"x".repeat(101), "longer than 100 characters"),
        (&"ż".repeat(101), "longer than 100 characters"),
    ] {
        let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
        input["channels"][0]["event_name"] = json!(bad);
        let error = refusal(input).to_string();
        assert!(
            error.starts_with("channels[0].event_name") && error.contains(why),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn urls_channel_types_and_names_are_checked() {
    let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
    input["channels"][0]["url"] = json!("ftp://crm.example/");
    assert!(refusal(input).to_string().starts_with("channels[0].url"));
    let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
    input["channels"][0]["type"] = json!("email");
    assert!(refusal(input).to_string().starts_with("channels[0].type"));
    let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
    input["name"] = json!("  ");
    assert!(refusal(input).to_string().starts_with("name"));
}

#[test]
fn triggers_match_their_type_and_every_condition_value() {
    let mut input = distribution("customer.segment.entered", "SEND_PLAIN_MESSAGE", full());
    input["trigger"]["condition"] = json!({"segment_id": "seg_vip"});
    let made = spec(input);
    let mut data = example("customer.segment.entered");
    data["segment"]["id"] = json!("seg_vip");
    assert!(made.matches("customer.segment.entered", &data));
    assert!(!made.matches("customer.segment.left", &data));
    data["segment"]["id"] = json!("seg_other");
    assert!(!made.matches("customer.segment.entered", &data));
    data["segment"] = json!(null);
    assert!(!made.matches("customer.segment.entered", &data));

    let mut input = distribution(
        "customer.loyalty.tier.upgraded",
        "SEND_PLAIN_MESSAGE",
        full(),
    );
    input["trigger"]["condition"] = json!({"campaign_id": "camp_1", "loyalty_tier_id": "12"});
    let made = spec(input);
    let data = json!({"campaign": {"id": "camp_1"}, "loyalty_tier_to": {"id": 12}});
    assert!(
        made.matches("customer.loyalty.tier.upgraded", &data),
        "numbers match by text"
    );
    let data = json!({"campaign": {"id": "camp_2"}, "loyalty_tier_to": {"id": 12}});
    assert!(
        !made.matches("customer.loyalty.tier.upgraded", &data),
        "every key must match"
    );
}

#[test]
fn an_order_trigger_narrowed_by_campaign_matches_only_that_campaigns_orders() {
    // PRODUCT §6's example trigger, as written there.
    let mut input = distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(r#"{"order":{"id":"{{order.id}}","total":{{order.total_amount}}}}"#),
    );
    input["trigger"] =
        json!({"event": "customer.order.paid", "condition": {"campaign_id": "camp_autumn"}});
    let made = spec(input);
    let mut data = example("customer.order.paid");
    assert!(
        !made.matches("customer.order.paid", &data),
        "an order without a campaign is not the named campaign's"
    );
    data["campaign"] = json!({"id": "camp_autumn", "name": "Autumn-2025"});
    assert!(made.matches("customer.order.paid", &data));
    assert!(!made.matches("customer.order.created", &data));
    data["campaign"]["id"] = json!("camp_spring");
    assert!(!made.matches("customer.order.paid", &data));
}

#[test]
fn a_custom_event_condition_matches_the_events_name() {
    let mut input = distribution("customer.custom_event", "NOTIFY_ABOUT_PROMOTION", full());
    input["trigger"]["condition"] = json!({"custom_event": "sign_up"});
    let made = spec(input);
    let mut data = example("customer.custom_event");
    assert!(made.matches("customer.custom_event", &data));
    data["event"]["type"] = json!("newsletter");
    assert!(!made.matches("customer.custom_event", &data));
}

#[test]
fn a_channel_marks_some_of_its_own_headers_public_and_nothing_else() {
    let mut input = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
    input["channels"][0]["headers"] = json!({"X-Crm-Key": "abc", "X-Tenant": "acme"});
    input["channels"][0]["public_headers"] = json!(["X-TENANT"]);
    let made = spec(input.clone());
    let public = made.channels()[0].public_headers();
    assert!(public.contains("x-tenant") && !public.contains("x-crm-key"));
    let stored = serde_json::to_value(&made).expect("serializable");
    assert_eq!(stored["channels"][0]["public_headers"], json!(["x-tenant"]));

    for (public, reason) in [
        (json!(["x-other"]), "is not one of the custom headers"),
        (json!(["x_bad"]), "only letters, digits and dashes"),
    ] {
        input["channels"][0]["public_headers"] = public;
        let error = refusal(input.clone());
        assert_eq!(error.field().to_string(), "channels[0].public_headers");
        assert!(error.to_string().contains(reason), "{error}");
        assert!(!error.is_semantic());
    }
}

#[test]
fn a_channel_stored_before_public_headers_existed_reads_with_none() {
    let made = spec(distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        full(),
    ));
    let mut stored = serde_json::to_value(&made).expect("serializable");
    stored["channels"][0]
        .as_object_mut()
        .expect("a channel object")
        .remove("public_headers");
    let read: sendout_core::distribution::DistributionSpec =
        serde_json::from_value(stored).expect("an old channel reads");
    assert!(read.channels()[0].public_headers().is_empty());
    assert_eq!(read.channels()[0].headers(), made.channels()[0].headers());
}
