//! The answers every operation can give besides its own, added to the document in one place
//! so that no handler's annotation can forget one. They come from the layers around the
//! handlers, not from the handlers themselves:
//!
//! - a JSON body ([`crate::http::extract::JsonObject`]): 400 (not JSON, or not of the
//!   schema), 413 (over `max_body_bytes`), 415 (not sent as `application/json`);
//! - a key ([`crate::http::auth`]): 401, and 429 with `Retry-After` once a client failed
//!   `auth_failure_limit` times;
//! - an id in the path: 404 (a malformed id is a 404 like an unknown one);
//! - every route: 408 (`http_request_timeout`) and 503 (the store does not answer, or its
//!   disk is full, with `Retry-After`).
//!
//! An operation's own description of one of these statuses is kept. Every error answer's
//! body is [`crate::http::error::ErrorBody`].

use serde_json::{json, Map, Value};

/// The methods an OpenAPI path item may hold operations for.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Adds the common answers to every operation of `document` (the OpenAPI document as JSON).
pub fn add_common_answers(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete(path, operation);
            }
        }
    }
}

fn complete(path: &str, operation: &mut Map<String, Value>) {
    let has_body = operation.contains_key("requestBody");
    let has_key = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let has_id = path.contains('{');
    let Some(responses) = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    else {
        return;
    };
    let mut add = |status: &str, description: &str, retry_after: bool| {
        let mut answer = json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        });
        if retry_after {
            answer["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }});
        }
        responses.entry(status).or_insert(answer);
    };
    if has_body {
        add(
            "400",
            "`invalid_json`: the body is not JSON; `invalid_payload`: it does not fit the schema (names the field)",
            false,
        );
        add(
            "413",
            "`payload_too_large`: the body is larger than max_body_bytes",
            false,
        );
        add(
            "415",
            "`unsupported_media_type`: the body is not sent as `Content-Type: application/json`",
            false,
        );
    }
    if has_key {
        add("401", "`unauthorized`: the key is missing or wrong", false);
        add(
            "429",
            "`too_many_failed_authentications`: this client failed auth_failure_limit times within auth_failure_window",
            true,
        );
    }
    if has_id {
        add("404", "`not_found`: no such object", false);
    }
    add(
        "408",
        "`request_timeout`: the request was not received and answered within http_request_timeout",
        false,
    );
    add(
        "503",
        "`service_unavailable`: the store does not answer; `storage_full`: its disk is full and nothing was stored",
        true,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_key_and_id_answers_are_added_and_own_descriptions_kept() {
        let mut document = json!({"paths": {"/v1/things/{id}": {"put": {
            "requestBody": {},
            "security": [{"app_id": []}],
            "responses": {"200": {"description": "ok"}, "404": {"description": "No such thing"}},
        }}}});
        add_common_answers(&mut document);
        let responses = &document["paths"]["/v1/things/{id}"]["put"]["responses"];
        for status in [
            "200", "400", "401", "404", "408", "413", "415", "429", "503",
        ] {
            assert!(responses[status].is_object(), "{status} is documented");
        }
        assert_eq!(responses["404"]["description"], "No such thing");
        assert!(responses["429"]["headers"]["Retry-After"].is_object());
    }

    #[test]
    fn an_operation_without_body_or_key_gets_no_such_answers() {
        let mut document = json!({"paths": {"/health": {"get": {"responses": {}}}}});
        add_common_answers(&mut document);
        let responses = &document["paths"]["/health"]["get"]["responses"];
        for status in ["400", "401", "404", "413", "415", "429"] {
            assert!(
                responses.get(status).is_none(),
                "{status} is not documented"
            );
        }
    }
}
