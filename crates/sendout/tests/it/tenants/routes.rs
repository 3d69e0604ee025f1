//! One probe per route of the API: with project A's server-side key aimed at project B's
//! objects, each route must refuse (401 on the management API, 404 for B's ids on the project
//! API) or answer with A's data only. The caller checks B's data is unchanged afterwards.
//!
//! A route missing here makes [`probe`] answer false, and the test names it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::app::{ApiResponse, TestApp};
use crate::tenants::{distribution_body, Tenant};

/// `path` with its `{…}` parameters filled with B's ids.
fn fill(path: &str, b: &Tenant) -> String {
    path.replace("{projectId}", &b.keys.id)
        .replace("{webhookId}", &b.webhook)
        .replace("{sendOutId}", &b.send_out)
        .replace(
            "{distributionId}",
            b.distribution.as_deref().unwrap_or("distr_none"),
        )
        .replace("{name}", "voucher.published")
}

/// A body each route taking one accepts, as far as its shape goes.
fn body_for(path: &str, b: &Tenant) -> Value {
    let distribution = distribution_body("http://127.0.0.1:9/a-crm");
    if path == "/v1/distributions/preview" {
        json!({"trigger": distribution["trigger"], "channel": distribution["channels"][0]})
    } else if path.starts_with("/v1/distributions") {
        distribution
    } else if path == "/v1/webhook-sendouts/retry" {
        json!({"source_id": b.webhook})
    } else if path.ends_with("/webhooks/test") {
        json!({"target_url": "http://127.0.0.1:9/a"})
    } else if path.contains("/webhooks") {
        json!({"target_url": "http://127.0.0.1:9/a", "events": ["*"]})
    } else if path == "/v1/events" {
        json!({"type": "voucher.published", "data": {"voucher": {"code": "A"}}})
    } else {
        json!({"name": "A"})
    }
}

async fn as_a(
    app: &TestApp,
    a: &Tenant,
    method: &Method,
    path: &str,
    body: Option<&Value>,
) -> ApiResponse {
    app.project_api_as(&a.keys, method.clone(), path, body)
        .await
}

/// Which id or secret of `b`, if any, `text` mentions.
pub fn mentions(text: &str, b: &Tenant) -> Option<String> {
    let mut marks = vec![
        b.keys.id.clone(),
        b.keys.app_id.clone(),
        b.keys.webhook_token.clone(),
        b.webhook.clone(),
        b.webhook_url.clone(),
        b.send_out.clone(),
        b.event.clone(),
    ];
    marks.extend(b.distribution.clone());
    marks.into_iter().find(|mark| text.contains(mark.as_str()))
}

/// Probes one route; false when the route has no probe.
pub async fn probe(app: &TestApp, a: &Tenant, b: &Tenant, method: &Method, path: &str) -> bool {
    let route = format!("{method} {path}");
    let filled = fill(path, b);
    let body = body_for(path, b);
    let body = (method != Method::GET && method != Method::DELETE).then_some(&body);

    if path.starts_with("/management/") {
        // The management API refuses project keys outright, whatever the project.
        as_a(app, a, method, &filled, body)
            .await
            .expect_error(401, "unauthorized");
        let own = filled.replace(&b.keys.id, &a.keys.id);
        as_a(app, a, method, &own, body)
            .await
            .expect_error(401, "unauthorized");
        return true;
    }
    if path.starts_with("/v1/") {
        // No key, or the management key, opens no project route.
        app.send(method.clone(), &filled, &[], body)
            .await
            .expect_error(401, "unauthorized");
        let management = TestApp::management_key();
        app.send(method.clone(), &filled, &management, body)
            .await
            .expect_error(401, "unauthorized");
    }
    match (method.as_str(), path) {
        ("GET", "/health") | ("GET", "/openapi.json") => {
            let answer = app.raw(Method::GET, path, &[], None).await;
            assert_eq!(mentions(&answer.text, b), None, "{route} shows tenant data");
        }
        ("POST", "/v1/events") => {
            let answer = as_a(app, a, method, path, body).await;
            assert_eq!(
                answer.expect(202)["send_outs"],
                1,
                "{route}: only A's webhook"
            );
        }
        ("GET", "/v1/event-types") | ("GET", "/v1/event-types/{name}") => {
            let answer = as_a(app, a, method, &filled, None).await;
            answer.expect(200);
            assert_eq!(mentions(&answer.text, b), None, "{route}");
        }
        ("GET", "/v1/webhook-sendouts") => {
            for query in [
                String::new(),
                format!("?source_id={}", b.webhook),
                format!("?target_url={}", b.webhook_url),
                "?limit=100".to_owned(),
            ] {
                let answer = as_a(app, a, method, &format!("{path}{query}"), None).await;
                answer.expect(200);
                assert_eq!(mentions(&answer.text, b), None, "{route}{query}");
            }
        }
        ("GET", "/v1/webhook-sendouts/{sendOutId}")
        | ("POST", "/v1/webhook-sendouts/{sendOutId}/retry") => {
            as_a(app, a, method, &filled, body)
                .await
                .expect_error(404, "not_found");
        }
        ("POST", "/v1/webhook-sendouts/retry") => {
            as_a(app, a, method, path, body)
                .await
                .expect_error(404, "not_found");
            if let Some(distribution) = &b.distribution {
                // Another project's distribution is as unknown as another's webhook.
                let body = json!({"source_id": distribution});
                as_a(app, a, method, path, Some(&body))
                    .await
                    .expect_error(404, "not_found");
            }
        }
        ("GET", "/v1/distributions") => {
            let answer = as_a(app, a, method, path, None).await;
            answer.expect(200);
            assert_eq!(mentions(&answer.text, b), None, "{route}");
        }
        ("POST", "/v1/distributions") => {
            let answer = as_a(app, a, method, path, body).await;
            answer.expect(200);
            assert_eq!(mentions(&answer.text, b), None, "{route}");
        }
        ("POST", "/v1/distributions/preview") => {
            let answer = as_a(app, a, method, path, body).await;
            answer.expect(200);
            assert_eq!(mentions(&answer.text, b), None, "{route}");
        }
        ("GET" | "PUT" | "DELETE", "/v1/distributions/{distributionId}")
        | ("POST", "/v1/distributions/{distributionId}/pause")
        | ("POST", "/v1/distributions/{distributionId}/live")
        | ("GET", "/v1/distributions/{distributionId}/health") => {
            as_a(app, a, method, &filled, body)
                .await
                .expect_error(404, "not_found");
        }
        _ => return false,
    }
    true
}
