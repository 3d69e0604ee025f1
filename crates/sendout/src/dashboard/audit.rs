//! The audit log's Webhook sendouts tab: the seed's columns (status, type, send out id,
//! source, target URL, request id, event created at, executed at), filters (status, source,
//! type, period), cursor paging (`starting_after_id`), the chart of send outs over time by
//! status, and each row's menu with **Show data** (the exact body, headers and every attempt)
//! and **Retry**; plus bulk retry of one target's failed send outs.
//!
//! Listing, reading, retrying and bulk retry are the operations the project API calls too
//! ([`crate::ops::sendouts`]), so filters, header redaction, the "busy" answer and requeueing
//! behave exactly as documented for the API. A retry is made now and its outcome is shown on
//! the page it was asked from.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use sendout_core::time::Timestamp;
use sendout_store::{Attempt, SendOut};
use serde::Deserialize;

use crate::dashboard::auth::{local_path, Posted, Signed};
use crate::dashboard::chart::{self, Chart, Period};
use crate::dashboard::error::DashError;
use crate::dashboard::layout::{
    load_project, project_path, redirect_with, show_time, Chrome, Section,
};
use crate::dashboard::session::Flash;
use crate::dashboard::webhook_form::{refusal, sentence};
use crate::dashboard::Dash;
use crate::ops::sendouts::{self, BulkRetryInput, ListInput};
use crate::ops::{distributions, webhooks, OpsError};

mod views;
pub use views::{AttemptRow, Choice, ChoiceGroup, Filters, Row};

/// Rows per page.
const PAGE_SIZE: &str = "25";

/// The filters and cursor of the list, as the query string holds them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, rename = "type")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub starting_after_id: Option<String>,
}

fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl ListQuery {
    /// The query string of these filters, with `starting_after_id` if given.
    pub fn query_string(&self, starting_after: Option<&str>) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", given(&self.status)),
            ("source", given(&self.source)),
            ("type", given(&self.event_type)),
            ("period", given(&self.period)),
            ("starting_after_id", starting_after.map(str::to_owned)),
        ] {
            if let Some(value) = value {
                out.append_pair(name, &value);
            }
        }
        out.finish()
    }
}

/// The Webhook sendouts tab.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub filters: Filters,
    pub rows: Vec<Row>,
    pub total: Option<u64>,
    pub chart: Chart,
    /// This page, for the retry forms to come back to.
    pub here: String,
    pub first_page: Option<String>,
    pub next_page: Option<String>,
    pub bulk_action: String,
}

/// `GET …/audit-log`.
pub async fn list(
    signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let now = Timestamp::now();
    let period = Period::parse(query.period.as_deref());
    let input = ListInput {
        status: given(&query.status),
        source_id: given(&query.source),
        event_type: given(&query.event_type),
        created_after: period.created_after(now).map(|t| t.to_string()),
        limit: Some(PAGE_SIZE.to_owned()),
        starting_after_id: given(&query.starting_after_id),
        ..ListInput::default()
    };
    let page = sendouts::list(&dash.app, &project, &input)
        .await
        .map_err(|e| match e {
            OpsError::Invalid(errors) => DashError::BadRequest(sentence(
                &errors.first().map(ToString::to_string).unwrap_or_default(),
            )),
            other => other.into(),
        })?;
    let histogram = dash
        .app
        .store
        .send_out_histogram(&project.id, period.chart_start(now), period.bucket)
        .await?;
    let base = project_path(project.id.as_str(), "/audit-log");
    let current = query.query_string(given(&query.starting_after_id).as_deref());
    let here = if current.is_empty() {
        base.clone()
    } else {
        format!("{base}?{current}")
    };
    let webhooks = webhooks::list(&dash.app, &project).await?;
    let distributions = distributions::list(&dash.app, &project).await?;
    let filters = Filters::new(&query, period, &webhooks, &distributions);
    let first = query.query_string(None);
    let chrome = Chrome::load(
        &dash,
        &signed,
        Some(&project),
        Section::AuditLog,
        "Audit log",
    )
    .await?;
    Ok(AuditPage {
        chrome,
        rows: page.items.iter().map(|s| Row::new(s, &base)).collect(),
        total: page.total,
        chart: chart::build(&histogram, period, now),
        first_page: given(&query.starting_after_id).map(|_| {
            if first.is_empty() {
                base.clone()
            } else {
                format!("{base}?{first}")
            }
        }),
        next_page: page
            .has_more
            .then(|| page.items.last())
            .flatten()
            .map(|last| format!("{base}?{}", query.query_string(Some(last.id.as_str())))),
        here,
        filters,
        bulk_action: format!("{base}/retry-failed"),
    }
    .into_response())
}

/// Show data: one send out in full.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "sendout.html")]
pub struct SendOutPage {
    pub chrome: Chrome,
    pub row: Row,
    pub event_id: String,
    /// The idempotency key the event was ingested with, if any.
    pub idempotency_key: Option<String>,
    pub failure_reason: Option<String>,
    pub next_attempt_at: Option<String>,
    pub attempt_count: u32,
    pub headers: Vec<(String, String)>,
    /// The exact body, indented for reading.
    pub body: String,
    pub attempts: Vec<AttemptRow>,
    pub back: String,
}

fn detail_error(error: OpsError, raw_id: &str) -> DashError {
    match error {
        OpsError::NotFound { .. } => DashError::NotFound(format!("send out {raw_id}")),
        other => other.into(),
    }
}

/// `GET …/audit-log/{id}` (Show data).
pub async fn show(
    signed: Signed,
    State(dash): State<Dash>,
    Path((project_id, send_out_id)): Path<(String, String)>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let (send_out, attempts) = sendouts::get(&dash.app, &project, &send_out_id)
        .await
        .map_err(|e| detail_error(e, &send_out_id))?;
    let base = project_path(project.id.as_str(), "/audit-log");
    let title = format!("Send out {}", send_out.id);
    let chrome = Chrome::load(&dash, &signed, Some(&project), Section::AuditLog, title).await?;
    Ok(detail_page(chrome, &send_out, &attempts, &base).into_response())
}

fn detail_page(
    chrome: Chrome,
    send_out: &SendOut,
    attempts: &[Attempt],
    base: &str,
) -> SendOutPage {
    let body = serde_json::from_str::<serde_json::Value>(&send_out.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| send_out.body.clone());
    SendOutPage {
        chrome,
        row: Row::new(send_out, base),
        event_id: send_out
            .event_id
            .as_ref()
            .map_or_else(|| "— (a test)".to_owned(), ToString::to_string),
        idempotency_key: send_out.idempotency_key.clone(),
        failure_reason: send_out.failure_reason.clone(),
        next_attempt_at: send_out.next_attempt_at.map(show_time),
        attempt_count: send_out.attempts,
        // Already redacted by the operations (`ops::sendouts::redact`).
        headers: send_out.headers.clone().into_iter().collect(),
        body,
        attempts: attempts.iter().rev().map(AttemptRow::new).collect(),
        back: base.to_owned(),
    }
}

/// `POST …/audit-log/{id}/retry`: one attempt now; the outcome is shown where it was asked.
pub async fn retry(
    State(dash): State<Dash>,
    Path((project_id, send_out_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let back = local_path(posted.form.text("return_to"))
        .map(str::to_owned)
        .unwrap_or_else(|| project_path(project.id.as_str(), &format!("/audit-log/{send_out_id}")));
    let result = sendouts::retry(&dash.app, &project, &send_out_id).await;
    let flash = match result {
        Ok(result) => {
            let status = result.send_out.status.as_str();
            match result.attempt {
                Some(a) if a.succeeded => Flash::ok(format!(
                    "Retried {send_out_id}: delivered, the receiver answered {}. Status: {status}.",
                    a.response_status
                        .map_or_else(|| "2xx".to_owned(), |s| s.to_string())
                )),
                Some(a) => Flash::error(format!(
                    "Retried {send_out_id}: failed, {}. Status: {status}.",
                    a.error.unwrap_or_else(|| format!(
                        "the receiver answered {}",
                        a.response_status.unwrap_or_default()
                    ))
                )),
                None => Flash::error(format!(
                    "Retried {send_out_id}: no attempt was made. Status: {status}."
                )),
            }
        }
        Err(OpsError::Conflict { details, .. }) => Flash::error(format!("Not retried: {details}.")),
        Err(e) => return Err(detail_error(e, &send_out_id)),
    };
    Ok(redirect_with(&dash, &posted.signed, flash, &back))
}

/// `POST …/audit-log/retry-failed`: every failed send out of one target since a time, again.
pub async fn bulk_retry(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let back = local_path(posted.form.text("return_to"))
        .map(str::to_owned)
        .unwrap_or_else(|| project_path(project.id.as_str(), "/audit-log"));
    let source_id = posted.form.text("source").to_owned();
    let period = Period::parse(Some(posted.form.text("since")));
    let since = period.created_after(Timestamp::now());
    let input = BulkRetryInput {
        source_id: source_id.clone(),
        since: since.map(|t| t.to_string()),
    };
    let result = sendouts::bulk_retry(&dash.app, &project, input).await;
    let flash = match result {
        Ok(done) if done.requeued == 0 => Flash::ok(format!(
            "{source_id} has no failed send outs ({}).",
            period.label.to_lowercase()
        )),
        Ok(done) => Flash::ok(format!(
            "{} failed send outs of {source_id} are due again; the workers are sending them.",
            done.requeued
        )),
        Err(e @ (OpsError::Invalid(_) | OpsError::NotFound { .. })) => {
            Flash::error(format!("Not retried: {}", refusal(&e, "source_id")))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(redirect_with(&dash, &posted.signed, flash, &back))
}
