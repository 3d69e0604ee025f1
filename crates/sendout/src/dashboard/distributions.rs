//! The distribution manager: the list (status, trigger, action, channels; each row's menu
//! edits, pauses, sets live or deletes), and the create / edit form with the payload designer
//! and its **Show output** panel, which follows the form as it changes (the page's script
//! posts the form to [`super::designer::preview`]).
//!
//! Saving, pausing, setting live, deleting and previewing are the operations the project API
//! calls too ([`crate::ops::distributions`], [`crate::ops::preview`]), so the rules and the
//! rendered bytes are the API's. A form with an error is shown again (422)
//! with the error where it belongs and everything entered kept.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sendout_core::catalog::{catalog, Channel, Purpose};
use sendout_core::distribution::{DistributionStatus, MAX_CHANNELS};
use sendout_core::time::Timestamp;
use sendout_store::health::TargetHealth;
use sendout_store::{Distribution, Project};

use crate::dashboard::auth::{local_path, Posted, Signed};
use crate::dashboard::distribution_form::{
    purpose_label, ChannelForm, DistributionForm, CONDITIONS,
};
use crate::dashboard::error::DashError;
use crate::dashboard::health::HealthPanel;
use crate::dashboard::layout::{
    load_project, project_path, redirect_with, show_time, Chrome, Section,
};
use crate::dashboard::session::Flash;
use crate::dashboard::Dash;
use crate::ops::distributions::{self, DistributionChange};
use crate::ops::{health, OpsError};

/// A distribution in the list.
#[derive(Debug)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub trigger: String,
    pub trigger_title: String,
    pub action: String,
    pub status: String,
    pub status_class: &'static str,
    /// "Paused by sendout on …: reason", or when a person paused it.
    pub paused: Option<String>,
    pub channels: usize,
}

impl Row {
    fn new(distribution: &Distribution) -> Self {
        let spec = &distribution.spec;
        let trigger = spec.trigger().event().to_owned();
        let paused = match (&distribution.paused_reason, distribution.paused_at) {
            (Some(reason), Some(at)) => {
                Some(format!("Paused by sendout on {}: {reason}", show_time(at)))
            }
            (None, Some(at)) => Some(format!("Paused on {}", show_time(at))),
            _ => None,
        };
        let status = distribution.status.as_str();
        Self {
            id: distribution.id.to_string(),
            name: spec.name().to_owned(),
            trigger_title: catalog()
                .get(&trigger)
                .and_then(|t| t.title_in(Channel::Distribution))
                .unwrap_or(&trigger)
                .to_owned(),
            trigger,
            action: purpose_label(spec.action()).to_owned(),
            status_class: match status {
                "LIVE" => "st-succeeded",
                "PAUSED" => "st-retrying",
                _ => "st-pending",
            },
            status: status.to_owned(),
            paused,
            channels: spec.channels().len(),
        }
    }
}

/// The list.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "distributions.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub rows: Vec<Row>,
}

fn not_found(error: OpsError, raw_id: &str) -> DashError {
    match error {
        OpsError::NotFound { .. } => DashError::NotFound(format!("distribution {raw_id}")),
        other => other.into(),
    }
}

/// `GET …/distributions`.
pub async fn list(
    signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let list = distributions::list(&dash.app, &project).await?;
    let chrome = Chrome::load(
        &dash,
        &signed,
        Some(&project),
        Section::Distributions,
        "Distributions",
    )
    .await?;
    Ok(ListPage {
        chrome,
        rows: list.iter().map(Row::new).collect(),
    }
    .into_response())
}

/// A trigger of the picker.
#[derive(Debug)]
pub struct TriggerChoice {
    pub name: String,
    pub title: String,
    /// The actions it supports, space-separated (for the script).
    pub purposes: String,
    /// The condition keys it takes, space-separated (for the script).
    pub conditions: String,
}

/// The picker's groups: related activities in the seed's order.
#[derive(Debug)]
pub struct TriggerGroup {
    pub name: String,
    pub triggers: Vec<TriggerChoice>,
}

fn trigger_groups() -> Vec<TriggerGroup> {
    catalog()
        .groups(Channel::Distribution)
        .into_iter()
        .map(|g| TriggerGroup {
            name: g.name.to_owned(),
            triggers: g
                .types
                .iter()
                .map(|t| TriggerChoice {
                    name: t.name().to_owned(),
                    title: t
                        .title_in(Channel::Distribution)
                        .unwrap_or(t.title())
                        .to_owned(),
                    purposes: t
                        .purposes()
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    conditions: t
                        .condition_keys()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                })
                .collect(),
        })
        .collect()
}

/// The create / edit page.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "distribution_form.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub editing: Option<String>,
    /// The distribution being edited as it is stored: its status and the header's controls.
    pub current: Option<Row>,
    pub form: DistributionForm,
    pub groups: Vec<TriggerGroup>,
    pub actions: Vec<(&'static str, &'static str)>,
    pub conditions: Vec<(&'static str, &'static str)>,
    pub action: String,
    pub preview: String,
    /// Where the key search and the attribute picker get the keys they offer.
    pub keys: String,
    pub cancel: String,
    pub can_add_channel: bool,
    /// Each channel's health, when editing.
    pub health: Vec<HealthPanel>,
}

async fn form_page(
    dash: &Dash,
    signed: &Signed,
    project: &Project,
    editing: Option<String>,
    form: DistributionForm,
) -> Result<FormPage, DashError> {
    let title = if editing.is_some() {
        "Edit distribution"
    } else {
        "Create distribution"
    };
    let chrome = Chrome::load(dash, signed, Some(project), Section::Distributions, title).await?;
    let base = project_path(project.id.as_str(), "/distributions");
    let (current, health) = match &editing {
        Some(id) => {
            let (distribution, channels) = health::of_distribution(&dash.app, project, id)
                .await
                .map_err(|e| not_found(e, id))?;
            (
                Some(Row::new(&distribution)),
                channel_panels(&distribution, &channels),
            )
        }
        None => (None, Vec::new()),
    };
    Ok(FormPage {
        chrome,
        current,
        action: match &editing {
            Some(id) => format!("{base}/{id}"),
            None => base.clone(),
        },
        editing,
        can_add_channel: form.channels.len() < MAX_CHANNELS,
        form,
        groups: trigger_groups(),
        actions: Purpose::ALL
            .into_iter()
            .map(|p| (p.as_str(), purpose_label(p)))
            .collect(),
        conditions: CONDITIONS.to_vec(),
        preview: format!("{base}/preview"),
        keys: format!("{base}/keys"),
        cancel: base,
        health,
    })
}

/// A health panel per channel, titled by its number and event name.
fn channel_panels(distribution: &Distribution, channels: &[TargetHealth]) -> Vec<HealthPanel> {
    let now = Timestamp::now();
    distribution
        .spec
        .channels()
        .iter()
        .zip(channels)
        .enumerate()
        .map(|(index, (channel, health))| {
            let title = format!(
                "Health of channel {}: {}",
                index + 1,
                channel.event_name().as_str()
            );
            HealthPanel::new(title, format!("health-channel-{}", index + 1), health, now)
        })
        .collect()
}

/// `GET …/distributions/new`.
pub async fn new_form(
    signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    Ok(
        form_page(&dash, &signed, &project, None, DistributionForm::blank())
            .await?
            .into_response(),
    )
}

/// `GET …/distributions/{id}/edit`.
pub async fn edit_form(
    signed: Signed,
    State(dash): State<Dash>,
    Path((project_id, id)): Path<(String, String)>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let distribution = distributions::get(&dash.app, &project, &id)
        .await
        .map_err(|e| not_found(e, &id))?;
    let form = DistributionForm::from_distribution(&distribution);
    Ok(form_page(
        &dash,
        &signed,
        &project,
        Some(distribution.id.to_string()),
        form,
    )
    .await?
    .into_response())
}

/// The form's own buttons (add or remove a channel, add an attribute row): the form again,
/// changed, nothing saved. `None` when the submit is a save.
fn rearranged(form: &mut DistributionForm, op: &str) -> bool {
    let channel = |prefix: &str| {
        op.strip_prefix(prefix)
            .and_then(|i| i.parse::<usize>().ok())
    };
    if op == "add_channel" && form.channels.len() < MAX_CHANNELS {
        form.channels.push(ChannelForm::blank(form.channels.len()));
    } else if let Some(i) = channel("remove_channel:") {
        if i < form.channels.len() && form.channels.len() > 1 {
            form.channels.remove(i);
        }
    } else if let Some(i) = channel("add_attribute:") {
        if let Some(c) = form.channels.get_mut(i) {
            c.attributes.push((String::new(), String::new()));
        }
    } else {
        return false;
    }
    for (index, c) in form.channels.iter_mut().enumerate() {
        c.index = index;
    }
    true
}

async fn save(
    dash: Dash,
    project_id: String,
    id: Option<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let mut form = DistributionForm::from_form(&posted.form);
    if rearranged(&mut form, posted.form.text("op")) {
        return Ok(form_page(&dash, &posted.signed, &project, id, form)
            .await?
            .into_response());
    }
    let Some(input) = form.validate() else {
        let page = form_page(&dash, &posted.signed, &project, id, form).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let change = DistributionChange {
        input,
        status: match (&id, form.live) {
            (Some(_), _) => None,
            (None, true) => Some("LIVE".to_owned()),
            (None, false) => Some("DRAFT".to_owned()),
        },
    };
    let saved = match &id {
        Some(raw) => distributions::update(&dash.app, &project, raw, change)
            .await
            .map_err(|e| not_found(e, raw))?,
        None => distributions::create(&dash.app, &project, change).await?,
    };
    let verb = if id.is_some() { "updated" } else { "created" };
    let flash = Flash::ok(format!(
        "Distribution {} {verb} ({}).",
        saved.spec.name(),
        saved.status.as_str()
    ));
    Ok(redirect_with(
        &dash,
        &posted.signed,
        flash,
        &project_path(project.id.as_str(), "/distributions"),
    ))
}

/// `POST …/distributions` (create, or rearrange the new form).
pub async fn create(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    save(dash, project_id, None, posted).await
}

/// `POST …/distributions/{id}` (update, or rearrange the edit form).
pub async fn update(
    State(dash): State<Dash>,
    Path((project_id, id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, DashError> {
    save(dash, project_id, Some(id), posted).await
}

/// `POST …/distributions/{id}/{pause|live|delete}`: the row menu's actions, and the
/// distribution page's header controls (which come back to the page, `return_to`).
pub async fn act(
    State(dash): State<Dash>,
    Path((project_id, id, action)): Path<(String, String, String)>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let text = match action.as_str() {
        "pause" => {
            let paused =
                distributions::set_status(&dash.app, &project, &id, DistributionStatus::Paused)
                    .await
                    .map_err(|e| not_found(e, &id))?;
            format!(
                "Distribution {} paused: it sends nothing until it is set live.",
                paused.spec.name()
            )
        }
        "live" => {
            let live =
                distributions::set_status(&dash.app, &project, &id, DistributionStatus::Live)
                    .await
                    .map_err(|e| not_found(e, &id))?;
            format!("Distribution {} is live.", live.spec.name())
        }
        "delete" => {
            distributions::delete(&dash.app, &project, &id)
                .await
                .map_err(|e| not_found(e, &id))?;
            format!("Distribution {id} deleted. Its send outs stay in the audit log.")
        }
        _ => return Err(DashError::NotFound("such page in the dashboard".into())),
    };
    let list = project_path(project.id.as_str(), "/distributions");
    let back = match action.as_str() {
        "delete" => None,
        _ => local_path(posted.form.text("return_to")),
    };
    Ok(redirect_with(
        &dash,
        &posted.signed,
        Flash::ok(text),
        back.unwrap_or(&list),
    ))
}
