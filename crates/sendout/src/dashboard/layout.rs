//! What every signed-in page shows around its content ([`Chrome`]: the header with the
//! project picker, the section tabs, who is signed in, the one-time message), and the small
//! helpers pages share: loading the project of the path, showing times, redirecting back.

use axum::response::{IntoResponse, Redirect, Response};
use sendout_core::time::Timestamp;
use sendout_store::Project;

use crate::dashboard::auth::{local_path, Signed};
use crate::dashboard::error::DashError;
use crate::dashboard::session::Flash;
use crate::dashboard::{Dash, ASSET_VERSION, BASE};
use crate::ops::{notices, projects};

/// The sections of a project, as the header's tabs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Settings,
    AuditLog,
    Distributions,
    Notices,
    None,
}

/// A project in the picker.
#[derive(Debug, Clone)]
pub struct ProjectLink {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

/// The frame of every signed-in page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's own title (the `<title>` adds "sendout").
    pub title: String,
    pub who: String,
    pub csrf: String,
    pub projects: Vec<ProjectLink>,
    /// Empty on pages outside a project.
    pub project_id: String,
    pub project_name: String,
    pub section: Section,
    /// The project's unread in-app notices (0 outside a project).
    pub unread: u64,
    pub flash: Option<Flash>,
    pub asset_version: &'static str,
}

impl Chrome {
    /// The frame for a page of `project` (or of none), taking the session's one-time message.
    pub async fn load(
        dash: &Dash,
        signed: &Signed,
        project: Option<&Project>,
        section: Section,
        title: impl Into<String>,
    ) -> Result<Self, DashError> {
        let projects = projects::list(&dash.app).await?;
        let current = project.map(|p| p.id.to_string()).unwrap_or_default();
        let unread = match project {
            Some(project) => notices::unread(&dash.app, project).await?,
            None => 0,
        };
        Ok(Self {
            title: title.into(),
            who: signed.0.who.clone(),
            csrf: signed.0.csrf.clone(),
            projects: projects
                .into_iter()
                .map(|p| ProjectLink {
                    selected: p.id.as_str() == current,
                    id: p.id.to_string(),
                    name: p.name,
                })
                .collect(),
            project_name: project.map(|p| p.name.clone()).unwrap_or_default(),
            project_id: current,
            section,
            unread,
            flash: dash.sessions.take_flash(&signed.0.key),
            asset_version: ASSET_VERSION,
        })
    }

    /// The path of a page of the current project: `/dashboard/projects/{id}{rest}`.
    pub fn path(&self, rest: &str) -> String {
        project_path(&self.project_id, rest)
    }

    /// The current section as the templates and the picker's query name it.
    pub fn section_key(&self) -> &'static str {
        match self.section {
            Section::Settings => "settings",
            Section::AuditLog => "audit-log",
            Section::Distributions => "distributions",
            Section::Notices => "notices",
            Section::None => "",
        }
    }
}

/// `/dashboard/projects/{id}{rest}`.
pub fn project_path(project_id: &str, rest: &str) -> String {
    format!("{BASE}/projects/{project_id}{rest}")
}

/// The project named by the path, or a 404 page.
pub async fn load_project(dash: &Dash, raw_id: &str) -> Result<Project, DashError> {
    Ok(projects::get(&dash.app, raw_id).await?)
}

/// A time as the dashboard shows it: `2024-01-01 11:11:11 UTC`.
pub fn show_time(at: Timestamp) -> String {
    let text = at.to_string();
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

/// [`show_time`] of an ISO-8601 text, or the text as it is.
pub fn show_iso(text: &str) -> String {
    Timestamp::parse(text).map_or_else(|_| text.to_owned(), show_time)
}

/// Leaves `flash` for the next page and redirects there (303, so a reload does not post
/// again).
pub fn redirect_with(dash: &Dash, signed: &Signed, flash: Flash, to: &str) -> Response {
    dash.sessions.set_flash(&signed.0.key, flash);
    Redirect::to(local_path(to).unwrap_or(BASE)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_to_the_second_in_utc() {
        let at = Timestamp::parse("2024-01-01T11:11:11.111Z").expect("valid");
        assert_eq!(show_time(at), "2024-01-01 11:11:11 UTC");
        assert_eq!(
            show_iso("2024-01-01T11:11:11.111Z"),
            "2024-01-01 11:11:11 UTC"
        );
        assert_eq!(show_iso("not a time"), "not a time");
    }
}
