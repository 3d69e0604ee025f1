//! Turning rows into records, written once for both backends.
//!
//! Every mapping reads its row by column name through [`Columns`], which sqlx's SQLite and
//! PostgreSQL rows and rusqlite's rows (the embedded store's direct transactions, see
//! `sqlite/direct.rs`) all implement; the two schemas have the same tables and columns (a test
//! holds them so), and every integer column is read as `i64` (SQLite's `INTEGER`,
//! PostgreSQL's `BIGINT`) and narrowed here. Anything that does not parse back (an id, a
//! status, a JSON column) is reported as a database error, since only this crate writes these
//! tables. The rules that read a row beyond its columns are here too, once: which send outs'
//! requests are stored or built again from their events, and when a claim's target is active.

use std::collections::BTreeMap;

use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::envelope::{self, EventRef, SourceRef};
use sendout_core::ids::{DistributionId, EventId, GroupId, ProjectId, SendOutId, WebhookId};
use sendout_core::input::{PublicHeaders, TargetUrl};
use sendout_core::time::Timestamp;
use serde_json::value::RawValue;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row, Sqlite};

use crate::model::{
    Attempt, CalloutNotifications, Claim, Distribution, Project, SendOut, SendOutStatus,
    SigningSecrets, SourceId, SourceKind, Webhook,
};
use crate::{StoreError, StoreResult};

/// The columns of a send out: its queue row `s`, its stored request `b` if any, and what its
/// envelope takes from its event `e` if the request is not stored (see [`with_bodies!`]).
macro_rules! send_out_columns {
    () => {
        "s.id, s.project_id, s.event_id, s.envelope_type, \
         s.event_type, s.source_kind, s.source_id, s.channel, s.target_url, b.headers, b.body, \
         e.data AS event_data, e.entity_id AS event_entity_id, e.group_id AS event_group_id, \
         e.event_source AS event_source, \
         s.status, s.attempts, s.next_attempt_at, s.last_attempt_at, s.failure_reason, s.is_test, \
         s.group_id, s.event_created_at, s.created_at, s.updated_at"
    };
}

/// The joins that give send outs `s` their requests `b`, or, where no request is stored,
/// their events `e`. Headers and bodies live in their own table (written once, so the queue
/// row that claims and outcomes rewrite stays small: migration 0003 of either store), and
/// only for send outs whose request cannot be made again from the event: a project-settings
/// webhook's envelope is a pure function of the send out's row and its event's, so it is
/// built when read ([`webhook_body`]) unless the webhook has headers of its own. The event is
/// joined only when it is needed.
macro_rules! bodies {
    () => {
        "LEFT JOIN send_out_bodies b ON b.send_out_id = s.id \
         LEFT JOIN events e ON b.send_out_id IS NULL AND e.id = s.event_id"
    };
}

/// The send outs `s` with what [`bodies!`] joins.
macro_rules! with_bodies {
    () => {
        concat!("send_outs s ", $crate::rows::bodies!())
    };
}

/// The state of a send out's target, for a query over send outs `s`: the columns
/// `webhook_active` and `distribution_status` (`NULL` when the target is gone), read by
/// [`claim`]...
macro_rules! target_state {
    () => {
        "w.active AS webhook_active, d.status AS distribution_status"
    };
}

/// ...and the joins that give them.
macro_rules! target_joins {
    () => {
        "LEFT JOIN webhooks w ON s.source_kind = 'webhook' AND w.id = s.source_id \
             AND w.project_id = s.project_id \
         LEFT JOIN distributions d ON s.source_kind = 'distribution' AND d.id = s.source_id \
             AND d.project_id = s.project_id"
    };
}

pub(crate) use {bodies, send_out_columns, target_joins, target_state, with_bodies};

/// See [`send_out_columns!`].
pub(crate) const SEND_OUT_COLUMNS: &str = send_out_columns!();

/// See [`bodies!`].
pub(crate) const BODIES: &str = bodies!();

/// See [`with_bodies!`].
pub(crate) const WITH_BODIES: &str = with_bodies!();

/// See [`target_state!`] and [`target_joins!`].
pub(crate) const TARGET_STATE: (&str, &str) = (target_state!(), target_joins!());

/// What a webhook's envelope takes from its event beyond what the send out's row holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventParts<'a> {
    pub data: &'a RawValue,
    pub entity_id: Option<&'a str>,
    pub group_id: &'a GroupId,
    pub event_source: &'a RawValue,
}

impl<'a> EventParts<'a> {
    #[cfg(test)]
    pub(crate) fn of(event: &'a crate::model::NewEvent) -> Self {
        Self {
            data: &event.data,
            entity_id: event.entity_id.as_deref(),
            group_id: &event.group_id,
            event_source: &event.event_source,
        }
    }
}

/// What a send out's envelope takes from its own row beyond what [`envelope::build`] reads
/// from it directly (its event's id and time), if it is a project-settings webhook's send out
/// made by fan-out: the only kind whose body can be built again from its event.
fn rebuildable(s: &SendOut) -> Option<(&WebhookId, &EventId, Timestamp)> {
    match (&s.source_id, s.is_test, &s.event_id, s.event_created_at) {
        (SourceId::Webhook(webhook), false, Some(event_id), Some(created_at)) => {
            Some((webhook, event_id, created_at))
        }
        _ => None,
    }
}

/// The body of a project-settings webhook's send out, made from its row and its event: byte
/// for byte what fan-out built ([`crate::fanout::to_webhooks`]), since every input is stored
/// as it was then (a test holds the two to the same bytes). `None` for any other send out (a
/// distribution channel's designed body, a test send), whose body is always stored.
pub(crate) fn webhook_body(s: &SendOut, event: EventParts<'_>) -> StoreResult<Option<String>> {
    let Some((webhook, event_id, created_at)) = rebuildable(s) else {
        return Ok(None);
    };
    Ok(Some(envelope::build(
        &s.id,
        &s.project_id,
        s.created_at,
        &s.envelope_type,
        event.data,
        &SourceRef::webhook(webhook, &s.target_url),
        &EventRef {
            id: event_id,
            event_type: &s.event_type,
            created_at,
            entity_id: event.entity_id,
            group_id: event.group_id,
            event_source: event.event_source,
        },
    )))
}

/// Whether a send out's request must be stored: unless it has no headers of its own and its
/// body is one [`webhook_body`] makes again.
pub(crate) fn request_stored(s: &SendOut) -> bool {
    !s.headers.is_empty() || rebuildable(s).is_none()
}

/// A column type every driver reads (text, integers, booleans, and their `Option`s).
pub(crate) trait Value:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + rusqlite::types::FromSql
{
}

impl<T> Value for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + rusqlite::types::FromSql
{
}

/// A row of any driver, read by column name.
pub(crate) trait Columns {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T>;
}

impl Columns for SqliteRow {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T> {
        Ok(self.try_get(name)?)
    }
}

impl Columns for PgRow {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T> {
        Ok(self.try_get(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T> {
        Ok(rusqlite::Row::get(self, name)?)
    }
}

pub(crate) fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("unreadable {what} in the store: {value}"))
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

pub(crate) fn opt_ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp::from_millis)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

pub(crate) fn project(row: &impl Columns) -> StoreResult<Project> {
    let id: String = row.get("id")?;
    Ok(Project {
        id: ProjectId::parse(&id).map_err(|e| corrupt("project id", e))?,
        name: row.get("name")?,
        description: row.get("description")?,
        timezone: row.get("timezone")?,
        webhook_version: row.get("webhook_version")?,
        webhook_token: row.get("webhook_token")?,
        previous_webhook_token: row.get("previous_webhook_token")?,
        previous_token_expires_at: opt_ts(row.get("previous_token_expires_at")?),
        app_id: row.get("app_id")?,
        app_token_hash: row.get("app_token_hash")?,
        callout_notifications: match row.get::<Option<String>>("callout_notifications")? {
            Some(text) => from_json("project callout notifications", &text)?,
            None => CalloutNotifications::default(),
        },
        operational_webhook_url: match row.get::<Option<String>>("operational_webhook_url")? {
            Some(text) => {
                Some(TargetUrl::parse(&text).map_err(|e| corrupt("project operational URL", e))?)
            }
            None => None,
        },
        created_at: ts(row.get("created_at")?),
        updated_at: ts(row.get("updated_at")?),
    })
}

pub(crate) fn webhook(row: &impl Columns) -> StoreResult<Webhook> {
    let id: String = row.get("id")?;
    let project_id: String = row.get("project_id")?;
    let target_url: String = row.get("target_url")?;
    let events: String = row.get("events")?;
    let headers: String = row.get("headers")?;
    let public_headers: String = row.get("public_headers")?;
    Ok(Webhook {
        id: WebhookId::parse(&id).map_err(|e| corrupt("webhook id", e))?,
        project_id: ProjectId::parse(&project_id).map_err(|e| corrupt("project id", e))?,
        target_url: TargetUrl::parse(&target_url).map_err(|e| corrupt("webhook target URL", e))?,
        events: from_json("webhook events", &events)?,
        active: row.get("active")?,
        headers: from_json("webhook headers", &headers)?,
        public_headers: from_json("webhook public headers", &public_headers)?,
        description: row.get("description")?,
        disabled_reason: row.get("disabled_reason")?,
        disabled_at: opt_ts(row.get("disabled_at")?),
        created_at: ts(row.get("created_at")?),
        updated_at: ts(row.get("updated_at")?),
    })
}

fn count(what: &str, value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what, value))
}

pub(crate) fn send_out(row: &impl Columns) -> StoreResult<SendOut> {
    let id: String = row.get("id")?;
    let project_id: String = row.get("project_id")?;
    let event_id: Option<String> = row.get("event_id")?;
    let source_kind: String = row.get("source_kind")?;
    let source_id: String = row.get("source_id")?;
    let source_kind =
        SourceKind::parse(&source_kind).ok_or_else(|| corrupt("source kind", &source_kind))?;
    let status: String = row.get("status")?;
    let headers: Option<String> = row.get("headers")?;
    let body: Option<String> = row.get("body")?;
    let channel: Option<i64> = row.get("channel")?;
    let mut send_out = SendOut {
        id: SendOutId::parse(&id).map_err(|e| corrupt("send-out id", e))?,
        project_id: ProjectId::parse(&project_id).map_err(|e| corrupt("project id", e))?,
        event_id: event_id
            .map(|id| EventId::parse(&id).map_err(|e| corrupt("event id", e)))
            .transpose()?,
        envelope_type: row.get("envelope_type")?,
        event_type: row.get("event_type")?,
        source_id: SourceId::parse(source_kind, &source_id)
            .ok_or_else(|| corrupt("send-out source", format!("{source_kind:?} {source_id}")))?,
        channel: channel.map(|c| count("channel", c)).transpose()?,
        target_url: row.get("target_url")?,
        headers: match headers {
            Some(headers) => from_json::<BTreeMap<String, String>>("send-out headers", &headers)?,
            None => BTreeMap::new(),
        },
        body: String::new(),
        status: SendOutStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        attempts: count("attempt count", row.get("attempts")?)?,
        next_attempt_at: opt_ts(row.get("next_attempt_at")?),
        last_attempt_at: opt_ts(row.get("last_attempt_at")?),
        failure_reason: row.get("failure_reason")?,
        is_test: row.get("is_test")?,
        group_id: row.get("group_id")?,
        event_created_at: opt_ts(row.get("event_created_at")?),
        created_at: ts(row.get("created_at")?),
        updated_at: ts(row.get("updated_at")?),
        idempotency_key: None,
    };
    send_out.body = match body {
        Some(body) => body,
        None => rebuilt_body(row, &send_out)?,
    };
    Ok(send_out)
}

/// The body of a send out without a stored request, from its event's columns.
fn rebuilt_body(row: &impl Columns, send_out: &SendOut) -> StoreResult<String> {
    let missing = || {
        corrupt(
            "send-out request",
            format!("none stored for {}", send_out.id),
        )
    };
    let data: Option<String> = row.get("event_data")?;
    let event_source: Option<String> = row.get("event_source")?;
    let group_id: Option<String> = row.get("event_group_id")?;
    let (Some(data), Some(event_source), Some(group_id)) = (data, event_source, group_id) else {
        return Err(missing());
    };
    let raw = |what, text| serde_json::from_str::<&RawValue>(text).map_err(|e| corrupt(what, e));
    let group_id = GroupId::parse(&group_id).map_err(|e| corrupt("group id", e))?;
    let entity_id: Option<String> = row.get("event_entity_id")?;
    let parts = EventParts {
        data: raw("event data", &data)?,
        entity_id: entity_id.as_deref(),
        group_id: &group_id,
        event_source: raw("event source", &event_source)?,
    };
    webhook_body(send_out, parts)?.ok_or_else(missing)
}

/// A row with a send out's columns and [`TARGET_STATE`]'s as a claim under the lease ending
/// `lease_until`, signed with `secrets`.
pub(crate) fn claim(
    row: &impl Columns,
    secrets: SigningSecrets,
    lease_until: Timestamp,
) -> StoreResult<Claim> {
    let send_out = send_out(row)?;
    let webhook_active: Option<bool> = row.get("webhook_active")?;
    let distribution_status: Option<String> = row.get("distribution_status")?;
    let target_active = target_active(&send_out, webhook_active, distribution_status.as_deref());
    Ok(Claim {
        send_out,
        secrets,
        target_active,
        lease_until,
    })
}

/// Whether a send out may go to its target, given the target's state (`None`: it is gone).
/// The one place of the rule: a test send out is sent whatever its target's state; a
/// webhook's only while it is active; a distribution's only while it is `LIVE`; an
/// operational event's always.
pub(crate) fn target_active(
    send_out: &SendOut,
    webhook_active: Option<bool>,
    distribution_status: Option<&str>,
) -> bool {
    send_out.is_test
        || match send_out.source_id.kind() {
            SourceKind::Webhook => webhook_active.unwrap_or(false),
            SourceKind::Distribution => {
                distribution_status == Some(DistributionStatus::Live.as_str())
            }
            // An operational endpoint is never turned off (docs/OPERATIONS.md).
            SourceKind::Operational => true,
        }
}

pub(crate) fn attempt(row: &impl Columns) -> StoreResult<Attempt> {
    let send_out_id: String = row.get("send_out_id")?;
    let status: Option<i64> = row.get("response_status")?;
    let duration: i64 = row.get("duration_ms")?;
    Ok(Attempt {
        send_out_id: SendOutId::parse(&send_out_id).map_err(|e| corrupt("send-out id", e))?,
        number: count("attempt number", row.get("number")?)?,
        started_at: ts(row.get("started_at")?),
        duration_ms: u64::try_from(duration).map_err(|_| corrupt("duration", duration))?,
        response_status: status
            .map(|s| u16::try_from(s).map_err(|_| corrupt("response status", s)))
            .transpose()?,
        response_body: row.get("response_body")?,
        error: row.get("error")?,
        succeeded: row.get("succeeded")?,
    })
}

pub(crate) fn distribution(row: &impl Columns) -> StoreResult<Distribution> {
    let id: String = row.get("id")?;
    let project_id: String = row.get("project_id")?;
    let spec: String = row.get("spec")?;
    let status: String = row.get("status")?;
    Ok(Distribution {
        id: DistributionId::parse(&id).map_err(|e| corrupt("distribution id", e))?,
        project_id: ProjectId::parse(&project_id).map_err(|e| corrupt("project id", e))?,
        spec: serde_json::from_str::<DistributionSpec>(&spec)
            .map_err(|e| corrupt("distribution spec", e))?,
        status: DistributionStatus::parse(&status)
            .ok_or_else(|| corrupt("distribution status", &status))?,
        paused_reason: row.get("paused_reason")?,
        paused_at: opt_ts(row.get("paused_at")?),
        created_at: ts(row.get("created_at")?),
        updated_at: ts(row.get("updated_at")?),
    })
}

/// A live distribution's row, or `None` (logged) if it does not read: fan-out skips it.
///
/// A row that no longer reads (a spec that does not parse, after a hand edit or a downgrade)
/// must not refuse every event of its project; it sends nothing until it is saved again or
/// deleted.
pub(crate) fn readable_distribution(row: &impl Columns) -> Option<Distribution> {
    unless_unreadable(
        row,
        distribution(row),
        "skipped an unreadable live distribution: it sends nothing until it is fixed",
    )
}

/// `read` of a distribution's `row`, or `None` with the error logged once as `what` came of
/// it (one broken row must not fail what reads its neighbours).
fn unless_unreadable<T>(row: &impl Columns, read: StoreResult<T>, what: &str) -> Option<T> {
    match read {
        Ok(found) => Some(found),
        Err(error) => {
            let id: Option<String> = row.get("id").ok();
            tracing::error!(
                distribution.id = id.as_deref().unwrap_or("?"),
                error = %error,
                "{what}"
            );
            None
        }
    }
}

/// A webhook's id and public headers (the audit log's batch lookup).
pub(crate) fn webhook_public_headers(
    row: &impl Columns,
) -> StoreResult<(WebhookId, PublicHeaders)> {
    let id: String = row.get("id")?;
    let public: String = row.get("public_headers")?;
    Ok((
        WebhookId::parse(&id).map_err(|e| corrupt("webhook id", e))?,
        from_json("webhook public headers", &public)?,
    ))
}

/// A distribution's id and each channel's public headers, in channel order, read from its
/// `spec` without the rest of it (templates and designs are not parsed for the audit log).
/// A spec that does not read is skipped and logged, as fan-out skips it: its channels' values
/// are then all shown redacted.
pub(crate) fn channel_public_headers(
    row: &impl Columns,
) -> Option<(DistributionId, Vec<PublicHeaders>)> {
    #[derive(serde::Deserialize)]
    struct Spec {
        channels: Vec<Channel>,
    }
    #[derive(serde::Deserialize)]
    struct Channel {
        #[serde(default)]
        public_headers: PublicHeaders,
    }
    let read = || -> StoreResult<(DistributionId, Vec<PublicHeaders>)> {
        let id: String = row.get("id")?;
        let spec: String = row.get("spec")?;
        let spec: Spec = from_json("distribution spec", &spec)?;
        Ok((
            DistributionId::parse(&id).map_err(|e| corrupt("distribution id", e))?,
            spec.channels
                .into_iter()
                .map(|c| c.public_headers)
                .collect(),
        ))
    };
    unless_unreadable(
        row,
        read(),
        "an unreadable distribution's header values are all shown redacted",
    )
}
