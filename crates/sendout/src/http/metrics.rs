//! `GET /metrics`: the process's Prometheus metrics in the OpenMetrics text format.
//!
//! The counters and the latency histogram are kept in memory as things happen
//! ([`crate::metrics`]); the queue gauges are read from the store at each scrape (three
//! counts over the due index), so they are true for every process sharing the database. A
//! store that does not answer makes the scrape fail (503), instead of serving stale gauges.
//! No key: nothing in the answer names a project, a webhook or a URL.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use sendout_core::time::Timestamp;

use crate::http::error::ApiError;
use crate::ops::AppState;

/// The media type of the OpenMetrics text exposition format, which Prometheus negotiates.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads the queue gauges from the store and answers every metric.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = Timestamp::now();
    let stats = state.store.queue_stats(now).await?;
    let metrics = crate::metrics::global();
    metrics.set_queue(&stats, now);
    let text = metrics
        .encode()
        .map_err(|e| ApiError::Internal(format!("encoding the metrics failed: {e}")))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_OPENMETRICS),
    );
    Ok(response)
}
