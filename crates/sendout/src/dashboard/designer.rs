//! The payload designer's **Show output**: [`preview`] renders every channel of the form as
//! it would be sent now, for the trigger's catalog example, through the API's own preview
//! (`POST /v1/distributions/preview`, so the bytes are the ones fan-out makes), or says where
//! on the form the error is ([`place_of`]): the trigger, the condition, or a channel's
//! template, attributes, URL, event name or headers.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use sendout_core::distribution::DistributionError;
use serde::Serialize;

use crate::dashboard::auth::Posted;
use crate::dashboard::distribution_form::DistributionForm;
use crate::dashboard::distributions::key;
use crate::dashboard::error::DashError;
use crate::dashboard::layout::load_project;
use crate::dashboard::webhook_form::{api_sentence, sentence};
use crate::dashboard::Dash;
use crate::http::distribution_preview;
use crate::http::distribution_views::PreviewRequest;
use crate::http::extract::Json;

/// One channel's output for Show output.
#[derive(Debug, Serialize)]
pub struct ChannelOutput {
    pub index: usize,
    /// The exact body, indented for reading when it is JSON.
    pub body: Option<String>,
    /// Where on the form the error belongs (`template`, `url`, …) and what it says.
    pub error: Option<PlacedError>,
}

/// An error with its place.
#[derive(Debug, Serialize)]
pub struct PlacedError {
    /// `trigger`, `condition`, or a channel's `template`, `attributes`, `url`, `event_name`,
    /// `headers`, `payload`.
    pub place: String,
    pub message: String,
}

/// What Show output shows.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub trigger_error: Option<PlacedError>,
    pub channels: Vec<ChannelOutput>,
    /// Echoed from the form, so the script can tell which edit this answers.
    pub edits: u64,
}

/// `POST …/distributions/preview`: every channel of the form as it would be sent now, for
/// the trigger's catalog example, or where its error is.
pub async fn preview(
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    posted: Posted,
) -> Result<Response, DashError> {
    let project = load_project(&dash, &project_id).await?;
    let form = DistributionForm::from_form(&posted.form);
    let edits = posted.form.text("edits").parse().unwrap_or(0);
    let event_type = match form.trigger_input().parse() {
        Ok((_, event_type)) => event_type,
        Err(e) => {
            let place = place_of(&e).1;
            return Ok(axum::Json(Preview {
                trigger_error: Some(PlacedError {
                    place,
                    message: sentence(&message_of(&e)),
                }),
                channels: Vec::new(),
                edits,
            })
            .into_response());
        }
    };
    let mut channels = Vec::new();
    for channel in &form.channels {
        let placed = |place: &str, message: String| PlacedError {
            place: place.to_owned(),
            message,
        };
        let input = match channel.input() {
            Ok(input) => input,
            Err(message) => {
                channels.push(ChannelOutput {
                    index: channel.index,
                    body: None,
                    error: Some(placed("headers", message)),
                });
                continue;
            }
        };
        if let Err(e) = input.clone().parse("channel", event_type) {
            let place = place_of(&e).1;
            channels.push(ChannelOutput {
                index: channel.index,
                body: None,
                error: Some(placed(&place, sentence(&message_of(&e)))),
            });
            continue;
        }
        let request = PreviewRequest {
            trigger: form.trigger_input(),
            channel: input,
            data: None,
        };
        let output = match distribution_preview::preview(key(&project), Json(request)).await {
            Ok(axum::Json(view)) => ChannelOutput {
                index: channel.index,
                body: Some(readable(&view.body)),
                error: None,
            },
            Err(e) => ChannelOutput {
                index: channel.index,
                body: None,
                error: Some(placed("payload", api_sentence(&e, "channel"))),
            },
        };
        channels.push(output);
    }
    Ok(axum::Json(Preview {
        trigger_error: None,
        channels,
        edits,
    })
    .into_response())
}

/// A body indented for reading when it is JSON; otherwise as it is.
fn readable(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

/// The message of a core error without its field prefix (the page shows it at the field).
pub fn message_of(error: &DistributionError) -> String {
    let text = error.to_string();
    match text.split_once(": ") {
        Some((field, rest)) if !field.contains(' ') => rest.to_owned(),
        _ => text,
    }
}

/// Where an error goes: the channel index (if in a channel) and the place name.
pub fn place_of(error: &DistributionError) -> (Option<usize>, String) {
    let field = match error {
        DistributionError::Invalid { field, .. }
        | DistributionError::TemplateSyntax { field, .. }
        | DistributionError::UnknownPaths { field, .. }
        | DistributionError::InvalidAttributes { field, .. } => field.as_str(),
        DistributionError::UnknownTrigger { .. } => "trigger",
        DistributionError::UnsupportedAction { .. } => "action",
        DistributionError::UnsupportedCondition { .. } => "condition",
    };
    let channel_place = |rest: &str| {
        let place = rest.trim_start_matches('.').trim_start_matches("payload.");
        let place = place.split(['.', '[']).next().unwrap_or_default();
        if place.is_empty() || place == "payload" || place == "mode" || place == "raw" {
            "payload".to_owned()
        } else {
            place.to_owned()
        }
    };
    if let Some(rest) = field.strip_prefix("channels[") {
        if let Some((index, rest)) = rest.split_once(']') {
            return (index.parse().ok(), channel_place(rest));
        }
    }
    if let Some(rest) = field.strip_prefix("channel") {
        // The preview names its one channel `channel`.
        return (Some(0), channel_place(rest));
    }
    let place = if field.starts_with("trigger.condition") {
        "condition"
    } else {
        field.split('.').next().unwrap_or(field)
    };
    (None, place.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_placed_by_their_field() {
        let at = |field: &str| {
            place_of(&DistributionError::Invalid {
                field: field.to_owned(),
                message: "x".to_owned(),
            })
        };
        assert_eq!(at("channels[2].url"), (Some(2), "url".to_owned()));
        assert_eq!(
            at("channels[0].payload.attributes[1].key"),
            (Some(0), "attributes".to_owned())
        );
        assert_eq!(
            at("channels[0].payload.mode"),
            (Some(0), "payload".to_owned())
        );
        assert_eq!(
            at("channel.payload.template"),
            (Some(0), "template".to_owned())
        );
        assert_eq!(
            at("trigger.condition.segment_id"),
            (None, "condition".to_owned())
        );
        assert_eq!(at("name"), (None, "name".to_owned()));
    }
}
