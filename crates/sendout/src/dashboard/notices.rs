//! The Notices page of a project: what sendout told its people (a webhook disabled, a
//! distribution paused, a failing target, a recovery), newest first, each with its target,
//! why, the last response and where its mail stands; unread ones are marked, and can be
//! marked read one by one or all at once (a POST with the session's CSRF token, as every
//! dashboard form). The header shows the unread count on every page of the project
//! ([`crate::dashboard::layout::Chrome`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use sendout_store::notices::{MailState, Notice};

use crate::dashboard::auth::{Posted, Signed};
use crate::dashboard::error::DashError;
use crate::dashboard::layout::{
    load_project, project_path, redirect_with, show_time, Chrome, Section,
};
use crate::dashboard::session::Flash;
use crate::dashboard::Dash;
use crate::ops::{notices, OpsError};

/// The Notices page.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "notices.html")]
pub struct NoticesPage {
    pub chrome: Chrome,
    pub rows: Vec<NoticeRow>,
    /// The newest notice shown: "mark all read" marks up to it.
    pub newest: i64,
    pub any_unread: bool,
    /// Whether email is configured on this server.
    pub email_on: bool,
}

/// One notice as the list shows it.
#[derive(Debug)]
pub struct NoticeRow {
    pub id: i64,
    pub kind: &'static str,
    pub title: String,
    pub target_id: String,
    /// Where to look at the target: its edit page.
    pub target_path: String,
    pub target_url: String,
    pub reason: String,
    pub last_response: String,
    pub at: String,
    pub unread: bool,
    /// The failed send outs of the target.
    pub failed_path: String,
    /// Where its mail stands, if it has one.
    pub mail: Option<String>,
}

impl NoticeRow {
    fn new(project_id: &str, notice: Notice) -> Self {
        use sendout_store::notices::NoticeKind as K;
        let title = match notice.kind {
            K::WebhookDisabled => "Webhook disabled",
            K::WebhookFailing => "Webhook failing",
            K::WebhookEnabled => "Webhook enabled again",
            K::DistributionPaused => "Distribution paused",
            K::DistributionFailing => "Distribution failing",
            K::DistributionLive => "Distribution live again",
            K::SendOutExhausted => "Send out given up",
        };
        let target_path = match notice.target_kind {
            sendout_store::SourceKind::Webhook => {
                project_path(project_id, &format!("/webhooks/{}/edit", notice.target_id))
            }
            sendout_store::SourceKind::Distribution | sendout_store::SourceKind::Operational => {
                project_path(
                    project_id,
                    &format!("/distributions/{}/edit", notice.target_id),
                )
            }
        };
        let last_response = match (notice.last_status, &notice.last_error) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(error)) => error.clone(),
            _ => String::new(),
        };
        let mail = notice.mail_state.map(|state| {
            let to = notice.mail_to.join(", ");
            match state {
                MailState::Pending => format!("Mail to {to}: waiting to be sent"),
                MailState::Sent => format!("Mailed to {to}"),
                MailState::Skipped => format!(
                    "Not mailed: {}",
                    notice.mail_error.as_deref().unwrap_or("skipped")
                ),
                MailState::Failed => format!(
                    "Mail to {to} failed: {}",
                    notice.mail_error.as_deref().unwrap_or("")
                ),
            }
        });
        Self {
            id: notice.id,
            kind: notice.kind.as_str(),
            title: title.into(),
            failed_path: project_path(
                project_id,
                &format!("/audit-log?source={}&status=FAILED", notice.target_id),
            ),
            target_path,
            target_id: notice.target_id,
            target_url: notice.target_url.unwrap_or_default(),
            reason: notice.reason.unwrap_or_default(),
            last_response,
            at: show_time(notice.created_at),
            unread: notice.read_at.is_none(),
            mail,
        }
    }
}

/// `GET /dashboard/projects/{id}/notices`.
pub async fn list(
    signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let found = notices::list(&dash.app, &project).await?;
    let chrome = Chrome::load(&dash, &signed, Some(&project), Section::Notices, "Notices").await?;
    let newest = found.first().map_or(0, |n| n.id);
    let any_unread = found.iter().any(|n| n.read_at.is_none());
    Ok(NoticesPage {
        rows: found
            .into_iter()
            .map(|n| NoticeRow::new(project.id.as_str(), n))
            .collect(),
        newest,
        any_unread,
        email_on: dash.app.config.notices.smtp.is_some(),
        chrome,
    }
    .into_response())
}

/// `POST /dashboard/projects/{id}/notices/read`: `id` marks one notice read; without it,
/// `up_to` marks every unread one up to the newest shown.
pub async fn mark_read(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let back = project_path(project.id.as_str(), "/notices");
    let only = posted.form.get("id");
    let flash = match notices::mark_read(&dash.app, &project, posted.form.text("up_to"), only).await
    {
        Ok(0) => Flash::ok("Nothing was unread."),
        Ok(1) => Flash::ok("1 notice marked read."),
        Ok(n) => Flash::ok(format!("{n} notices marked read.")),
        Err(OpsError::Invalid(errors)) => Flash::error(format!(
            "Nothing was marked read: {}",
            errors.first().map(ToString::to_string).unwrap_or_default()
        )),
        Err(other) => return Err(other.into()),
    };
    Ok(redirect_with(&dash, &posted.signed, flash, &back))
}
