//! The audit log's Webhook sendouts tab: the seed's columns (status, type, send out id,
//! source, target URL, request id, event created at, executed at), filters (status, source,
//! type, period), cursor paging (`starting_after_id`), the chart of send outs over time by
//! status, and each row's menu with **Show data** (the exact body, headers and every attempt)
//! and **Retry**; plus bulk retry of one target's failed send outs.
//!
//! Listing, reading, retrying and bulk retry call the project API's own handlers, so filters,
//! header redaction, the "busy" answer and requeueing behave exactly as documented for the
//! API. A retry is made now and its outcome is shown on the page it was asked from.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use sendout_core::time::Timestamp;
use sendout_store::Project;
use serde::Deserialize;

use crate::dashboard::auth::{local_path, Posted, Signed};
use crate::dashboard::chart::{self, Chart, Period};
use crate::dashboard::error::DashError;
use crate::dashboard::layout::{
    load_project, project_path, redirect_with, show_iso, Chrome, Section,
};
use crate::dashboard::session::Flash;
use crate::dashboard::webhook_form::api_sentence;
use crate::dashboard::Dash;
use crate::http::auth::AppKey;
use crate::http::error::ApiError;
use crate::http::extract::{self as api, Json};
use crate::http::sendout_views::{SendOutDetail, SendOutView};
use crate::http::sendouts::{self, BulkRetryRequest, SendOutQuery};

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

/// The API's project key, held by the session for `project`.
fn as_project(project: &Project) -> AppKey {
    AppKey(project.clone())
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
    let api_query = SendOutQuery {
        status: given(&query.status),
        source_id: given(&query.source),
        event_type: given(&query.event_type),
        created_after: period.created_after(now).map(|t| t.to_string()),
        limit: Some(PAGE_SIZE.to_owned()),
        starting_after_id: given(&query.starting_after_id),
        ..SendOutQuery::default()
    };
    let axum::Json(page) = sendouts::list_send_outs(
        as_project(&project),
        State(dash.app.clone()),
        api::Query(api_query),
    )
    .await
    .map_err(|e| match e {
        ApiError::InvalidQuery(_) => DashError::BadRequest(api_sentence(&e, "")),
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
    let webhooks = dash.app.store.list_webhooks(&project.id).await?;
    let filters = Filters::new(&query, period, &webhooks);
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
        rows: page.data.iter().map(|v| Row::new(v, &base)).collect(),
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
            .more_starting_after
            .as_deref()
            .map(|id| format!("{base}?{}", query.query_string(Some(id)))),
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
    pub failure_reason: Option<String>,
    pub next_attempt_at: Option<String>,
    pub attempt_count: u32,
    pub headers: Vec<(String, String)>,
    /// The exact body, indented for reading.
    pub body: String,
    pub attempts: Vec<AttemptRow>,
    pub back: String,
}

fn detail_error(error: ApiError, raw_id: &str) -> DashError {
    match error {
        ApiError::NotFound { .. } => DashError::NotFound(format!("send out {raw_id}")),
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
    let axum::Json(detail) = sendouts::get_send_out(
        as_project(&project),
        State(dash.app.clone()),
        api::Path(send_out_id.clone()),
    )
    .await
    .map_err(|e| detail_error(e, &send_out_id))?;
    let base = project_path(project.id.as_str(), "/audit-log");
    let title = format!("Send out {}", detail.send_out.id);
    let chrome = Chrome::load(&dash, &signed, Some(&project), Section::AuditLog, title).await?;
    Ok(detail_page(chrome, &detail, &base).into_response())
}

fn detail_page(chrome: Chrome, detail: &SendOutDetail, base: &str) -> SendOutPage {
    let view: &SendOutView = &detail.send_out;
    let body = serde_json::from_str::<serde_json::Value>(detail.body.get())
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| detail.body.get().to_owned());
    SendOutPage {
        chrome,
        row: Row::new(view, base),
        event_id: view
            .event_id
            .clone()
            .unwrap_or_else(|| "— (a test)".to_owned()),
        failure_reason: view.failure_reason.clone(),
        next_attempt_at: view.next_attempt_at.as_deref().map(show_iso),
        attempt_count: view.attempt_count,
        headers: detail
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        body,
        attempts: detail.attempts.iter().rev().map(AttemptRow::new).collect(),
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
    let result = sendouts::retry_send_out(
        as_project(&project),
        State(dash.app.clone()),
        api::Path(send_out_id.clone()),
    )
    .await;
    let flash = match result {
        Ok(axum::Json(result)) => {
            let status = result.send_out.send_out.status;
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
        Err(ApiError::Conflict { details, .. }) => Flash::error(format!("Not retried: {details}.")),
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
    let request = BulkRetryRequest {
        source_id: source_id.clone(),
        since: since.map(|t| t.to_string()),
    };
    let result =
        sendouts::bulk_retry(as_project(&project), State(dash.app.clone()), Json(request)).await;
    let flash = match result {
        Ok(axum::Json(done)) if done.requeued == 0 => Flash::ok(format!(
            "{source_id} has no failed send outs ({}).",
            period.label.to_lowercase()
        )),
        Ok(axum::Json(done)) => Flash::ok(format!(
            "{} failed send outs of {source_id} are due again; the workers are sending them.",
            done.requeued
        )),
        Err(e @ (ApiError::InvalidPayload(_) | ApiError::NotFound { .. })) => {
            Flash::error(format!("Not retried: {}", api_sentence(&e, "source_id")))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(redirect_with(&dash, &posted.signed, flash, &back))
}
