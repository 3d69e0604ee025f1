//! Isolation between projects (PRODUCT §8): one project's server-side key neither reads nor
//! changes another's webhooks, distributions, events or send outs, on every route; the
//! management API takes the management key only; keys are stored as hashes, never as text.
//!
//! The routes are enumerated from the running server's `/openapi.json`, and each must have a
//! probe in `tenants/routes.rs`: a route added without one fails here, naming it. Probes use
//! project B's real ids with project A's key, and check B's data as B's own keys see it is the
//! same before and after.
#![allow(clippy::unwrap_used)]

use crate::helpers;
mod routes;
use crate::helpers::snapshot;

use helpers::app::{ProjectKeys, TestApp};
use reqwest::Method;
use sendout::config::Database;
use serde_json::{json, Value};

/// A project as the probes know it: its keys and the ids of what it owns.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub keys: ProjectKeys,
    pub webhook: String,
    pub webhook_url: String,
    pub send_out: String,
    pub event: String,
    /// `None` while the server has no distributions.
    pub distribution: Option<String>,
}

/// Whether the server offers distributions (they are probed only then).
pub async fn has_distributions(app: &TestApp) -> bool {
    let document = app.raw(Method::GET, "/openapi.json", &[], None).await.json;
    document["paths"]["/v1/distributions"].is_object()
}

/// A distribution body valid for any project.
pub fn distribution_body(url: &str) -> Value {
    json!({
        "name": "Order paid to CRM",
        "trigger": {"event": "customer.order.paid"},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [{"type": "webhook", "event_name": "Order-paid", "url": url,
                      "headers": {"x-crm-key": "crm-secret"}, "payload": {"mode": "full"}}]
    })
}

/// Creates a project with a webhook, one ingested event (and its send out) and, where the
/// server has them, a distribution.
async fn tenant(app: &TestApp, name: &str) -> Tenant {
    let keys = app.create_project(name).await;
    let webhook_url = format!("http://127.0.0.1:9/{name}");
    let path = format!("/management/v1/projects/{}/webhooks", keys.id);
    let body = json!({"target_url": webhook_url, "events": ["*"], "headers": {"x-api-key": format!("{name}-key")}});
    let webhook = app
        .management(Method::POST, &path, Some(&body))
        .await
        .expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let distribution = if has_distributions(app).await {
        let body = distribution_body(&format!("http://127.0.0.1:9/{name}-crm"));
        let created = app
            .project_api_as(&keys, Method::POST, "/v1/distributions", Some(&body))
            .await;
        Some(created.expect(200)["id"].as_str().unwrap().to_owned())
    } else {
        None
    };
    let event = json!({"type": "voucher.published", "data": {"voucher": {"code": name}}});
    let accepted = app
        .project_api_as(&keys, Method::POST, "/v1/events", Some(&event))
        .await;
    let event = accepted.expect(202)["id"].as_str().unwrap().to_owned();
    let list = app
        .project_api_as(&keys, Method::GET, "/v1/webhook-sendouts", None)
        .await;
    let send_out = list.expect(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant {
        keys,
        webhook,
        webhook_url,
        send_out,
        event,
        distribution,
    }
}

/// Two projects, A and B, on an app without workers (send outs stay as ingest left them).
pub async fn two_tenants() -> (TestApp, Tenant, Tenant) {
    let app = TestApp::spawn_with(|c| c.workers = false).await;
    let a = tenant(&app, "tenant-a").await;
    let b = tenant(&app, "tenant-b").await;
    (app, a, b)
}

/// Everything of `tenant` as its own keys read it: project and webhooks (management key),
/// its audit log with each send out in full, its distributions.
pub async fn view(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let keys = &tenant.keys;
    let project = format!("/management/v1/projects/{}", keys.id);
    let mut seen = vec![
        app.management(Method::GET, &project, None).await.json,
        app.management(Method::GET, &format!("{project}/webhooks"), None)
            .await
            .json,
    ];
    let list = app
        .project_api_as(keys, Method::GET, "/v1/webhook-sendouts?limit=100", None)
        .await;
    for send_out in list.json["data"].as_array().unwrap() {
        let path = format!("/v1/webhook-sendouts/{}", send_out["id"].as_str().unwrap());
        seen.push(
            app.project_api_as(keys, Method::GET, &path, None)
                .await
                .json,
        );
    }
    seen.push(list.json);
    if tenant.distribution.is_some() {
        seen.push(
            app.project_api_as(keys, Method::GET, "/v1/distributions", None)
                .await
                .json,
        );
    }
    seen
}

#[tokio::test]
async fn every_route_keeps_projects_apart() {
    let (app, a, b) = two_tenants().await;
    let document = app
        .raw(Method::GET, "/openapi.json", &[], None)
        .await
        .expect(200)
        .clone();
    let mut missing = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let before = view(&app, &b).await;
            if !routes::probe(&app, &a, &b, &method, path).await {
                missing.push(format!("{method} {path}"));
                continue;
            }
            assert_eq!(
                view(&app, &b).await,
                before,
                "{method} {path} changed project B's data"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a tenant probe in tests/it/tenants/routes.rs: {missing:?}"
    );
}

#[tokio::test]
async fn keys_work_only_as_a_whole_and_only_on_their_own_api() {
    let (app, a, b) = two_tenants().await;
    let crossed = [
        [
            ("x-app-id", a.keys.app_id.as_str()),
            ("x-app-token", b.keys.app_token.as_str()),
        ],
        [
            ("x-app-id", b.keys.app_id.as_str()),
            ("x-app-token", a.keys.app_token.as_str()),
        ],
        [("x-app-id", a.keys.app_id.as_str()), ("x-app-token", "")],
        [("x-app-id", ""), ("x-app-token", a.keys.app_token.as_str())],
        [
            ("x-management-id", helpers::app::MANAGEMENT_ID),
            ("x-management-token", helpers::app::MANAGEMENT_TOKEN),
        ],
        [
            ("x-app-id", helpers::app::MANAGEMENT_ID),
            ("x-app-token", helpers::app::MANAGEMENT_TOKEN),
        ],
    ];
    for keys in crossed {
        app.send(Method::GET, "/v1/webhook-sendouts", &keys, None)
            .await
            .expect_error(401, "unauthorized");
    }
    let app_key_as_management = [
        ("x-management-id", a.keys.app_id.as_str()),
        ("x-management-token", a.keys.app_token.as_str()),
    ];
    app.send(
        Method::GET,
        "/management/v1/projects",
        &app_key_as_management,
        None,
    )
    .await
    .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn tokens_are_stored_as_hashes_and_never_as_text() {
    let (app, a, b) = two_tenants().await;
    let Database::Sqlite(db) = app.config.database.clone() else {
        panic!("the tests run on SQLite");
    };
    let rows = snapshot::rows(&db).await.join("\n");
    let bytes = snapshot::raw_bytes(&db);
    let contains = |haystack: &[u8], needle: &str| {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    for token in [
        a.keys.app_token.as_str(),
        b.keys.app_token.as_str(),
        helpers::app::MANAGEMENT_TOKEN,
    ] {
        assert!(!rows.contains(token), "a token is stored as text");
        assert!(!contains(&bytes, token), "a token is in the database file");
        assert!(
            rows.contains(&sendout_store::hash_token(token)),
            "its hash is stored"
        );
    }
    // Signing secrets must be kept as they are (every delivery is signed with them).
    assert!(rows.contains(&a.keys.webhook_token));
}

#[tokio::test]
async fn the_audit_log_never_shows_signing_secrets_or_credential_headers() {
    let (app, a, _) = two_tenants().await;
    let rotate = format!("/management/v1/projects/{}/webhook-token/rotate", a.keys.id);
    let rotated = app
        .management(Method::POST, &rotate, None)
        .await
        .expect(200)
        .clone();
    let new_token = rotated["webhook_token"].as_str().unwrap();
    let test = format!(
        "/management/v1/projects/{}/webhooks/{}/test",
        a.keys.id, a.webhook
    );
    app.management(Method::POST, &test, None).await.expect(200);

    let mut seen = view(&app, &a).await;
    seen.drain(..2); // the management key's views show the secret by design
    let text = serde_json::to_string(&seen).unwrap();
    for secret in [
        a.keys.webhook_token.as_str(),
        new_token,
        a.keys.app_token.as_str(),
        "tenant-a-key",
    ] {
        assert!(!text.contains(secret), "the audit log shows a secret");
    }
    assert!(
        text.contains("[redacted]"),
        "credential headers show as redacted"
    );
}

#[tokio::test]
async fn pages_outside_the_api_show_nothing_of_a_project_without_logging_in() {
    let (app, a, b) = two_tenants().await;
    let app_key = [
        ("x-app-id", a.keys.app_id.as_str()),
        ("x-app-token", a.keys.app_token.as_str()),
    ];
    for path in [
        "/metrics".to_owned(),
        "/dashboard".to_owned(),
        format!("/dashboard/projects/{}", b.keys.id),
        format!("/dashboard/projects/{}/settings", b.keys.id),
        format!("/dashboard/projects/{}/audit-log", b.keys.id),
        format!("/dashboard/projects/{}/audit-log/{}", b.keys.id, b.send_out),
    ] {
        let answer = app.send(Method::GET, &path, &app_key, None).await;
        // An answer may repeat the path it was asked for; nothing else of B's.
        let shown = answer.text.replace(&path, "");
        let leaked = routes::mentions(&shown, &b);
        assert_eq!(leaked, None, "{path}: {} {}", answer.status, answer.text);
    }
}
