//! The payload designer's **Show output**: [`preview`](fn@preview) renders every channel of
//! the form as it would be sent now, for the trigger's catalog example, through the preview
//! the API serves too ([`crate::ops::preview`], so the bytes are the ones fan-out makes), or
//! says where on the form the error is ([`place_of`]): the trigger, the condition, or a
//! channel's template, attributes, URL, event name or headers. The key search and the
//! attribute picker get the keys they offer from [`keys`]: the trigger's data keys as the
//! chosen action gets them.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use sendout_core::catalog::{catalog, Channel, KeyNode, Purpose};
use serde::Deserialize;

use crate::dashboard::auth::{Posted, Signed};
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

/// Which keys to offer: a trigger and the distribution's action.
#[derive(Debug, Deserialize)]
pub struct KeysQuery {
    #[serde(default)]
    pub trigger: String,
    #[serde(default)]
    pub action: String,
}

/// One key the designer offers, in the tree's depth-first order.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct OfferedKey {
    /// The full path to insert, array elements as `[0]` (`order.items[0].price`).
    pub path: String,
    /// The last step, as the tree shows it (`price`, `[0]`).
    pub name: String,
    /// The JSON type(s), if the schema says.
    pub kind: Option<String>,
    /// 0 for a top-level key; a key's children follow it with `depth + 1`.
    pub depth: usize,
    /// Whether any key below it is valid too (a free-form object such as `metadata`).
    pub open: bool,
}

/// What [`keys`] answers.
#[derive(Debug, Serialize)]
pub struct OfferedKeys {
    pub trigger: String,
    pub action: Option<String>,
    pub keys: Vec<OfferedKey>,
}

/// `GET …/distributions/keys?trigger=…&action=…`: the keys the key search and the attribute
/// picker offer, which are the trigger's data keys as a distribution with that action gets
/// them (without the keys only other actions get; all of them when the action is not one the
/// trigger supports, since the form then says so at the action). An unknown trigger offers
/// nothing.
pub async fn keys(
    _signed: Signed,
    State(dash): State<Dash>,
    Path(project_id): Path<String>,
    Query(query): Query<KeysQuery>,
) -> Result<Response, DashError> {
    load_project(&dash, &project_id).await?;
    let trigger = catalog()
        .get(&query.trigger)
        .filter(|t| t.is_in(Channel::Distribution));
    let action = Purpose::ALL
        .into_iter()
        .find(|p| p.as_str() == query.action)
        .filter(|p| trigger.is_some_and(|t| t.supports(*p)));
    let mut keys = Vec::new();
    if let Some(trigger) = trigger {
        match action {
            Some(action) => offered(&trigger.data_keys_for(action), "", 0, &mut keys),
            None => offered(trigger.data_keys(), "", 0, &mut keys),
        }
    }
    Ok(axum::Json(OfferedKeys {
        trigger: trigger.map(|t| t.name().to_owned()).unwrap_or_default(),
        action: action.map(|a| a.as_str().to_owned()),
        keys,
    })
    .into_response())
}

/// Lists the keys below `node`, depth first, an array's element as `[0]`.
fn offered(node: &KeyNode, prefix: &str, depth: usize, out: &mut Vec<OfferedKey>) {
    let mut push = |path: String, name: String, child: &KeyNode| {
        out.push(OfferedKey {
            path: path.clone(),
            name,
            kind: child.kind().map(str::to_owned),
            depth,
            open: child.is_open(),
        });
        offered(child, &path, depth + 1, out);
    };
    for (name, child) in node.keys() {
        let path = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        };
        push(path, name.to_owned(), child);
    }
    if let Some(items) = node.items() {
        push(format!("{prefix}[0]"), "[0]".to_owned(), items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_keys_follow_the_tree_with_array_elements_as_index_zero() {
        let tree: KeyNode = serde_json::from_value(serde_json::json!({
            "type": "object",
            "keys": {
                "order": {"type": "object", "keys": {
                    "items": {"type": "array", "items": {"type": "object", "keys": {
                        "price": {"type": "integer"}
                    }}},
                    "metadata": {"type": "object", "open": true}
                }}
            }
        }))
        .expect("a tree");
        let mut out = Vec::new();
        offered(&tree, "", 0, &mut out);
        let shown: Vec<(&str, &str, usize, bool)> = out
            .iter()
            .map(|k| (k.path.as_str(), k.name.as_str(), k.depth, k.open))
            .collect();
        assert_eq!(
            shown,
            [
                ("order", "order", 0, false),
                ("order.items", "items", 1, false),
                ("order.items[0]", "[0]", 2, false),
                ("order.items[0].price", "price", 3, false),
                ("order.metadata", "metadata", 1, true),
            ]
        );
    }
}
