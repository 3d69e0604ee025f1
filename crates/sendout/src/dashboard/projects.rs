//! The list of projects and Project settings' General tab: the webhook version, the signing
//! secret, named "Secret key" as the seeds name it (hidden until revealed; rotation), the
//! project's keys, and the Webhooks section
//! listing every webhook with its events, whether it is active (and if sendout disabled it,
//! why and when) and the status of its last send out.
//!
//! The app token is kept only as a hash, so it cannot be shown here: the page says so.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use sendout_core::time::Timestamp;
use sendout_store::{CalloutNotification, Project, SendOutStatus, SourceKind, Webhook};
use serde::Deserialize;

use crate::dashboard::auth::{Posted, Signed};
use crate::dashboard::error::DashError;
use crate::dashboard::form::Form;
use crate::dashboard::health::HealthCell;
use crate::dashboard::layout::{
    load_project, project_path, redirect_with, show_time, Chrome, Section,
};
use crate::dashboard::session::Flash;
use crate::dashboard::Dash;
use crate::ops::notifications::{NoticeInput, NotificationsInput};
use crate::ops::{distributions, health, projects, sendouts, webhooks, OpsError};

/// How many event names a webhook row shows before "and N more".
const EVENTS_SHOWN: usize = 3;

/// The list of projects.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    pub chrome: Chrome,
    pub projects: Vec<ProjectSummary>,
}

/// A project in the list: where work is waiting (its webhooks, how many are inactive, the
/// send outs of the last 24 hours that failed) and its sections, one click away.
#[derive(Debug)]
pub struct ProjectSummary {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub created_at: String,
    pub webhooks: usize,
    pub inactive_webhooks: usize,
    pub distributions: usize,
    pub failed_24h: u64,
}

impl ProjectSummary {
    /// The path of one of the project's sections.
    pub fn path(&self, rest: &str) -> String {
        project_path(&self.id, rest)
    }
}

/// What the list says of `project`, read now.
async fn summary(
    dash: &Dash,
    project: Project,
    now: Timestamp,
) -> Result<ProjectSummary, DashError> {
    let webhooks = webhooks::list(&dash.app, &project).await?;
    let distributions = distributions::list(&dash.app, &project).await?;
    let day = crate::dashboard::chart::Period::parse(Some("24h"));
    let since = day.created_after(now).unwrap_or(now);
    let failed_24h = dash
        .app
        .store
        .send_out_histogram(&project.id, since, std::time::Duration::from_secs(86_400))
        .await?
        .iter()
        .filter(|b| b.status == SendOutStatus::Failed)
        .map(|b| b.count)
        .sum();
    Ok(ProjectSummary {
        id: project.id.to_string(),
        timezone: project.timezone,
        created_at: show_time(project.created_at),
        webhooks: webhooks.len(),
        inactive_webhooks: webhooks.iter().filter(|w| !w.active).count(),
        distributions: distributions.len(),
        failed_24h,
        name: project.name,
    })
}

/// `GET /dashboard`, where signing in lands: the only project's settings, or the list of
/// projects with what needs attention in each and their sections.
pub async fn home(
    signed: Signed,
    axum::extract::State(dash): axum::extract::State<Dash>,
) -> Result<Response, DashError> {
    let projects = projects::list(&dash.app).await?;
    if let [only] = projects.as_slice() {
        return Ok(Redirect::to(&project_path(only.id.as_str(), "/settings")).into_response());
    }
    let chrome = Chrome::load(&dash, &signed, None, Section::None, "Projects").await?;
    let now = Timestamp::now();
    let mut summaries = Vec::with_capacity(projects.len());
    for project in projects {
        summaries.push(summary(&dash, project, now).await?);
    }
    Ok(ProjectsPage {
        chrome,
        projects: summaries,
    }
    .into_response())
}

/// Query of the project picker.
#[derive(Debug, Deserialize)]
pub struct OpenQuery {
    project: String,
    #[serde(default)]
    section: Option<String>,
}

/// `GET /dashboard/open?project=…&section=…`: the picker's target.
pub async fn open(
    _signed: Signed,
    State(dash): State<Dash>,
    Query(query): Query<OpenQuery>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, query.project.trim()).await?;
    let rest = match query.section.as_deref() {
        Some("audit-log") => "/audit-log",
        Some("distributions") => "/distributions",
        _ => "/settings",
    };
    Ok(Redirect::to(&project_path(project.id.as_str(), rest)).into_response())
}

/// `GET /dashboard/projects/{id}`.
pub async fn project_home(
    _signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    Ok(Redirect::to(&project_path(project.id.as_str(), "/settings")).into_response())
}

/// Project settings, General tab.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub project: ProjectInfo,
    pub webhooks: Vec<WebhookRow>,
    /// Whether this server sends email (SMTP is configured), and from whom.
    pub email_on: bool,
    pub email_from: String,
}

/// What the General tab shows of a project.
#[derive(Debug)]
pub struct ProjectInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub timezone: String,
    pub webhook_version: String,
    pub webhook_token: String,
    /// While a rotated-out secret still signs: until when.
    pub previous_expires: Option<String>,
    pub app_id: String,
    /// The project's operational webhook URL, empty when it has none.
    pub operational_url: String,
    pub created_at: String,
    /// Webhooks' and distributions' callout notification settings, in that order.
    pub notices: [NoticeRow; 2],
}

/// One kind of target's callout notification settings, as the form shows them.
#[derive(Debug)]
pub struct NoticeRow {
    /// `webhooks` or `distributions`: the form fields' prefix.
    pub part: &'static str,
    pub label: &'static str,
    pub email: bool,
    /// The addresses, separated by commas.
    pub emails: String,
    pub in_app: bool,
}

impl NoticeRow {
    fn new(part: &'static str, label: &'static str, notice: &CalloutNotification) -> Self {
        Self {
            part,
            label,
            email: notice.email,
            emails: notice.emails.join(", "),
            in_app: notice.in_app,
        }
    }

    /// What the form sent for this part: every field, so the whole part is replaced.
    fn input(part: &str, form: &Form) -> NoticeInput {
        let emails = form
            .text(&format!("{part}_emails"))
            .split([',', '\n', ';'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        NoticeInput {
            email: Some(form.checked(&format!("{part}_email"))),
            emails: Some(emails),
            in_app: Some(form.checked(&format!("{part}_in_app"))),
        }
    }
}

impl ProjectInfo {
    fn new(project: &Project, now: Timestamp) -> Self {
        Self {
            id: project.id.to_string(),
            name: project.name.clone(),
            description: project.description.clone().unwrap_or_default(),
            timezone: project.timezone.clone(),
            webhook_version: project.webhook_version.clone(),
            webhook_token: project.webhook_token.clone(),
            previous_expires: match (
                &project.previous_webhook_token,
                project.previous_token_expires_at,
            ) {
                (Some(_), Some(until)) if until > now => Some(show_time(until)),
                _ => None,
            },
            app_id: project.app_id.clone(),
            operational_url: project
                .operational_webhook_url
                .as_ref()
                .map(|url| url.as_str().to_owned())
                .unwrap_or_default(),
            created_at: show_time(project.created_at),
            notices: [
                NoticeRow::new(
                    "webhooks",
                    "Webhooks (project settings)",
                    &project.callout_notifications.webhooks,
                ),
                NoticeRow::new(
                    "distributions",
                    "Distributions",
                    &project.callout_notifications.distributions,
                ),
            ],
        }
    }
}

/// A webhook in the Webhooks section.
#[derive(Debug)]
pub struct WebhookRow {
    pub id: String,
    pub target_url: String,
    pub description: String,
    pub all_events: bool,
    /// The first few event names.
    pub events_shown: Vec<String>,
    /// The rest.
    pub events_more: Vec<String>,
    pub active: bool,
    /// "Disabled by sendout on … : reason", when it was.
    pub disabled: Option<String>,
    pub last_status: Option<&'static str>,
    pub header_count: usize,
    pub health: HealthCell,
}

impl WebhookRow {
    fn new(webhook: Webhook, last_status: Option<&'static str>, health: HealthCell) -> Self {
        let all_events = webhook.events.is_all();
        let mut events_shown: Vec<String> = webhook
            .events
            .event_types()
            .iter()
            .map(|e| (*e).to_owned())
            .collect();
        let events_more = events_shown.split_off(EVENTS_SHOWN.min(events_shown.len()));
        let disabled = match (&webhook.disabled_reason, webhook.disabled_at) {
            (Some(reason), Some(at)) if !webhook.active => Some(format!(
                "Disabled by sendout on {}: {reason}",
                show_time(at)
            )),
            _ => None,
        };
        Self {
            id: webhook.id.to_string(),
            target_url: webhook.target_url.to_string(),
            description: webhook.description.unwrap_or_default(),
            all_events,
            events_shown,
            events_more,
            active: webhook.active,
            disabled,
            last_status,
            header_count: webhook.headers.len(),
            health,
        }
    }
}

/// `GET /dashboard/projects/{id}/settings`.
pub async fn settings(
    signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let webhooks = webhooks::list(&dash.app, &project).await?;
    let last = sendouts::last_status_by_source(&dash.app, &project).await?;
    let health = health::of_project(&dash.app, &project).await?;
    let rows = webhooks
        .into_iter()
        .map(|w| {
            let status = last
                .iter()
                .find(|(source, _)| source == w.id.as_str())
                .map(|(_, s)| s.as_str());
            let cell =
                HealthCell::new(health.iter().find(|h| {
                    h.source_kind == SourceKind::Webhook && h.source_id == w.id.as_str()
                }));
            WebhookRow::new(w, status, cell)
        })
        .collect();
    let chrome = Chrome::load(
        &dash,
        &signed,
        Some(&project),
        Section::Settings,
        "Project settings",
    )
    .await?;
    Ok(SettingsPage {
        chrome,
        project: ProjectInfo::new(&project, Timestamp::now()),
        webhooks: rows,
        email_on: dash.app.config.notices.smtp.is_some(),
        email_from: dash
            .app
            .config
            .notices
            .smtp
            .as_ref()
            .map(|smtp| smtp.from.to_string())
            .unwrap_or_default(),
    }
    .into_response())
}

/// `POST …/settings/notifications`: the callout notification settings, through the
/// management API's code (its checks and messages); a refusal changes nothing and says why.
pub async fn save_notifications(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let change = projects::ProjectChange {
        callout_notifications: Some(NotificationsInput {
            webhooks: Some(NoticeRow::input("webhooks", &posted.form)),
            distributions: Some(NoticeRow::input("distributions", &posted.form)),
        }),
        ..projects::ProjectChange::default()
    };
    let back = project_path(project.id.as_str(), "/settings#notifications");
    let saved = projects::update(&dash.app, project.id.as_str(), change).await;
    let flash = saved_or_why(saved, "The notification settings were")?;
    Ok(redirect_with(&dash, &posted.signed, flash, &back))
}

/// `POST …/settings/operational`: the project's operational webhook URL (empty: none),
/// through the management API's code (its checks and messages); a refusal changes nothing
/// and says why.
pub async fn save_operational(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let url = posted.form.text("operational_webhook_url").to_owned();
    let change = projects::ProjectChange {
        operational_webhook_url: Some(Some(url)),
        ..projects::ProjectChange::default()
    };
    let back = project_path(project.id.as_str(), "/settings#operational");
    let saved = projects::update(&dash.app, project.id.as_str(), change).await;
    let flash = saved_or_why(saved, "The operational webhook was")?;
    Ok(redirect_with(&dash, &posted.signed, flash, &back))
}

/// The flash for a saved settings form, `what` being "The … was" or "were": saved, or not
/// saved and why; another error is the page's.
fn saved_or_why(saved: Result<Project, OpsError>, what: &str) -> Result<Flash, DashError> {
    match saved {
        Ok(_) => Ok(Flash::ok(format!("{what} saved."))),
        Err(OpsError::Invalid(errors)) => Ok(Flash::error(format!(
            "{what} not saved: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Err(other) => Err(other.into()),
    }
}

/// `POST …/settings/rotate-secret`: a new signing secret, through the management API's code.
pub async fn rotate_secret(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let rotated = projects::rotate_webhook_token(&dash.app, project.id.as_str()).await?;
    let until = projects::previous_token_expiry(&rotated, Timestamp::now())
        .map(show_time)
        .unwrap_or_default();
    let flash = Flash::ok(format!(
        "The secret key was rotated. The previous one keeps signing until {until}."
    ));
    Ok(redirect_with(
        &dash,
        &posted.signed,
        flash,
        &project_path(project.id.as_str(), "/settings#secret-key"),
    ))
}
