//! The event catalog of the project API: `GET /v1/event-types` (every type, or one channel's
//! in the seeds' group order) and `GET /v1/event-types/{name}` (one type with its example
//! `data` and the paths its data carries). Names are looked up as ingest reads them, so the
//! documented misspellings find their type.

use sendout_core::catalog::{catalog, Channel, EventType, ExampleSource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::auth::AppKey;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Path, Query};

/// An event type in the catalog listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeSummary {
    #[schema(example = "voucher.published")]
    pub name: String,
    #[schema(example = "event_type")]
    pub object: &'static str,
    /// The group (in the channel asked for, else the first channel).
    #[schema(example = "Voucher")]
    pub group: String,
    #[schema(example = "Voucher published")]
    pub title: String,
    /// `project_settings` and/or `distribution`.
    pub channels: Vec<String>,
    /// Whether Voucherify publishes a schema of its `data`.
    pub has_public_schema: bool,
}

/// One event type with its example and data keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeDetail {
    #[serde(flatten)]
    pub summary: EventTypeSummary,
    /// Group and title in each channel.
    #[schema(value_type = Vec<Object>)]
    pub listings: Value,
    /// A remark on the type's provenance, if any.
    pub note: Option<String>,
    /// An example `data` (what a test webhook sends).
    #[schema(value_type = Option<Object>)]
    pub example: Option<Value>,
    /// Where `example` comes from: `voucherify` (a published example) or `built` (made by
    /// sendout from the type's documented keys, where Voucherify publishes none; `note` says
    /// from what); `null` without an example.
    #[schema(example = "voucherify")]
    pub example_source: Option<&'static str>,
    /// Every path `data` can carry (`order.items[].price`, `metadata.*`).
    pub paths: Vec<String>,
    /// For distribution triggers: the purposes they support.
    pub purposes: Vec<String>,
    /// For distribution triggers: the conditions that narrow them.
    pub conditions: Vec<String>,
}

/// The catalog listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeList {
    #[schema(example = "list")]
    pub object: &'static str,
    #[schema(example = "data")]
    pub data_ref: &'static str,
    pub data: Vec<EventTypeSummary>,
    pub total: usize,
}

/// Query of the catalog listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventTypeQuery {
    /// `project_settings` or `distribution`.
    pub channel: Option<String>,
}

fn channel(text: &str) -> Result<Channel, ApiError> {
    Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == text)
        .ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "channel: `{}` is not a channel; use project_settings or distribution",
                text.chars().take(64).collect::<String>()
            ))
        })
}

fn summary(event_type: &EventType, channel: Option<Channel>) -> EventTypeSummary {
    let group = channel
        .and_then(|c| event_type.group_in(c))
        .unwrap_or(event_type.group());
    let title = channel
        .and_then(|c| event_type.title_in(c))
        .unwrap_or(event_type.title());
    EventTypeSummary {
        name: event_type.name().to_owned(),
        object: "event_type",
        group: group.to_owned(),
        title: title.to_owned(),
        channels: event_type
            .channels()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        has_public_schema: event_type.has_public_schema(),
    }
}

/// The catalog, optionally one channel's part in the seeds' group order.
#[utoipa::path(
    get,
    path = "/v1/event-types",
    tag = "Events",
    security(("app_id" = [], "app_token" = [])),
    params(EventTypeQuery),
    responses(
        (status = 200, description = "The catalog", body = EventTypeList),
        (status = 400, description = "Unknown channel", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
    )
)]
pub async fn list_event_types(
    _key: AppKey,
    Query(query): Query<EventTypeQuery>,
) -> Result<axum::Json<EventTypeList>, ApiError> {
    let channel = query.channel.as_deref().map(channel).transpose()?;
    let data: Vec<EventTypeSummary> = match channel {
        Some(c) => catalog()
            .by_channel(c)
            .map(|t| summary(t, Some(c)))
            .collect(),
        None => catalog().all().iter().map(|t| summary(t, None)).collect(),
    };
    Ok(axum::Json(EventTypeList {
        object: "list",
        data_ref: "data",
        total: data.len(),
        data,
    }))
}

/// One event type with its example and the paths its data carries.
#[utoipa::path(
    get,
    path = "/v1/event-types/{name}",
    tag = "Events",
    security(("app_id" = [], "app_token" = [])),
    params(("name" = String, Path, description = "The type's name (misspellings accepted)")),
    responses(
        (status = 200, description = "The event type", body = EventTypeDetail),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 404, description = "No such event type", body = ErrorBody),
    )
)]
pub async fn get_event_type(
    _key: AppKey,
    Path(name): Path<String>,
) -> Result<axum::Json<EventTypeDetail>, ApiError> {
    let event_type = catalog().get(&name).ok_or_else(|| {
        ApiError::not_found("event_type", name.chars().take(128).collect::<String>())
    })?;
    Ok(axum::Json(EventTypeDetail {
        summary: summary(event_type, None),
        listings: serde_json::to_value(event_type.listings()).unwrap_or(Value::Null),
        note: event_type.note().map(str::to_owned),
        example: event_type.example_data().cloned(),
        example_source: event_type.example_source().map(ExampleSource::as_str),
        paths: event_type.paths(),
        purposes: event_type
            .purposes()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        conditions: event_type
            .condition_keys()
            .map(|k| k.as_str().to_owned())
            .collect(),
    }))
}
