//! Property tests of the ingest parser (`http::events::parse_events`), the one function every
//! event passes through: whatever JSON arrives, the answer is an acceptance or a 4xx, and an
//! accepted event's `data` is the client's, byte for byte (less insignificant whitespace).

use proptest::prelude::*;
use sendout::http::events::parse_events;
use sendout_core::ids::{GroupId, ProjectId};
use sendout_core::time::Timestamp;
use sendout_store::Project;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

fn project() -> Project {
    let now = Timestamp::now();
    Project {
        id: ProjectId::new(),
        name: "Properties".into(),
        description: None,
        timezone: "Etc/UTC".into(),
        webhook_version: "v2024-01-01".into(),
        webhook_token: "properties-webhook-token".into(),
        previous_webhook_token: None,
        previous_token_expires_at: None,
        app_id: "properties-app".into(),
        app_token_hash: String::new(),
        callout_notifications: Default::default(),
        operational_webhook_url: None,
        created_at: now,
        updated_at: now,
    }
}

/// Any JSON value, a few levels deep, with awkward strings and numbers.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[ \\t\\n\"\\\\{}:,]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(any::<String>(), json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

/// An event-shaped object: known and unknown fields with any values.
fn event_like() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("type".to_owned()),
        Just("data".to_owned()),
        Just("entity_id".to_owned()),
        Just("group_id".to_owned()),
        Just("event_source".to_owned()),
        Just("created_at".to_owned()),
        any::<String>(),
    ];
    let value = prop_oneof![
        json_value(),
        Just(Value::from("voucher.published")),
        object().prop_map(Value::Object),
    ];
    prop::collection::btree_map(field, value, 0..7)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn parse(
    text: &str,
) -> Result<(bool, Vec<sendout_store::NewEvent>), sendout::http::error::ApiError> {
    let body = RawValue::from_string(text.to_owned()).expect("the generator makes JSON");
    parse_events(&body, &project(), GroupId::new(), Timestamp::now())
}

proptest! {
    // Failures print their seed; no regression files beside the sources.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn an_event_of_a_known_type_keeps_its_data_byte_for_byte(
        data in object(),
        type_name in prop::sample::select(vec!["voucher.published", "redemption.succeeded", "customer.created", "customer.segment.entered"]),
        pretty in any::<bool>(),
    ) {
        let event = serde_json::json!({"type": type_name, "data": data});
        let text = if pretty { serde_json::to_string_pretty(&event) } else { serde_json::to_string(&event) }.unwrap();
        let (is_batch, events) = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!is_batch);
        prop_assert_eq!(events.len(), 1);
        // Byte for byte what the client sent, less insignificant whitespace.
        let compact = serde_json::to_string(&Value::Object(data)).unwrap();
        prop_assert_eq!(events[0].data.get(), compact.as_str());
    }

    #[test]
    fn any_json_body_is_accepted_or_refused_with_a_4xx(
        body in prop_oneof![
            json_value(),
            event_like(),
            prop::collection::vec(event_like(), 0..4).prop_map(Value::Array),
            prop::collection::vec(event_like(), 0..4).prop_map(|events| serde_json::json!({"events": events})),
        ],
    ) {
        let text = serde_json::to_string(&body).unwrap();
        match parse(&text) {
            Ok((_, events)) => {
                for event in events {
                    let data: Value = serde_json::from_str(event.data.get()).unwrap();
                    prop_assert!(data.is_object());
                }
            }
            Err(error) => prop_assert!(error.status().is_client_error(), "{}", error),
        }
    }

    #[test]
    fn arbitrary_bytes_never_break_the_fuzzed_parsers(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        crate::hostile_input::fuzz_checks::ingest_body(&bytes);
        crate::hostile_input::fuzz_checks::template(&bytes);
        crate::hostile_input::fuzz_checks::management_body(&bytes);
    }
}
