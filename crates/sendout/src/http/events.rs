//! The project API's ingest (`POST /v1/events`) and catalog (`GET /v1/event-types`).
//!
//! Ingest reads one event, `{"events": […]}` or a JSON array of events (at most
//! [`MAX_BATCH`]), checks every one of them, and only then hands them to the store, which
//! commits the events with all their send outs in one transaction; the 202 comes after that
//! commit, so an acknowledged event is never lost. A batch is all or nothing: the first
//! invalid event refuses the whole request, naming its index.
//!
//! `data` and `event_source` are kept as the exact JSON text received, only stripped of
//! insignificant whitespace: key order, duplicate keys and number spelling reach receivers
//! unchanged (a round trip through a JSON value would turn `1.10` into `1.1`). Since that
//! text is never parsed into a value here, what strict readers (serde_json among them) need
//! beyond JSON's grammar is checked on the text itself (`json_text`): at most
//! [`MAX_NESTING`] levels, no half of a surrogate pair (`\ud800`), no number beyond a double.
//!
//! **Idempotency.** An `Idempotency-Key` header makes the request idempotent, and an event's
//! own `idempotency_key` makes that event so (docs/API.md). A request with either goes to
//! [`sendout_store::Queue::ingest_keyed`] with the SHA-256 of the body (and of each keyed
//! event), minified, as fingerprints, and with this module's way of writing the answer, so
//! the store keeps the exact answer with the keys in the ingest's transaction and gives it
//! back on a replay. A request without keys takes the path it always took: nothing is
//! hashed and the store runs no statement more. Keys never reach the logs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sendout_core::envelope::{self, minify};
use sendout_core::ids::{EventId, GroupId};
use sendout_core::time::Timestamp;
use sendout_store::{
    IdempotencyKey, IngestKeys, IngestOutcome, KeyedIngest, KeyedOutcome, NewEvent, Project,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::http::auth::AppKey;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ops::test_send::known_type;
use crate::ops::AppState;
use crate::telemetry::REQUEST_ID_HEADER;

mod json_text;
use json_text::Unreadable;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1000;
/// The name of a project's server-side key in a default `event_source`.
pub const SERVER_SIDE_KEY_NAME: &str = "Server-side key";
/// The longest `entity_id`, in characters.
pub const MAX_ENTITY_ID_CHARS: usize = 255;
/// How deep a body may nest arrays and objects. The JSON text is kept as received, so depth
/// is checked here: receivers' parsers (serde_json stops at 128, Python's at about 1000 by
/// recursion) must be able to read every envelope, and `data` of a real event is a few
/// levels deep.
pub const MAX_NESTING: usize = 64;
const FIELDS: [&str; 7] = [
    "type",
    "data",
    "entity_id",
    "group_id",
    "event_source",
    "created_at",
    "idempotency_key",
];
/// The request header that makes an ingest idempotent.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The answer header that says an answer is a replay of the first one for its key.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";
/// The longest idempotency key, in characters (printable ASCII).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// One event as a client sends it. Unknown fields are refused; `data` reaches receivers
/// byte for byte (only insignificant whitespace is removed).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct EventInput {
    /// A catalog name (`GET /v1/event-types`); the spec's `…aded` spellings are accepted.
    #[schema(example = "voucher.published")]
    r#type: String,
    /// The event's data object, delivered unchanged.
    #[schema(value_type = Object)]
    data: Value,
    /// The object the event is about (`v_…`, `cust_…`); `null` when absent.
    entity_id: Option<String>,
    /// The request group (`v-` + ULID); defaults to this request's id.
    group_id: Option<String>,
    /// Who caused the event; defaults to `{"channel":"API","api_key":{"name","app_id"}}`.
    #[schema(value_type = Option<Object>)]
    event_source: Option<Value>,
    /// When it happened (ISO 8601); defaults to now.
    created_at: Option<String>,
    /// This event's own idempotency key (1 to 255 printable ASCII characters): an event
    /// sent again with it, alone or in any batch, is not stored again (docs/API.md).
    idempotency_key: Option<String>,
}

/// A batch of events: `{"events": […]}` (a bare JSON array is accepted too).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct EventBatch {
    events: Vec<EventInput>,
}

/// The body of `POST /v1/events`: one event, or a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum EventRequest {
    One(Box<EventInput>),
    Batch(EventBatch),
    Array(Vec<EventInput>),
}

/// What ingesting one event did.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventAccepted {
    #[schema(example = "evvou_01hzx3r8k2m4n6p8q0s2t4v6w8")]
    pub id: String,
    #[schema(example = "event")]
    pub object: &'static str,
    /// The canonical type name.
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: String,
    pub group_id: String,
    /// How many send outs (deliveries) the event made.
    pub send_outs: u32,
}

impl EventAccepted {
    /// What ingesting the event `described` did, as `outcome` says.
    fn of(described: &Described, outcome: &IngestOutcome) -> Self {
        let (event_type, created_at, group_id) = described;
        Self {
            id: outcome.event_id.to_string(),
            object: "event",
            event_type: event_type.clone(),
            created_at: created_at.to_string(),
            group_id: group_id.to_string(),
            send_outs: outcome.send_outs,
        }
    }
}

/// What the answer shows of an event besides its outcome: its type, time and group.
type Described = (String, Timestamp, GroupId);

fn described(event: &NewEvent) -> Described {
    (
        event.event_type.clone(),
        event.created_at,
        event.group_id.clone(),
    )
}

/// The answer to ingest: one event's outcome, or a batch's in a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum IngestAnswer {
    One(EventAccepted),
    Batch(EventAcceptedList),
}

/// What ingesting a batch did, in the order given.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventAcceptedList {
    #[schema(example = "list")]
    pub object: &'static str,
    #[schema(example = "data")]
    pub data_ref: &'static str,
    pub data: Vec<EventAccepted>,
    pub total: usize,
}

/// An [`EventAcceptedList`] of parts already written (a keyed ingest's answer, some parts of
/// which are replayed): the same fields in the same order, so the same bytes.
#[derive(Serialize)]
struct PartsList<'a> {
    object: &'static str,
    data_ref: &'static str,
    data: Vec<&'a RawValue>,
    total: usize,
}

fn compact_raw(raw: &RawValue) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(minify(raw.get()))
        .map_err(|e| ApiError::Internal(format!("minified JSON does not parse: {e}")))
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

/// What every event of one request shares.
struct Context<'a> {
    project: &'a Project,
    group_id: GroupId,
    now: Timestamp,
}

/// One event's text into a [`NewEvent`], with its own idempotency key if it has one; `at`
/// prefixes field names (`events[3].`).
fn parse_event(
    raw: &RawValue,
    at: &str,
    context: &Context<'_>,
) -> Result<(NewEvent, Option<IdempotencyKey>), ApiError> {
    let field = |name: &str| format!("{at}{name}");
    if !is_object(raw) {
        let name = if at.is_empty() {
            "body".to_owned()
        } else {
            at.trim_end_matches('.').to_owned()
        };
        return Err(ApiError::invalid_field(
            name,
            "an event must be a JSON object",
        ));
    }
    let mut fields: HashMap<String, Box<RawValue>> = serde_json::from_str(raw.get())
        .map_err(|e| ApiError::InvalidPayload(format!("{at}{e}")))?;
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            field(unknown),
            "is not an event field; expected type, data, entity_id, group_id, event_source, \
             created_at, idempotency_key",
        ));
    }
    let text = |fields: &mut HashMap<String, Box<RawValue>>,
                name: &str|
     -> Result<Option<String>, ApiError> {
        match fields.remove(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str::<Option<String>>(raw.get())
                .map_err(|_| ApiError::invalid_field(field(name), "must be a string")),
        }
    };

    let type_name = text(&mut fields, "type")?
        .ok_or_else(|| ApiError::invalid_field(field("type"), "is required"))?;
    let event_type = known_type(&type_name, &field("type"))?;

    let data = match fields.remove("data") {
        None => return Err(ApiError::invalid_field(field("data"), "is required")),
        Some(raw) if is_object(&raw) => compact_raw(&raw)?,
        Some(_) => {
            return Err(ApiError::invalid_field(
                field("data"),
                "must be a JSON object",
            ))
        }
    };

    let entity_id = text(&mut fields, "entity_id")?;
    if let Some(entity_id) = &entity_id {
        if entity_id.is_empty() || entity_id.chars().count() > MAX_ENTITY_ID_CHARS {
            return Err(ApiError::invalid_field(
                field("entity_id"),
                "must be 1 to 255 characters long",
            ));
        }
    }

    let group_id = match text(&mut fields, "group_id")? {
        None => context.group_id.clone(),
        Some(text) => GroupId::parse(&text).map_err(|_| {
            ApiError::invalid_field(
                field("group_id"),
                "must be `v-` followed by 1 to 64 ASCII letters, digits, `_` or `-` (sendout's \
                 own are `v-` + a lowercase ULID); leave it out to use the request id",
            )
        })?,
    };

    let event_source = match fields.remove("event_source") {
        Some(raw) if is_object(&raw) => compact_raw(&raw)?,
        Some(raw) if !is_null(&raw) => {
            return Err(ApiError::invalid_field(
                field("event_source"),
                "must be a JSON object",
            ))
        }
        _ => default_event_source(context.project)?,
    };

    let created_at = match text(&mut fields, "created_at")? {
        None => context.now,
        Some(text) => {
            Timestamp::parse(&text).map_err(|e| ApiError::invalid_field(field("created_at"), e))?
        }
    };

    let key = match text(&mut fields, "idempotency_key")? {
        None => None,
        Some(key) => Some(IdempotencyKey {
            key: idempotency_key(key)
                .map_err(|e| ApiError::invalid_field(field("idempotency_key"), e))?,
            fingerprint: fingerprint(raw.get()),
        }),
    };

    let event = NewEvent {
        id: EventId::new(event_type.name()),
        event_type: event_type.name().to_owned(),
        data,
        entity_id,
        group_id,
        event_source,
        created_at,
    };
    Ok((event, key))
}

/// An idempotency key as given: 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] printable ASCII
/// characters (a UUID, say).
fn idempotency_key(key: String) -> Result<String, String> {
    let printable = key.bytes().all(|b| (b' '..=b'~').contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
        return Err(format!(
            "must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters (a UUID, say)"
        ));
    }
    Ok(key)
}

/// What a key was sent with, to tell a retry (the same text, whitespace aside) from a reuse.
fn fingerprint(json: &str) -> String {
    hex::encode(Sha256::digest(minify(json).as_bytes()))
}

/// `{"channel":"API","api_key":{"name":…,"app_id":…}}` of the calling key.
fn default_event_source(project: &Project) -> Result<Box<RawValue>, ApiError> {
    let value = json!({
        "channel": "API",
        "api_key": {"name": SERVER_SIDE_KEY_NAME, "app_id": project.app_id},
    });
    Ok(envelope::compact(&value))
}

/// The events of a body: one, `{"events": […]}`, or `[…]`; with the field prefix of each.
fn split_body(body: &RawValue) -> Result<(bool, Vec<Box<RawValue>>), ApiError> {
    let text = body.get().trim_start();
    let events: Vec<Box<RawValue>> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|e| ApiError::InvalidPayload(e.to_string()))?
    } else if text.starts_with('{') {
        let top: HashMap<String, Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| ApiError::InvalidPayload(e.to_string()))?;
        match top.get("events") {
            Some(events) if !top.contains_key("type") => {
                if top.len() > 1 {
                    return Err(ApiError::invalid_field(
                        "body",
                        "a batch is {\"events\": [...]} with no other fields",
                    ));
                }
                serde_json::from_str(events.get())
                    .map_err(|_| ApiError::invalid_field("events", "must be an array of events"))?
            }
            _ => return Ok((false, vec![body.to_owned()])),
        }
    } else {
        return Err(ApiError::invalid_field(
            "body",
            "must be an event object, {\"events\": [...]}, or an array of events",
        ));
    };
    if events.is_empty() {
        return Err(ApiError::invalid_field(
            "events",
            "must contain at least one event",
        ));
    }
    if events.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "events",
            format!(
                "{} events given; at most {MAX_BATCH} per request",
                events.len()
            ),
        ));
    }
    Ok((true, events))
}

/// The events of an ingest body (one event, `{"events": […]}` or `[…]`), each checked, for
/// `project`; `group_id` and `now` are the request's defaults. True when the body was a batch.
/// Pure, so the fuzz targets and property tests call it without a server.
pub fn parse_events(
    body: &RawValue,
    project: &Project,
    group_id: GroupId,
    now: Timestamp,
) -> Result<(bool, Vec<NewEvent>), ApiError> {
    let parsed = parse_body(body, project, group_id, now)?;
    Ok((parsed.is_batch, parsed.events))
}

/// An ingest body, parsed.
struct Parsed {
    is_batch: bool,
    events: Vec<NewEvent>,
    /// Each event's own key, by position; empty when no event has one.
    event_keys: Vec<Option<IdempotencyKey>>,
}

/// [`parse_events`], with the events' own keys (no two alike).
fn parse_body(
    body: &RawValue,
    project: &Project,
    group_id: GroupId,
    now: Timestamp,
) -> Result<Parsed, ApiError> {
    if let Err(unreadable) = json_text::check(body.get(), MAX_NESTING) {
        let problem = match unreadable {
            Unreadable::TooDeep => {
                format!("arrays and objects are nested deeper than {MAX_NESTING} levels")
            }
            Unreadable::LoneSurrogate => "a string holds half of a UTF-16 surrogate pair (such \
                 as \\ud800) without the other half; it is not a character, and strict JSON \
                 readers refuse it"
                .to_owned(),
            Unreadable::NumberOutOfRange => "a number is too large for a double (such as \
                 1e400); strict JSON readers refuse it"
                .to_owned(),
        };
        return Err(ApiError::invalid_field("body", problem));
    }
    let (is_batch, raws) = split_body(body)?;
    let context = Context {
        project,
        group_id,
        now,
    };
    let at = |i: usize| {
        if is_batch {
            format!("events[{i}].")
        } else {
            String::new()
        }
    };
    let (events, mut event_keys): (Vec<NewEvent>, Vec<Option<IdempotencyKey>>) = raws
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_event(raw, &at(i), &context))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    if event_keys.iter().all(Option::is_none) {
        event_keys.clear();
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, key) in event_keys.iter().enumerate() {
        let Some(key) = key else { continue };
        if let Some(first) = seen.insert(key.key.as_str(), i) {
            return Err(ApiError::invalid_field(
                format!("{}idempotency_key", at(i)),
                format!("repeats the key of events[{first}]; each event's key must be its own"),
            ));
        }
    }
    Ok(Parsed {
        is_batch,
        events,
        event_keys,
    })
}

/// The request's `Idempotency-Key`, if it has one.
fn request_key(headers: &HeaderMap, body: &RawValue) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| "is not text".to_owned())
        .and_then(|key| idempotency_key(key.to_owned()))
        .map_err(|e| ApiError::invalid_field("Idempotency-Key", e))?;
    Ok(Some(IdempotencyKey {
        key,
        fingerprint: fingerprint(body.get()),
    }))
}

/// How a keyed ingest's answer is written (see the module docs): the same JSON as an
/// unkeyed one's.
struct Answer {
    is_batch: bool,
}

impl sendout_store::IngestAnswer for Answer {
    fn event(&self, event: &NewEvent, outcome: &IngestOutcome) -> String {
        serde_json::to_string(&EventAccepted::of(&described(event), outcome)).unwrap_or_default()
    }

    fn request(&self, parts: &[&str]) -> String {
        if !self.is_batch {
            return parts.first().map(|p| (*p).to_owned()).unwrap_or_default();
        }
        let data: Vec<&RawValue> = parts
            .iter()
            .filter_map(|p| serde_json::from_str(p).ok())
            .collect();
        serde_json::to_string(&PartsList {
            object: "list",
            data_ref: "data",
            total: data.len(),
            data,
        })
        .unwrap_or_default()
    }
}

/// Accepts one event or a batch; answers 202 once they and their send outs are committed.
/// With an `Idempotency-Key` (or events' own keys), a retry is answered as the first request
/// was, and makes nothing.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "Events",
    security(("app_id" = [], "app_token" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "Makes the request idempotent for `idempotency_ttl` (24 h by default): \
                        1 to 255 printable ASCII characters, scoped to the project. A retry \
                        with the same key and body gets the first answer again, byte for \
                        byte, with `Idempotent-Replayed: true`, and creates nothing; the \
                        same key with another body is 409 `idempotency_key_reused`. A request \
                        sent while another with its key is being processed waits for it and \
                        replays it."),
    ),
    request_body = EventRequest,
    responses(
        (status = 202, description = "Accepted and committed: one event's outcome, or a list for a batch", body = IngestAnswer,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "Invalid payload (names the field), or an invalid Idempotency-Key", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the Idempotency-Key (or an event's idempotency_key) was used with another body", body = ErrorBody),
        (status = 413, description = "Body larger than max_body_bytes", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Unknown event type, or more send outs than max_send_outs_per_event or max_send_outs_per_request allow (nothing stored)", body = ErrorBody),
        (status = 503, description = "storage_full: the store's disk is full, nothing was stored; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn ingest(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Box<RawValue>>,
) -> Result<Response, ApiError> {
    let group_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| GroupId::parse(v).ok())
        .unwrap_or_default();
    let request_key = request_key(&headers, &body)?;
    let parsed = parse_body(&body, &project, group_id, Timestamp::now())?;
    if request_key.is_some() || !parsed.event_keys.is_empty() {
        return ingest_keyed(&state, &project, parsed, request_key).await;
    }
    let Parsed {
        is_batch, events, ..
    } = parsed;
    let described: Vec<Described> = events.iter().map(described).collect();
    let outcomes = state
        .store
        .ingest_within(&project.id, events, state.config.limits.fan_out)
        .await?;
    let accepted: Vec<EventAccepted> = outcomes
        .iter()
        .zip(&described)
        .map(|(outcome, event)| EventAccepted::of(event, outcome))
        .collect();
    ingested(&project, &outcomes, false);

    let answer = if is_batch {
        IngestAnswer::Batch(EventAcceptedList {
            object: "list",
            data_ref: "data",
            total: accepted.len(),
            data: accepted,
        })
    } else {
        let one = accepted
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Internal("the store answered no outcome".into()))?;
        IngestAnswer::One(one)
    };
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

/// Counts and logs what an ingest made (never its keys or bodies).
fn ingested(project: &Project, created: &[IngestOutcome], replayed: bool) {
    let send_outs: u64 = created.iter().map(|o| u64::from(o.send_outs)).sum();
    crate::metrics::global().ingested(created.len() as u64, send_outs);
    tracing::info!(project.id = %project.id, events = created.len(), send_outs, replayed, "events ingested");
}

/// The ingest of a request with keys (see the module docs).
async fn ingest_keyed(
    state: &AppState,
    project: &Project,
    parsed: Parsed,
    request_key: Option<IdempotencyKey>,
) -> Result<Response, ApiError> {
    let ttl_ms = i64::try_from(state.config.idempotency_ttl.as_millis()).unwrap_or(i64::MAX);
    let keyed = KeyedIngest {
        events: parsed.events,
        keys: IngestKeys {
            request_key,
            event_keys: parsed.event_keys,
            expires_at: Timestamp::now().plus_millis(ttl_ms),
            answer: Arc::new(Answer {
                is_batch: parsed.is_batch,
            }),
        },
    };
    let is_batch = parsed.is_batch;
    match state
        .store
        .ingest_keyed(&project.id, keyed, state.config.limits.fan_out)
        .await?
    {
        KeyedOutcome::Answered {
            body,
            replayed,
            created,
        } => {
            ingested(project, &created, replayed);
            let mut response = (
                StatusCode::ACCEPTED,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            if replayed {
                response
                    .headers_mut()
                    .insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
            }
            Ok(response)
        }
        KeyedOutcome::Reused { event: None } => Err(ApiError::Conflict {
            key: "idempotency_key_reused",
            details: "this Idempotency-Key was used with a different body; send a retry with \
                      the same body, or use a new key for a new request"
                .to_owned(),
        }),
        KeyedOutcome::Reused { event: Some(i) } => {
            let field = if is_batch {
                format!("events[{i}].idempotency_key")
            } else {
                "idempotency_key".to_owned()
            };
            Err(ApiError::Conflict {
                key: "idempotency_key_reused",
                details: format!(
                    "{field}: was used with a different event; send the same event again, or \
                     use a new key for a new event"
                ),
            })
        }
    }
}
