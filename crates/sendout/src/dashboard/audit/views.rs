//! How the audit log shows its rows, attempts and filter choices.

use sendout_core::catalog::{catalog, Channel};
use sendout_store::{Attempt, Distribution, SendOut, SendOutStatus, Webhook};

use crate::dashboard::audit::ListQuery;
use crate::dashboard::chart::{Period, PERIODS};
use crate::dashboard::layout::show_time;
use crate::ops::test_send::UNSAVED_WEBHOOK_ID;

/// One option of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    /// An option.
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
            selected,
        }
    }
}

/// A group of options.
#[derive(Debug, Clone)]
pub struct ChoiceGroup {
    pub label: String,
    pub choices: Vec<Choice>,
}

/// The filter form's choices, with the current ones selected.
#[derive(Debug, Clone)]
pub struct Filters {
    pub statuses: Vec<Choice>,
    /// "Any source", then the webhooks and the distributions, then the rest.
    pub any_source: bool,
    pub sources: Vec<ChoiceGroup>,
    pub types: Vec<ChoiceGroup>,
    pub periods: Vec<Choice>,
    /// Targets a bulk retry can name, webhooks and distributions (the filtered one selected).
    pub targets: Vec<ChoiceGroup>,
    /// Whether any filter narrows the list.
    pub narrowed: bool,
}

impl Filters {
    /// The choices for `query`, with the project's `webhooks` and `distributions` as sources
    /// (a distribution's send outs are its channels').
    pub fn new(
        query: &ListQuery,
        period: Period,
        webhooks: &[Webhook],
        distributions: &[Distribution],
    ) -> Self {
        let current =
            |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().to_owned();
        let (status, source, event_type) = (
            current(&query.status),
            current(&query.source),
            current(&query.event_type),
        );
        let mut statuses = vec![Choice::new("", "Any status", status.is_empty())];
        for s in ["PENDING", "RETRYING", "SUCCEEDED", "FAILED"] {
            statuses.push(Choice::new(s, s, status == s));
        }
        let webhook_choices: Vec<Choice> = webhooks
            .iter()
            .map(|w| {
                let label = format!("{} ({})", w.target_url, w.id);
                Choice::new(w.id.as_str(), label, source == w.id.as_str())
            })
            .collect();
        let distribution_choices: Vec<Choice> = distributions
            .iter()
            .map(|d| {
                let label = format!("{} ({})", d.spec.name(), d.id);
                Choice::new(d.id.as_str(), label, source == d.id.as_str())
            })
            .collect();
        let targets: Vec<ChoiceGroup> = [
            ("Webhooks", webhook_choices),
            ("Distributions", distribution_choices),
        ]
        .into_iter()
        .filter(|(_, choices)| !choices.is_empty())
        .map(|(label, choices)| ChoiceGroup {
            label: label.to_owned(),
            choices,
        })
        .collect();
        let mut other = vec![Choice::new(
            UNSAVED_WEBHOOK_ID,
            "Tests of unsaved webhooks",
            source == UNSAVED_WEBHOOK_ID,
        )];
        let listed = targets.iter().flat_map(|g| &g.choices).any(|c| c.selected)
            || source == UNSAVED_WEBHOOK_ID;
        if !source.is_empty() && !listed {
            // A source no longer listed (a deleted webhook or distribution): keep it visible
            // and selected.
            other.push(Choice::new(source.clone(), source.clone(), true));
        }
        let mut sources = targets.clone();
        sources.push(ChoiceGroup {
            label: "Other".to_owned(),
            choices: other,
        });
        let types = [
            (Channel::ProjectSettings, "Project settings"),
            (Channel::Distribution, "Distributions"),
        ]
        .into_iter()
        .map(|(channel, label)| ChoiceGroup {
            label: label.to_owned(),
            choices: catalog()
                .by_channel(channel)
                .map(|t| Choice::new(t.name(), t.name(), event_type == t.name()))
                .collect(),
        })
        .collect();
        Self {
            statuses,
            any_source: source.is_empty(),
            sources,
            types,
            periods: PERIODS
                .iter()
                .map(|p| Choice::new(p.key, p.label, p.key == period.key))
                .collect(),
            targets,
            narrowed: !(status.is_empty() && source.is_empty() && event_type.is_empty()),
        }
    }

    /// Whether the event type filter names none of the catalog's (the "Any type" option).
    pub fn any_type(&self) -> bool {
        !self
            .types
            .iter()
            .flat_map(|g| &g.choices)
            .any(|c| c.selected)
    }
}

/// A send out as a row of the list (and the head of Show data).
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub status: String,
    /// `st-succeeded`, …
    pub status_class: String,
    /// The envelope's type.
    pub type_name: String,
    /// The causing event's type, when it differs (a distribution's trigger).
    pub trigger: Option<String>,
    pub source_id: String,
    pub source_object: String,
    pub target_url: String,
    pub request_id: String,
    pub event_created_at: String,
    pub executed_at: String,
    pub is_test: bool,
    pub show_path: String,
    pub retry_path: String,
    /// What the retry control says, by status: "Send now" (pending), "Retry now" (retrying,
    /// instead of waiting for the schedule), "Retry" (failed), "Send again" (succeeded: the
    /// same body and id once more).
    pub retry_label: &'static str,
    /// Why a person would press it, as the control's description.
    pub retry_hint: &'static str,
}

/// The retry control's label and description for a send out of `status`.
fn retry_control(status: SendOutStatus) -> (&'static str, &'static str) {
    match status {
        SendOutStatus::Pending => ("Send now", "Make its first attempt now"),
        SendOutStatus::Retrying => (
            "Retry now",
            "Attempt it now instead of at its next scheduled retry",
        ),
        SendOutStatus::Failed => ("Retry", "Send it again now"),
        SendOutStatus::Succeeded => (
            "Send again",
            "It was delivered; this sends the same body (same id) once more",
        ),
    }
}

impl Row {
    /// The row of a send out; `base` is the audit log's path.
    pub fn new(send_out: &SendOut, base: &str) -> Self {
        let status = send_out.status.as_str();
        Self {
            id: send_out.id.to_string(),
            status: status.to_owned(),
            status_class: format!("st-{}", status.to_ascii_lowercase()),
            trigger: (send_out.event_type != send_out.envelope_type)
                .then(|| send_out.event_type.clone()),
            type_name: send_out.envelope_type.clone(),
            source_id: send_out.source_id.to_string(),
            source_object: send_out.source_id.kind().as_str().to_owned(),
            target_url: send_out.target_url.clone(),
            request_id: send_out.group_id.clone().unwrap_or_default(),
            event_created_at: send_out.event_created_at.map(show_time).unwrap_or_default(),
            executed_at: send_out
                .last_attempt_at
                .map_or_else(|| "not yet".to_owned(), show_time),
            is_test: send_out.is_test,
            show_path: format!("{base}/{}", send_out.id),
            retry_path: format!("{base}/{}/retry", send_out.id),
            retry_label: retry_control(send_out.status).0,
            retry_hint: retry_control(send_out.status).1,
        }
    }
}

/// One attempt, as Show data lists it.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub number: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub succeeded: bool,
    pub outcome: String,
    pub response_body: Option<String>,
}

impl AttemptRow {
    /// The row of an attempt.
    pub fn new(attempt: &Attempt) -> Self {
        let outcome = match (attempt.response_status, &attempt.error) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(error)) => error.clone(),
            (None, None) => "no answer".to_owned(),
        };
        Self {
            number: attempt.number,
            started_at: show_time(attempt.started_at),
            duration_ms: attempt.duration_ms,
            succeeded: attempt.succeeded,
            outcome,
            response_body: attempt.response_body.clone().filter(|b| !b.is_empty()),
        }
    }
}
