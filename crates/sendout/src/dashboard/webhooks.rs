//! Adding, editing, testing and deleting a webhook (the seeds' "Add new webhook" form: target
//! URL, Is active?, the event picker with Send me all events, custom headers, **Send test
//! webhook**, **Create endpoint** / **Update endpoint**; the trash button asks before
//! deleting).
//!
//! Decisions:
//! - a form with errors is shown again (422) with everything entered and each error next to
//!   its field; nothing is stored;
//! - Send test webhook sends what the form holds now (URL and headers as typed, the first
//!   ticked event's example) through the test send the API makes too ([`test_send`]), and shows the outcome on the
//!   form without saving it; the test is in the audit log like the API's, under the edited
//!   webhook's id (`wh_test` only on the add form, when no webhook exists yet);
//! - updating replaces every field the form has, so re-enabling a disabled webhook is ticking
//!   Is active? and Update endpoint, as the seeds describe.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sendout_store::{Project, Webhook};

use crate::dashboard::auth::{Posted, Signed};
use crate::dashboard::error::DashError;
use crate::dashboard::health::HealthPanel;
use crate::dashboard::layout::{
    load_project, project_path, redirect_with, show_time, Chrome, Section,
};
use crate::dashboard::session::Flash;
use crate::dashboard::webhook_form::{
    picker, refusal, test_types, FieldErrors, PickerGroup, TestType, WebhookForm,
};
use crate::dashboard::Dash;
use crate::ops::test_send::{self, request_group, Tested, UrlTest};
use crate::ops::{health, webhooks, OpsError};
use crate::telemetry::REQUEST_ID_HEADER;
use sendout_core::time::Timestamp;
use sendout_store::SourceId;

/// The add / edit page.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "webhook_form.html")]
pub struct WebhookFormPage {
    pub chrome: Chrome,
    /// The webhook being edited; `None` when adding.
    pub editing: Option<String>,
    pub form: WebhookForm,
    pub errors: FieldErrors,
    pub groups: Vec<PickerGroup>,
    /// Send test webhook's types with a real example, and without one.
    pub test_types_with_example: Vec<TestType>,
    pub test_types_without_example: Vec<TestType>,
    /// Why Send test webhook did not send the pasted (or missing) test data.
    pub test_data_error: Option<String>,
    pub test: Option<TestOutcome>,
    /// Why and when sendout disabled it, if it did.
    pub disabled: Option<String>,
    /// Where "Enable and retry what failed" posts, for an inactive webhook.
    pub recover_action: Option<String>,
    pub action: String,
    pub test_action: String,
    pub cancel: String,
    /// The webhook's health (one panel), when editing.
    pub health: Vec<HealthPanel>,
}

/// What Send test webhook did, as the form shows it.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub succeeded: bool,
    pub summary: String,
    pub response_body: Option<String>,
    pub audit_path: String,
}

async fn page(
    dash: &Dash,
    signed: &Signed,
    project: &Project,
    editing: Option<&Webhook>,
    form: WebhookForm,
) -> Result<WebhookFormPage, DashError> {
    let title = if editing.is_some() {
        "Edit webhook"
    } else {
        "Add new webhook"
    };
    let chrome = Chrome::load(dash, signed, Some(project), Section::Settings, title).await?;
    let base = project_path(project.id.as_str(), "/webhooks");
    let (action, test_action) = match editing {
        Some(w) => (format!("{base}/{}", w.id), format!("{base}/{}/test", w.id)),
        None => (base.clone(), format!("{base}/test")),
    };
    let (test_types_with_example, test_types_without_example) = test_types(&form.test_type);
    let health = match editing {
        Some(w) => {
            let (_, health) = health::of_webhook(&dash.app, project, w.id.as_str()).await?;
            let title = "Health".to_owned();
            vec![HealthPanel::new(
                title,
                "health".to_owned(),
                &health,
                Timestamp::now(),
            )]
        }
        None => Vec::new(),
    };
    Ok(WebhookFormPage {
        chrome,
        editing: editing.map(|w| w.id.to_string()),
        groups: picker(&form.events),
        test_types_with_example,
        test_types_without_example,
        test_data_error: None,
        form,
        errors: FieldErrors::default(),
        test: None,
        disabled: editing.and_then(|w| match (&w.disabled_reason, w.disabled_at) {
            (Some(reason), Some(at)) if !w.active => Some(format!(
                "sendout disabled this webhook on {}: {reason}",
                show_time(at)
            )),
            _ => None,
        }),
        recover_action: editing
            .filter(|w| !w.active)
            .map(|w| format!("{base}/{}/recover", w.id)),
        action,
        test_action,
        cancel: project_path(project.id.as_str(), "/settings#webhooks"),
        health,
    })
}

async fn existing(dash: &Dash, project: &Project, raw_id: &str) -> Result<Webhook, DashError> {
    Ok(webhooks::get(&dash.app, project, raw_id).await?)
}

/// `GET …/webhooks/new`.
pub async fn new_form(
    signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    Ok(page(&dash, &signed, &project, None, WebhookForm::blank())
        .await?
        .into_response())
}

/// `GET …/webhooks/{id}/edit`.
pub async fn edit_form(
    signed: Signed,
    State(dash): State<Dash>,
    Path((project_id, webhook_id)): Path<(String, String)>,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let webhook = existing(&dash, &project, &webhook_id).await?;
    let form = WebhookForm::from_webhook(&webhook);
    Ok(page(&dash, &signed, &project, Some(&webhook), form)
        .await?
        .into_response())
}

/// Stores the form as a new webhook (`editing` `None`) or over an existing one.
async fn save(
    dash: Dash,
    project_id: String,
    webhook_id: Option<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let current = match &webhook_id {
        Some(id) => Some(existing(&dash, &project, id).await?),
        None => None,
    };
    let form = WebhookForm::from_form(&posted.form);
    let input = form.input();
    let saved = match (form.custom_headers(), &current) {
        (Err(_), _) => Err(webhooks::fields(input, None)
            .err()
            .unwrap_or(OpsError::Invalid(Vec::new()))),
        (Ok(_), Some(current)) => {
            webhooks::update(&dash.app, &project, current.id.as_str(), input).await
        }
        (Ok(_), None) => webhooks::create(&dash.app, &project, input).await,
    };
    let webhook = match saved {
        Ok(webhook) => webhook,
        Err(error) => {
            let Some(errors) = form.errors(&error) else {
                return Err(error.into());
            };
            let mut page = page(&dash, &posted.signed, &project, current.as_ref(), form).await?;
            page.errors = errors;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let verb = if current.is_some() {
        "updated"
    } else {
        "created"
    };
    let flash = Flash::ok(format!("Webhook {} {verb}.", webhook.target_url));
    Ok(redirect_with(
        &dash,
        &posted.signed,
        flash,
        &project_path(project.id.as_str(), "/settings#webhooks"),
    ))
}

/// `POST …/webhooks` (Create endpoint).
pub async fn create(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    save(dash, project_id, None, posted).await
}

/// `POST …/webhooks/{id}` (Update endpoint).
pub async fn update(
    State(dash): State<Dash>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, DashError> {
    save(dash, project_id, Some(webhook_id), posted).await
}

/// Sends a test of what the form holds and shows the form again with the outcome.
async fn test(
    dash: Dash,
    project_id: String,
    webhook_id: Option<String>,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let current = match &webhook_id {
        Some(id) => Some(existing(&dash, &project, id).await?),
        None => None,
    };
    let form = WebhookForm::from_form(&posted.form);
    let checked = form
        .target()
        .and_then(|url| Ok((url, form.custom_headers()?, form.pasted_test_data()?)));
    let mut errors = FieldErrors::default();
    let mut test_data_error = None;
    let outcome = match checked {
        Err(_) => {
            errors.target_url = form.target().err();
            errors.headers = form.custom_headers().err();
            test_data_error = form.pasted_test_data().err();
            None
        }
        Ok((url, custom, test_data)) => {
            let input = UrlTest {
                target_url: url.as_str().to_owned(),
                event_type: Some(form.test_event()),
                data: test_data,
                headers: Some(custom),
            };
            // The edit form's test is that webhook's (its id in `source`, in the audit log
            // under it); only the add form's, before any webhook exists, is `wh_test`.
            let source_id = current.as_ref().map_or(SourceId::UnsavedWebhook, |w| {
                SourceId::Webhook(w.id.clone())
            });
            let request_id = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
            let result = test_send::test_url(
                &dash.app,
                &project,
                source_id,
                input,
                request_group(request_id),
            )
            .await;
            match result {
                Ok(result) => Some(outcome(&project, result)),
                Err(e) if is_about_data(&e) => {
                    test_data_error = Some(refusal(&e, "data"));
                    None
                }
                Err(e) if !e.field_errors().is_empty() => {
                    errors.events = Some(refusal(&e, "event_type"));
                    None
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let status = if errors.is_empty() && test_data_error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut page = page(&dash, &posted.signed, &project, current.as_ref(), form).await?;
    page.errors = errors;
    page.test_data_error = test_data_error;
    page.test = outcome;
    Ok((status, page).into_response())
}

/// Whether the test was refused for its data (not an object, or needed and not pasted).
fn is_about_data(error: &OpsError) -> bool {
    error
        .field_errors()
        .first()
        .is_some_and(|e| e.path.to_string() == "data")
}

fn outcome(project: &Project, result: Tested) -> TestOutcome {
    let attempt = result.attempt.as_ref();
    let timing = attempt
        .map(|a| format!(" in {} ms", a.duration_ms))
        .unwrap_or_default();
    let error = result.error();
    let summary = match (
        result.succeeded,
        attempt.and_then(|a| a.response_status),
        &error,
    ) {
        (true, Some(status), _) => {
            format!(
                "Test webhook {} delivered: the receiver answered {status}{timing}.",
                result.event_type
            )
        }
        (_, _, Some(error)) => format!(
            "Test webhook {} failed{timing}: {error}.",
            result.event_type
        ),
        (_, Some(status), None) => {
            format!(
                "Test webhook {} failed: the receiver answered {status}{timing}.",
                result.event_type
            )
        }
        _ => format!(
            "Test webhook {}: {}.",
            result.event_type,
            result.status().as_str()
        ),
    };
    TestOutcome {
        succeeded: result.succeeded,
        summary,
        response_body: attempt
            .and_then(|a| a.response_body.clone())
            .filter(|b| !b.is_empty()),
        audit_path: project_path(
            project.id.as_str(),
            &format!("/audit-log/{}", result.send_out_id),
        ),
    }
}

/// `POST …/webhooks/test` (Send test webhook, before the webhook exists).
pub async fn test_new(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, DashError> {
    test(dash, project_id, None, headers, posted).await
}

/// `POST …/webhooks/{id}/test` (Send test webhook, on the edit form).
pub async fn test_existing(
    State(dash): State<Dash>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, DashError> {
    test(dash, project_id, Some(webhook_id), headers, posted).await
}

/// `POST …/webhooks/{id}/delete` (the trash button's Delete).
pub async fn delete(
    State(dash): State<Dash>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let webhook = webhooks::delete(&dash.app, &project, &webhook_id).await?;
    let flash = Flash::ok(format!(
        "Webhook {} deleted. Its send outs stay in the audit log.",
        webhook.target_url
    ));
    Ok(redirect_with(
        &dash,
        &posted.signed,
        flash,
        &project_path(project.id.as_str(), "/settings#webhooks"),
    ))
}

/// `POST …/webhooks/{id}/recover`: enables the webhook and makes what failed while it was off
/// due again, in one step (the API's `…/recover` without `since`).
pub async fn recover(
    State(dash): State<Dash>,
    Path((project_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let done = webhooks::recover(&dash.app, &project, &webhook_id, None).await?;
    let flash = Flash::ok(match done.requeued {
        0 => format!(
            "Webhook {} is enabled again; nothing had failed since {}.",
            done.webhook.target_url,
            show_time(done.since)
        ),
        n => format!(
            "Webhook {} is enabled again; {n} failed send out{} since {} are due again and \
             being sent.",
            done.webhook.target_url,
            if n == 1 { "" } else { "s" },
            show_time(done.since)
        ),
    });
    Ok(redirect_with(
        &dash,
        &posted.signed,
        flash,
        &project_path(project.id.as_str(), "/settings#webhooks"),
    ))
}
