//! The rules of the input the server checks, stated in the document: lengths, patterns,
//! enums and formats of request fields and query parameters. They are built here from the
//! same constants and lists the checks use (the catalog, the text limits, the header rules),
//! so the document and the checks cannot drift apart; the conformance run
//! (scripts/openapi-conformance.sh) holds them to the server's answers.
//!
//! What a JSON Schema cannot state (a `public_headers` name must be one of `headers`; a
//! distribution's action must be one its trigger supports; a template must compile) is said
//! in the field's description and answered 400/422 naming the field.

use sendout_core::catalog::{catalog, Channel, ConditionKey, Purpose};
use sendout_core::distribution::{MAX_CHANNELS, MAX_CONDITION_VALUE_CHARS, MAX_EVENT_NAME_CHARS};
use sendout_core::input::{
    MAX_CUSTOM_HEADERS, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN, MAX_URL_LEN, RESERVED_HEADERS,
    RESERVED_PREFIXES,
};
use serde_json::{json, Map, Value};

use crate::http::events::{MAX_ENTITY_ID_CHARS, MAX_IDEMPOTENCY_KEY_CHARS};
use crate::ops::text::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, WEBHOOK_VERSION};

/// Characters a name or description may not hold: control characters but tab and line feed.
const CONTROL: &str = r"\x00-\x08\x0B-\x1F\x7F-\x9F";

/// Text that is not blank and holds no control character but tab and line feed, at most
/// `max` characters: a name.
fn name_text(max: usize) -> Value {
    json!({
        "type": "string",
        "maxLength": max,
        "pattern": format!(r"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$"),
    })
}

/// Text without control characters but tab and line feed; blank text clears it.
fn description_text(nullable: bool) -> Value {
    json!({
        "type": if nullable { json!(["string", "null"]) } else { json!("string") },
        "maxLength": MAX_DESCRIPTION_CHARS,
        "pattern": format!(r"^[^{CONTROL}]*$"),
    })
}

/// An `http`/`https` URL with a host and without credentials or fragment.
fn target_url() -> Value {
    json!({
        "type": "string",
        "format": "uri",
        "maxLength": MAX_URL_LEN,
        "pattern": r"^https?://[^\s/?#@:]+(:[1-9][0-9]{0,4})?([/?][^\s#]*)?$",
    })
}

/// Every name of `channel` (or of the whole catalog) the server accepts, aliases included.
fn type_names(channel: Option<Channel>) -> Vec<String> {
    let wanted = |name: &str| {
        catalog()
            .get(name)
            .is_some_and(|t| channel.is_none_or(|c| t.is_in(c)))
    };
    let mut names: Vec<String> = catalog()
        .all()
        .iter()
        .map(|t| t.name().to_owned())
        .chain(catalog().aliases().map(|(alias, _)| alias.to_owned()))
        .filter(|n| wanted(n))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The names (aliases included) of the types without an example: a test of one needs its
/// `data` (422 `test_data_required` otherwise).
fn without_example() -> Vec<String> {
    type_names(None)
        .into_iter()
        .filter(|n| catalog().get(n).is_some_and(|t| t.example_data().is_none()))
        .collect()
}

/// A word matched in any case, as a regular expression.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                regex_escape(c)
            }
        })
        .collect()
}

fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!(r"\{c}")
    }
}

/// Custom headers: names of letters, digits and inner dashes that sendout does not set
/// itself, values of visible ASCII, spaces and tabs.
fn custom_headers(nullable: bool) -> Value {
    let reserved: Vec<String> = RESERVED_HEADERS
        .iter()
        .map(|name| format!("{}$", any_case(name)))
        .chain(RESERVED_PREFIXES.iter().map(|prefix| any_case(prefix)))
        .collect();
    let inner = MAX_HEADER_NAME_LEN - 2;
    json!({
        "type": if nullable { json!(["object", "null"]) } else { json!("object") },
        "maxProperties": MAX_CUSTOM_HEADERS,
        "propertyNames": {
            "pattern": format!(
                "^(?!(?:{}))[A-Za-z0-9]([A-Za-z0-9-]{{0,{inner}}}[A-Za-z0-9])?$",
                reserved.join("|")
            ),
        },
        "additionalProperties": {
            "type": "string",
            "maxLength": MAX_HEADER_VALUE_LEN,
            "pattern": r"^[\t ]*[!-~][\t -~]*$",
        },
    })
}

/// Sets `schemas[name].properties[property]` to `schema`, keeping its description.
fn set_property(schemas: &mut Map<String, Value>, name: &str, property: &str, schema: Value) {
    let Some(slot) = schemas
        .get_mut(name)
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut(property))
    else {
        return;
    };
    let description = slot.get("description").cloned();
    *slot = schema;
    if let Some(description) = description {
        slot["description"] = description;
    }
}

/// Sets the schema of the query parameter `name` of `GET path`.
fn set_query(document: &mut Value, path: &str, name: &str, schema: Value) {
    let Some(parameters) = document["paths"][path]["get"]["parameters"].as_array_mut() else {
        return;
    };
    for parameter in parameters {
        if parameter["name"] == name && parameter["in"] == "query" {
            parameter["schema"] = schema.clone();
        }
    }
}

/// A query parameter's values: one of `values`, or empty (no filter).
fn optional_choice(values: &[String]) -> Value {
    let alternatives: Vec<String> = values.iter().map(|v| any_case(v)).collect();
    json!({"type": "string", "pattern": format!("^({})?$", alternatives.join("|"))})
}

/// Writes the checks' rules into `document`.
pub fn state_input_rules(document: &mut Value) {
    let every_type = type_names(None);
    let webhook_types = type_names(Some(Channel::ProjectSettings));
    let time_or_empty =
        json!({"type": "string", "anyOf": [{"format": "date-time"}, {"maxLength": 0}]});
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        for project in ["ProjectCreate", "ProjectUpdateRequest"] {
            let mut name = name_text(MAX_NAME_CHARS);
            if project == "ProjectUpdateRequest" {
                // `null` is as if it were not given: the name is kept.
                name["type"] = json!(["string", "null"]);
            }
            set_property(schemas, project, "name", name);
            set_property(schemas, project, "description", description_text(true));
            set_property(
                schemas,
                project,
                "webhook_version",
                json!({"type": ["string", "null"], "enum": [WEBHOOK_VERSION, null]}),
            );
            set_property(
                schemas,
                project,
                "timezone",
                json!({"type": ["string", "null"], "enum": timezones()}),
            );
            set_property(
                schemas,
                project,
                "operational_webhook_url",
                json!({"anyOf": [target_url(), {"type": "null"}, {"type": "string", "pattern": r"^\s*$"}]}),
            );
        }
        for request in ["WebhookRequest", "UrlTestRequest"] {
            set_property(schemas, request, "target_url", target_url());
            set_property(schemas, request, "headers", custom_headers(true));
        }
        set_property(
            schemas,
            "WebhookRequest",
            "description",
            description_text(true),
        );
        set_property(
            schemas,
            "WebhookRequest",
            "events",
            json!({"anyOf": [
                {"type": "array", "minItems": 1, "items": {"const": "*"}},
                {"type": "array", "minItems": 1, "items": {"enum": webhook_types}},
            ]}),
        );
        for request in ["UrlTestRequest", "WebhookTestRequest"] {
            set_property(
                schemas,
                request,
                "event_type",
                json!({"type": ["string", "null"], "enum": every_type.iter().map(|n| json!(n)).chain([Value::Null]).collect::<Vec<_>>()}),
            );
            // A type without an example is tested only with its data.
            if let Some(schema) = schemas.get_mut(request) {
                schema["if"] = json!({"required": ["event_type"], "properties": {"event_type": {"enum": without_example()}}});
                schema["then"] =
                    json!({"required": ["data"], "properties": {"data": {"type": "object"}}});
            }
        }
        set_property(schemas, "RecoverRequest", "since", optional_time());
        set_property(
            schemas,
            "EventInput",
            "type",
            json!({"type": "string", "enum": every_type}),
        );
        set_property(
            schemas,
            "EventInput",
            "entity_id",
            json!({"type": ["string", "null"], "minLength": 1, "maxLength": MAX_ENTITY_ID_CHARS}),
        );
        set_property(
            schemas,
            "EventInput",
            "group_id",
            json!({"type": ["string", "null"], "pattern": "^v-[A-Za-z0-9_-]{1,64}$"}),
        );
        set_property(schemas, "EventInput", "created_at", optional_time());
        set_property(
            schemas,
            "EventInput",
            "idempotency_key",
            json!({"type": ["string", "null"], "pattern": format!("^[ -~]{{1,{MAX_IDEMPOTENCY_KEY_CHARS}}}$")}),
        );
        set_property(schemas, "BulkRetryRequest", "since", optional_time());
        set_property(
            schemas,
            "BulkRetryRequest",
            "source_id",
            json!({"type": "string", "pattern": format!("^(wh|distr)_{ULID}$")}),
        );
        for request in ["DistributionRequest", "PreviewRequest"] {
            set_property(schemas, request, "trigger", trigger());
        }
        set_property(
            schemas,
            "DistributionRequest",
            "name",
            name_text(MAX_NAME_CHARS),
        );
        set_property(
            schemas,
            "DistributionRequest",
            "action",
            json!({"type": "string", "enum": Purpose::ALL.map(Purpose::as_str)}),
        );
        set_property(
            schemas,
            "DistributionRequest",
            "channels",
            json!({"type": "array", "minItems": 1, "maxItems": MAX_CHANNELS, "items": channel()}),
        );
        set_property(
            schemas,
            "DistributionRequest",
            "status",
            json!({"type": ["string", "null"], "enum": ["DRAFT", "LIVE", "PAUSED", null]}),
        );
        set_property(schemas, "PreviewRequest", "channel", channel());
        let mut actions: Vec<Value> = Purpose::ALL.map(|p| json!(p.as_str())).to_vec();
        actions.push(Value::Null);
        set_property(
            schemas,
            "PreviewRequest",
            "action",
            json!({"type": ["string", "null"], "enum": actions}),
        );
    }
    let statuses = ["PENDING", "RETRYING", "SUCCEEDED", "FAILED"].map(str::to_owned);
    set_query(
        document,
        "/v1/webhook-sendouts",
        "status",
        optional_choice(&statuses),
    );
    set_query(
        document,
        "/v1/webhook-sendouts",
        "is_test",
        json!({"type": "string", "enum": ["", "true", "false"]}),
    );
    set_query(
        document,
        "/v1/webhook-sendouts",
        "limit",
        json!({"type": "string", "pattern": r"^(\+?0*([1-9][0-9]?|100))?$"}),
    );
    for bound in ["created_after", "created_before"] {
        set_query(
            document,
            "/v1/webhook-sendouts",
            bound,
            time_or_empty.clone(),
        );
    }
    set_query(
        document,
        "/v1/webhook-sendouts",
        "starting_after_id",
        json!({"type": "string", "pattern": format!("^(whs_{ULID})?$")}),
    );
    set_query(
        document,
        "/v1/event-types",
        "channel",
        json!({"type": "string", "enum": ["", "project_settings", "distribution"]}),
    );
}

/// The body of a ULID as ids write it (lowercase Crockford base 32).
const ULID: &str = "[0-7][0-9a-hjkmnp-tv-z]{25}";

/// An optional RFC 3339 time.
fn optional_time() -> Value {
    json!({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]})
}

/// A distribution's trigger: a distribution event type and an optional condition.
fn trigger() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["event"],
        "properties": {
            "event": {"type": "string", "enum": type_names(Some(Channel::Distribution))},
            "condition": {
                "type": ["object", "null"],
                "description": "Only keys the trigger carries (GET /v1/event-types/{name}); 400 otherwise",
                "propertyNames": {"enum": ConditionKey::ALL.map(ConditionKey::as_str)},
                "additionalProperties": name_text(MAX_CONDITION_VALUE_CHARS),
            },
        },
    })
}

/// A distribution's webhook channel.
fn channel() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["event_name", "url"],
        "properties": {
            "type": {"type": ["string", "null"], "enum": ["webhook", null]},
            "event_name": name_text(MAX_EVENT_NAME_CHARS),
            "url": target_url(),
            "headers": custom_headers(true),
            "public_headers": {
                "type": ["array", "null"],
                "maxItems": MAX_CUSTOM_HEADERS,
                "description": "Names of `headers` only; 400 otherwise",
                "items": {"type": "string"},
            },
            "payload": {
                "type": ["object", "null"],
                "additionalProperties": false,
                "required": ["mode"],
                "description": "`attributes` only with mode `attributes`, `template` only (and required) with mode `custom`; a template must compile and use the trigger's keys (422 otherwise)",
                "properties": {
                    "mode": {"type": "string", "enum": ["full", "attributes", "custom"]},
                    "raw": {"type": "boolean"},
                    "attributes": {"type": ["array", "null"], "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["path"],
                        "properties": {"path": {"type": "string"}, "key": {"type": ["string", "null"]}},
                    }},
                    "template": {"type": ["string", "null"]},
                },
            },
        },
    })
}

/// Every time zone name the server takes.
fn timezones() -> Vec<Value> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| json!(tz.name()))
        .chain([Value::Null])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        json!({
            "components": {"schemas": {
                "EventInput": {"properties": {"type": {"description": "kept"}}},
                "WebhookRequest": {"properties": {"target_url": {}, "events": {}}},
            }},
            "paths": {"/v1/event-types": {"get": {"parameters": [{"name": "channel", "in": "query"}]}}},
        })
    }

    #[test]
    fn the_rules_come_from_the_checks_own_lists_and_limits() {
        let mut document = document();
        state_input_rules(&mut document);
        let schemas = &document["components"]["schemas"];
        let types = schemas["EventInput"]["properties"]["type"]["enum"]
            .as_array()
            .expect("an enum");
        assert!(types.len() > catalog().len(), "names and their aliases");
        assert!(types
            .iter()
            .all(|t| catalog().get(t.as_str().unwrap_or("")).is_some()));
        assert_eq!(
            schemas["EventInput"]["properties"]["type"]["description"],
            "kept"
        );
        let url = &schemas["WebhookRequest"]["properties"]["target_url"];
        assert_eq!(url["maxLength"], MAX_URL_LEN);
        let channel = &document["paths"]["/v1/event-types"]["get"]["parameters"][0]["schema"];
        assert_eq!(
            channel["enum"],
            json!(["", "project_settings", "distribution"])
        );
    }

    #[test]
    fn header_names_sendout_sets_itself_are_outside_the_pattern() {
        let pattern = custom_headers(false)["propertyNames"]["pattern"]
            .as_str()
            .expect("a pattern")
            .to_owned();
        assert!(pattern.contains("[Hh][Oo][Ss][Tt]$"));
        assert!(pattern.contains(r"[Ww][Ee][Bb][Hh][Oo][Oo][Kk]\-"));
    }
}
