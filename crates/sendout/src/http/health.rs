//! `GET /health`: whether this process can do its job, for load balancers and operators.
//!
//! 200 while the store answers; 503 when it does not. Workers are reported but do not fail
//! the check: an API-only node (`workers = false`) is healthy, and a node whose workers
//! stopped still accepts events safely (they wait in the store for any other worker); its
//! `status` then says `degraded`. No authentication, and nothing secret in the answer.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ops::AppState;

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `degraded` (workers stopped) or `unavailable` (store unreachable).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    pub store: &'static str,
    /// `running`, `stopped`, or `disabled` when this process runs no workers.
    #[schema(example = "running")]
    pub workers: &'static str,
}

/// Reports whether the store answers and the workers run.
#[utoipa::path(
    get,
    path = "/health",
    tag = "Health",
    responses(
        (status = 200, description = "The store answers", body = Health),
        (status = 503, description = "The store does not answer", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> Response {
    let store_ok = match state.store.ping().await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "health check: the store does not answer");
            false
        }
    };
    let workers = match &state.workers_alive {
        None => "disabled",
        Some(alive) if alive.load(Ordering::Relaxed) => "running",
        Some(_) => "stopped",
    };
    let status = match (store_ok, workers) {
        (false, _) => "unavailable",
        (true, "stopped") => "degraded",
        (true, _) => "ok",
    };
    let code = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let report = Health {
        status,
        store: if store_ok { "ok" } else { "unreachable" },
        workers,
    };
    (code, axum::Json(report)).into_response()
}
