//! Secrets never reach the logs (PRODUCT §8): the real binary, logging at `trace` (the most
//! it can say), goes through a full run — a project created, a webhook with custom headers
//! and a token in its URL, events ingested and delivered, a failure retried, the signing
//! secret rotated, a manual retry, a test webhook, a bulk retry, a distribution whose channel
//! carries a secret custom header and gets an event, keys refused — and then every secret of
//! the run is searched for in what it printed.
//!
//! What is searched where: the logs (stderr) must hold none of them. stdout holds the
//! first-start banner, which shows the *default* project's app token and signing secret once,
//! by design (PRODUCT §5.4); so stdout may hold those two and nothing else secret, and the
//! management key is set through `SENDOUT_MANAGEMENT_ID`/`TOKEN` so that no generated one is
//! printed at all. The audit log API is searched too: no signing secret, no key, no
//! credential header's value.
//!
//! `receiver_examples` runs the signature checks of `docs/SECURITY.md` on a real delivery.
#![allow(clippy::unwrap_used)]

use crate::helpers;
use crate::helpers::process;
mod receiver_examples;

use std::time::Duration;

use helpers::receiver::{Behaviour, Receiver, Reply};
use process::{Sendout, MANAGEMENT_ID, MANAGEMENT_TOKEN};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// Values put in custom headers and the URL: each must stay out of the logs.
const HEADER_SECRET: &str = "header-secret-7c1f0a9b";
const HEADER_PLAIN: &str = "tenant-value-52e8d1c3";
const URL_SECRET: &str = "url-secret-9d3b6e2a";
const WRONG_TOKEN: &str = "wrong-token-4a7e0c15";
/// A distribution channel's custom header value (a CRM's key): also kept out of the logs.
const CHANNEL_SECRET: &str = "channel-secret-e4b90d7a";

/// A client for one running binary.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn management(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let keys = [
            ("x-management-id", MANAGEMENT_ID),
            ("x-management-token", MANAGEMENT_TOKEN),
        ];
        let (status, answer) = self.call(method, path, &keys, body).await;
        assert!(status < 300, "{path}: {status} {answer}");
        answer
    }
}

/// Everything the banner of the first start showed for the default project.
fn banner_secrets(stdout: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    for line in stdout.lines() {
        for label in ["X-App-Token:", "Signing secret (webhook_token):"] {
            if let Some((_, value)) = line.split_once(label) {
                secrets.push(value.trim().to_owned());
            }
        }
    }
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logged_at_trace_shows_no_secret() {
    use reqwest::Method;
    let receiver = Receiver::start().await;
    receiver.on("/hook", Behaviour::fail_then_succeed(1, Reply::status(500)));
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RUST_LOG", "trace"),
        ("SENDOUT_ALLOWED_TARGET_RANGES", "127.0.0.0/8"),
        ("SENDOUT_RETRY_SCHEDULE", "100ms,100ms,100ms"),
        ("SENDOUT_RETRY_JITTER", "0"),
    ];
    let server = Sendout::start(dir.path(), &env).await;
    let api = Api {
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: server.base_url.clone(),
    };

    let project = api
        .management(
            Method::POST,
            "/management/v1/projects",
            Some(json!({"name": "Secretive"})),
        )
        .await;
    let id = project["id"].as_str().unwrap();
    let app_id = project["server_side_key"]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let app_token = project["server_side_key"]["app_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_secret = project["webhook_token"].as_str().unwrap().to_owned();
    let app_key = [
        ("x-app-id", app_id.as_str()),
        ("x-app-token", app_token.as_str()),
    ];
    let webhook = api
        .management(
            Method::POST,
            &format!("/management/v1/projects/{id}/webhooks"),
            Some(json!({
                "target_url": receiver.url(&format!("/hook?token={URL_SECRET}")),
                "events": ["*"],
                "headers": {"authorization": format!("Bearer {HEADER_SECRET}"), "x-tenant": HEADER_PLAIN},
            })),
        )
        .await;
    let webhook_id = webhook["id"].as_str().unwrap();

    // Delivered after one failure and its retry.
    let event = json!({"type": "voucher.published", "data": {"voucher": {"code": "SECRET-RUN"}}});
    let (status, _) = api
        .call(Method::POST, "/v1/events", &app_key, Some(event.clone()))
        .await;
    assert_eq!(status, 202);
    receiver.wait_for(2, WAIT).await;

    // Rotated: both secrets sign the next delivery.
    let rotated = api
        .management(
            Method::POST,
            &format!("/management/v1/projects/{id}/webhook-token/rotate"),
            None,
        )
        .await;
    let second_secret = rotated["webhook_token"].as_str().unwrap().to_owned();
    api.call(Method::POST, "/v1/events", &app_key, Some(event))
        .await;
    receiver.wait_for(3, WAIT).await;

    // A test webhook, then a manual retry of it (finished when its answer came, so no
    // worker holds it), a bulk retry.
    let test = api
        .management(
            Method::POST,
            &format!("/management/v1/projects/{id}/webhooks/{webhook_id}/test"),
            None,
        )
        .await;
    let test_send_out = test["send_out_id"].as_str().unwrap();
    let retry = format!("/v1/webhook-sendouts/{test_send_out}/retry");
    let (status, _) = api.call(Method::POST, &retry, &app_key, None).await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/webhook-sendouts/retry",
            &app_key,
            Some(json!({"source_id": webhook_id})),
        )
        .await;
    assert_eq!(status, 200);
    receiver.wait_for(5, WAIT).await;

    // A distribution whose channel sends a secret header. Its trigger is a distribution-only
    // type (not a webhook event), so the event makes one send out: the channel's.
    let trigger = "customer.order.paid";
    let channel = json!({
        "type": "webhook",
        "event_name": "Order-paid",
        "url": receiver.url("/crm"),
        "headers": {"x-crm-key": CHANNEL_SECRET},
        "payload": {"mode": "full"},
    });
    let body = json!({
        "name": "CRM",
        "trigger": {"event": trigger},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [channel],
    });
    let (status, answer) = api
        .call(Method::POST, "/v1/distributions", &app_key, Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    let data = sendout_core::catalog::catalog()
        .get(trigger)
        .and_then(|t| t.example_data())
        .cloned()
        .unwrap();
    let (status, answer) = api
        .call(
            Method::POST,
            "/v1/events",
            &app_key,
            Some(json!({"type": trigger, "data": data})),
        )
        .await;
    assert_eq!((status, answer["send_outs"].as_u64()), (202, Some(1)));
    receiver.wait_for(6, WAIT).await;
    let to_crm = receiver.received_on("/crm").pop().unwrap();
    assert_eq!(to_crm.header("x-crm-key"), Some(CHANNEL_SECRET));

    // Keys refused: a wrong token on each API.
    let wrong_app = [("x-app-id", app_id.as_str()), ("x-app-token", WRONG_TOKEN)];
    assert_eq!(
        api.call(Method::GET, "/v1/webhook-sendouts", &wrong_app, None)
            .await
            .0,
        401
    );
    let wrong_management = [
        ("x-management-id", MANAGEMENT_ID),
        ("x-management-token", WRONG_TOKEN),
    ];
    assert_eq!(
        api.call(
            Method::GET,
            "/management/v1/projects",
            &wrong_management,
            None
        )
        .await
        .0,
        401
    );

    // The audit log as the project's key reads it.
    let list = "/v1/webhook-sendouts?limit=100";
    let mut audit = vec![api.call(Method::GET, list, &app_key, None).await.1];
    for item in audit[0]["data"].clone().as_array().unwrap() {
        let path = format!("/v1/webhook-sendouts/{}", item["id"].as_str().unwrap());
        audit.push(api.call(Method::GET, &path, &app_key, None).await.1);
    }
    let audit = serde_json::to_string(&audit).unwrap();
    for secret in [
        first_secret.as_str(),
        &second_secret,
        &app_token,
        MANAGEMENT_TOKEN,
        HEADER_SECRET,
        CHANNEL_SECRET,
        WRONG_TOKEN,
    ] {
        assert!(!audit.contains(secret), "the audit log shows a secret");
    }

    let (stdout, stderr) = (server.stdout.clone(), server.stderr.clone());
    let dashboard = format!("Dashboard: {}/dashboard", server.base_url);
    server.terminate().await;
    let (stdout, stderr) = (stdout.text(), stderr.text());
    assert!(
        stdout.lines().any(|line| line == dashboard),
        "the first start also says where the dashboard is:\n{stdout}"
    );
    assert!(
        stderr.contains("TRACE") && stderr.contains("delivered"),
        "the logs were captured at trace level"
    );
    assert!(
        stderr.contains("webhook token rotated"),
        "the whole run is in the logs"
    );
    let banner = banner_secrets(&stdout);
    assert_eq!(
        banner.len(),
        2,
        "the banner shows the default project's token and secret:\n{stdout}"
    );

    let run_secrets = [
        ("the management token", MANAGEMENT_TOKEN),
        ("the app token", app_token.as_str()),
        ("the signing secret", first_secret.as_str()),
        ("the rotated signing secret", second_secret.as_str()),
        ("a custom header's value", HEADER_SECRET),
        ("another custom header's value", HEADER_PLAIN),
        ("a distribution channel's header value", CHANNEL_SECRET),
        ("the target URL's query", URL_SECRET),
        ("a refused token", WRONG_TOKEN),
    ];
    for (what, secret) in run_secrets {
        assert!(!stderr.contains(secret), "the logs show {what}");
        assert!(!stdout.contains(secret), "stdout shows {what}");
    }
    for secret in &banner {
        assert!(
            !stderr.contains(secret.as_str()),
            "the logs show a default project's secret"
        );
    }
}
