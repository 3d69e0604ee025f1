//! The payload designer's **Show output**: [`preview`](fn@preview) renders every channel of
//! the form as it would be sent now, for the trigger's catalog example, through the preview
//! the API serves too ([`crate::ops::preview`], so the bytes are the ones fan-out makes), or
//! says where on the form the error is ([`place_of`]): the trigger, the condition, or a
//! channel's template, attributes, URL, event name or headers.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::dashboard::auth::Posted;
use crate::dashboard::distribution_form::{place_of, DistributionForm};
use crate::dashboard::error::DashError;
use crate::dashboard::layout::load_project;
use crate::dashboard::webhook_form::sentence;
use crate::dashboard::Dash;
use crate::ops::preview::{self, PreviewInput};

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
    if let Err(e) = form.trigger_input().parse() {
        {
            let error = e.field_error();
            return Ok(axum::Json(Preview {
                trigger_error: Some(PlacedError {
                    place: place_of(&error.path).1,
                    message: sentence(&error.message),
                }),
                channels: Vec::new(),
                edits,
            })
            .into_response());
        }
    }
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
        let input = PreviewInput {
            trigger: form.trigger_input(),
            channel: input,
            action: Some(form.action.clone()).filter(|a| !a.is_empty()),
            data: None,
        };
        let output = match preview::preview(&dash.app, &project, input) {
            Ok(preview) => ChannelOutput {
                index: channel.index,
                body: Some(readable(&preview.body)),
                error: None,
            },
            Err(e) => {
                let error = match e.field_errors().first() {
                    Some(error) => placed(&place_of(&error.path).1, sentence(&error.message)),
                    None => placed("payload", sentence(&e.to_string())),
                };
                ChannelOutput {
                    index: channel.index,
                    body: None,
                    error: Some(error),
                }
            }
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
