//! `POST /v1/distributions/preview`: a channel's request for a trigger, rendered exactly as
//! it would be sent (the payload designer's "Show output").
//!
//! The rendering and its rules are [`crate::ops::preview`]'s; the answer also says whether
//! the data matches the trigger's condition. Nothing is stored.

use axum::extract::State;

use crate::http::auth::AppKey;
use crate::http::distribution_views::{PreviewRequest, PreviewView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonObject;
use crate::ops::{self, preview::PreviewInput, AppState};

/// Renders a channel's request for a trigger.
#[utoipa::path(
    post,
    path = "/v1/distributions/preview",
    tag = "Distributions",
    security(("app_id" = [], "app_token" = [])),
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The headers and exact body the channel would send", body = PreviewView),
        (status = 400, description = "Invalid payload (names the field)", body = ErrorBody),
        (status = 401, description = "No valid project key", body = ErrorBody),
        (status = 422, description = "Unknown trigger or condition, bad template, unknown template path, a key the given action does not get, template too large, or a rendered payload longer than max_rendered_payload_bytes", body = ErrorBody),
    )
)]
pub async fn preview(
    AppKey(project): AppKey,
    State(state): State<AppState>,
    JsonObject(request): JsonObject<PreviewRequest>,
) -> Result<axum::Json<PreviewView>, ApiError> {
    let input = PreviewInput {
        trigger: request.trigger,
        channel: request.channel,
        action: request.action,
        data: request.data,
    };
    let preview = ops::preview::preview(&state, &project, input)?;
    Ok(axum::Json(PreviewView {
        headers: preview.headers,
        body: preview.body,
        matches: preview.matches,
    }))
}
