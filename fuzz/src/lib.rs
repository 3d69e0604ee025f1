//! What the fuzz targets check, as plain functions of the input bytes: the same functions run
//! under libFuzzer (`fuzz_targets/`, driven by `scripts/fuzz.sh`) and over the committed
//! corpus as an ordinary test (`crates/sendout/tests/it/hostile_input.rs`), so a case the fuzzer
//! once found stays tested in CI.
//!
//! Every function must return for any input; a panic is a finding. Beyond "no panic", each
//! checks what the product promises about bad input (PRODUCT §8): a clear 4xx refusal, never a
//! 5xx, and for accepted input the invariants the rest of the pipeline relies on.

use sendout_core::ids::{GroupId, ProjectId};
use sendout_core::template::{Path, Segment, Template};
use sendout_core::time::Timestamp;
use sendout_store::Project;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// Values that try to break out of a JSON string or confuse a renderer.
fn hostile_values() -> Vec<Value> {
    vec![
        json!("\"},{\"injected\":true,\"x\":\""),
        json!("back\\slash \u{0} nul \u{1f} unit sep \u{2028} line sep"),
        json!("{{nested.placeholder}} </script><script>alert(1)</script>"),
        json!("zażółć gęślą jaźń 🦀"),
        json!(u64::MAX),
        json!(-0.0),
        json!(1.7976931348623157e308),
        json!(null),
        json!(true),
        json!([1, "two", {"three": [3]}]),
        json!({"a": {"b": "\"c\""}}),
    ]
}

/// Sets `value` at `path` inside `data`, creating objects and (short) arrays on the way.
fn put(data: &mut Value, segments: &[Segment], value: Value) {
    let Some((first, rest)) = segments.split_first() else {
        *data = value;
        return;
    };
    let slot = match first {
        Segment::Key(key) => {
            if !data.is_object() {
                *data = Value::Object(Map::new());
            }
            let Some(object) = data.as_object_mut() else {
                return;
            };
            object.entry(key.clone()).or_insert(Value::Null)
        }
        Segment::Index(index) if *index < 16 => {
            if !data.is_array() {
                *data = Value::Array(Vec::new());
            }
            let Some(array) = data.as_array_mut() else {
                return;
            };
            if array.len() <= *index {
                array.resize(*index + 1, Value::Null);
            }
            &mut array[*index]
        }
        Segment::Index(_) => return,
    };
    put(slot, rest, value);
}

/// Data in which every path of `paths` holds one of the hostile values.
fn data_for<'a>(paths: impl Iterator<Item = &'a Path>, shift: usize) -> Value {
    let values = hostile_values();
    let mut data = Value::Object(Map::new());
    for (i, path) in paths.enumerate() {
        let value = values[(i + shift) % values.len()].clone();
        put(&mut data, path.segments(), value);
    }
    data
}

/// Equal JSON values, numbers within a few ulps: serde_json (without `float_roundtrip`) may
/// read a long literal and its shortest spelling one ulp apart.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => {
                x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

/// The payload template parser and renderer: any text either parses, or is refused with a
/// position inside the text; a parsed template renders valid JSON for any data, and what it
/// renders as text is what it renders as a value.
pub fn template(bytes: &[u8]) {
    let Ok(source) = std::str::from_utf8(bytes) else {
        return;
    };
    match Template::parse(source) {
        Ok(template) => {
            assert_eq!(template.as_str(), source);
            let shifts = hostile_values().len();
            for data in (0..shifts)
                .map(|shift| data_for(template.paths(), shift))
                .chain([json!({}), json!(null), json!([])])
            {
                let text = template.render_to_string(&data);
                let parsed: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("rendered invalid JSON ({e}): {text}"));
                let value = template.render(&data);
                assert!(same(&parsed, &value), "{text} is not {value}");
            }
        }
        Err(error) => {
            let lines = source.split('\n').count();
            assert!(error.line >= 1 && error.line <= lines + 1, "{error}");
            assert!(error.column >= 1, "{error}");
        }
    }
}

/// The project every parsed event belongs to.
fn project() -> Project {
    let now = Timestamp::now();
    Project {
        id: ProjectId::new(),
        name: "Fuzz".into(),
        description: None,
        timezone: "Etc/UTC".into(),
        webhook_version: "v2024-01-01".into(),
        webhook_token: "fuzz-webhook-token".into(),
        previous_webhook_token: None,
        previous_token_expires_at: None,
        app_id: "fuzz-app-id".into(),
        app_token_hash: String::new(),
        callout_notifications: Default::default(),
        operational_webhook_url: None,
        created_at: now,
        updated_at: now,
    }
}

/// The ingest body (`POST /v1/events`), as the handler reads it: JSON text, then the events.
/// A refusal is a 4xx; an accepted event keeps its `data` exactly (as a JSON value) and has
/// a compact `event_source` object.
pub fn ingest_body(bytes: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Box<RawValue>>(bytes) else {
        return;
    };
    let project = project();
    match sendout::http::events::parse_events(&body, &project, GroupId::new(), Timestamp::now()) {
        Ok((_, events)) => {
            assert!(!events.is_empty());
            for event in events {
                let data: Value = serde_json::from_str(event.data.get()).expect("data is JSON");
                assert!(data.is_object());
                let source: Value =
                    serde_json::from_str(event.event_source.get()).expect("event_source is JSON");
                assert!(source.is_object());
                assert!(!event.event_source.get().contains('\n'));
            }
        }
        Err(error) => assert!(error.status().is_client_error(), "{error}"),
    }
}

/// The bodies of the management API and of the project API's writes (bulk retry,
/// distributions), chosen by the first byte: whatever they hold, reading and checking them
/// answers 4xx or yields values the store may keep (a target URL that parses again, at most
/// 20 custom headers, a distribution whose every channel has a URL).
pub fn management_body(bytes: &[u8]) {
    use sendout::http::management::{ProjectCreate, ProjectUpdateRequest};
    use sendout::http::sendouts::BulkRetryRequest;
    use sendout::http::test_webhook::{UrlTestRequest, WebhookTestRequest};
    use sendout::http::webhooks::WebhookRequest;
    use sendout::ops::webhooks::fields;

    let Some((kind, json)) = bytes.split_first() else {
        return;
    };
    match kind % 7 {
        0 => {
            let Ok(request) = serde_json::from_slice::<WebhookRequest>(json) else {
                return;
            };
            match fields(request.into(), None) {
                Ok(fields) => {
                    assert!(
                        sendout_core::input::TargetUrl::parse(fields.target_url.as_str()).is_ok()
                    );
                    assert!(fields.headers.len() <= 20);
                    assert!(fields.events.is_all() || !fields.events.event_types().is_empty());
                }
                Err(error) => assert!(!error.field_errors().is_empty(), "{error}"),
            }
        }
        1 => {
            if let Ok(request) = serde_json::from_slice::<ProjectCreate>(json) {
                let _ = sendout::ops::text::text_field("name", &request.name, 200);
            }
        }
        2 => {
            let _ = serde_json::from_slice::<ProjectUpdateRequest>(json);
        }
        3 => {
            let _ = serde_json::from_slice::<UrlTestRequest>(json);
        }
        4 => {
            let _ = serde_json::from_slice::<WebhookTestRequest>(json);
        }
        5 => {
            let _ = serde_json::from_slice::<BulkRetryRequest>(json);
        }
        _ => {
            use sendout_core::distribution::DistributionInput;
            let Ok(input) = serde_json::from_slice::<DistributionInput>(json) else {
                return;
            };
            match input.parse() {
                Ok(spec) => {
                    assert!(!spec.channels().is_empty());
                    for channel in spec.channels() {
                        assert!(
                            sendout_core::input::TargetUrl::parse(channel.url().as_str()).is_ok()
                        );
                    }
                }
                Err(error) => assert!(!error.key().is_empty(), "{error}"),
            }
        }
    }
}
