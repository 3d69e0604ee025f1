//! `GET /openapi.json`: the OpenAPI 3.1 document of sendout's own API, generated from the
//! handlers' `#[utoipa::path]` attributes and the request/response types, so it cannot drift
//! from the code, and completed with the answers every operation can give (see [`complete`]).
//! Built once, on first request.

mod complete;
mod constraints;

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{
    distribution_preview, distributions, endpoint_health, error, event_types, events, health,
    management, sendouts, test_webhook, webhooks,
};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "sendout",
        description = "A self-hosted webhook engine speaking the Voucherify v2024-01-01 webhook \
                       format. The management API (`/management/v1`) takes the management key; \
                       the project API (`/v1`) takes a project's server-side key. Errors are \
                       `{code, key, message, details, request_id}`; see docs/API.md."
    ),
    paths(
        management::create_project,
        management::list_projects,
        management::get_project,
        management::update_project,
        management::delete_project,
        management::rotate_webhook_token,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::update_webhook,
        webhooks::delete_webhook,
        webhooks::recover_webhook,
        endpoint_health::webhook_health,
        test_webhook::test_url,
        test_webhook::test_webhook,
        events::ingest,
        event_types::list_event_types,
        event_types::get_event_type,
        sendouts::list_send_outs,
        sendouts::get_send_out,
        sendouts::retry_send_out,
        sendouts::bulk_retry,
        distributions::create_distribution,
        distributions::list_distributions,
        distributions::get_distribution,
        distributions::update_distribution,
        distributions::delete_distribution,
        distributions::pause_distribution,
        distributions::set_distribution_live,
        endpoint_health::distribution_health,
        distribution_preview::preview,
        health::health,
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&SecurityAddon),
    tags(
        (name = "Management", description = "Projects and their webhooks (Voucherify's Management API)"),
        (name = "Events", description = "Ingest and the event catalog"),
        (name = "Webhook sendouts", description = "The audit log: send outs, attempts, retries"),
        (name = "Distributions", description = "Distributions: triggers, actions, webhook channels and the payload designer"),
        (name = "Health", description = "Liveness of the store and the workers"),
    )
)]
pub struct ApiDoc;

/// The four key headers as API-key security schemes.
struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, header) in [
            ("management_id", "X-Management-Id"),
            ("management_token", "X-Management-Token"),
            ("app_id", "X-App-Id"),
            ("app_token", "X-App-Token"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))),
            );
        }
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_value(ApiDoc::openapi())
        .map(|mut document| {
            complete::add_common_answers(&mut document);
            constraints::state_input_rules(&mut document);
            document.to_string()
        })
        .unwrap_or_else(|e| format!("{{\"error\":\"the OpenAPI document failed to build: {e}\"}}"))
});

/// Serves the document.
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_builds_and_names_its_security_schemes() {
        let document: serde_json::Value =
            serde_json::from_str(&DOCUMENT).expect("the document is JSON");
        if std::env::var_os("PRINT_OPENAPI").is_some() {
            println!("{document:#}");
        }
        assert!(document["paths"]["/v1/events"]["post"].is_object());
        assert!(document["components"]["securitySchemes"]["app_id"].is_object());
    }
}
