//! A running sendout for tests: the real app on `127.0.0.1:0`, a fresh SQLite store in a
//! temporary directory, loopback targets allowed, a short retry schedule (50 ms, 50 ms, no
//! jitter), a known management key, and typed helpers for both APIs.
//!
//! ```ignore
//! let app = TestApp::spawn().await;
//! let webhook = app.create_webhook(json!({"target_url": url, "events": ["*"]})).await;
//! let accepted = app.ingest(json!({"type": "voucher.published", "data": {}})).await;
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use sendout::app::{self, Server};
use sendout::config::{Config, Database, Secret};
use sendout_core::retry::RetryPolicy;
use serde_json::Value;
use tempfile::TempDir;

/// The management key every test app is started with.
pub const MANAGEMENT_ID: &str = "M-test-management-id";
pub const MANAGEMENT_TOKEN: &str = "test-management-token-0123456789abcdef";

/// A project's keys and secret, as a test holds them.
#[derive(Debug, Clone)]
pub struct ProjectKeys {
    pub id: String,
    pub app_id: String,
    pub app_token: String,
    pub webhook_token: String,
}

/// An answer of the API: status, headers, body as JSON (`Null` when empty or not JSON) and
/// as text.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl ApiResponse {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs; returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    /// Asserts an error answer in the documented shape with this status and key.
    #[track_caller]
    pub fn expect_error(&self, status: u16, key: &str) -> &Value {
        self.expect(status);
        let body = &self.json;
        assert_eq!(body["code"], status, "{body}");
        assert_eq!(body["key"], key, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(
            body["details"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        let request_id = body["request_id"].as_str().unwrap_or_default();
        assert!(request_id.starts_with("v-"), "{body}");
        assert_eq!(self.header("x-request-id"), Some(request_id));
        body
    }
}

/// The configuration tests start from, storing in `dir`.
pub fn test_config(dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("a socket address");
    config.database = Database::Sqlite(dir.join("sendout.db"));
    config.management_id = Some(MANAGEMENT_ID.to_owned());
    config.management_token = Some(Secret::new(MANAGEMENT_TOKEN));
    config.allowed_target_ranges = vec!["127.0.0.0/8".parse().expect("a CIDR")];
    config.retry = RetryPolicy::parse_schedule("50ms,50ms")
        .and_then(|policy| policy.with_jitter(0.0))
        .expect("a valid schedule");
    config.delivery_timeout = Duration::from_secs(5);
    config.workers = true;
    // Every test's requests come from 127.0.0.1, one client to the limit on failed
    // authentication; the tests of that limit (api::auth_limit) set it low again.
    config.auth_failure_limit = 10_000;
    config
}

/// A running sendout and a client for it.
#[derive(Debug)]
pub struct TestApp {
    server: Option<Server>,
    pub base_url: String,
    pub client: reqwest::Client,
    /// The store's directory, kept for restarts; removed when the last holder drops it.
    pub dir: Arc<TempDir>,
    /// The default project the first start created.
    pub project: ProjectKeys,
    pub config: Config,
}

impl TestApp {
    /// Starts with the test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts with the test configuration changed by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let mut config = test_config(dir.path());
        configure(&mut config);
        let server = app::start(config.clone()).await.expect("sendout starts");
        let keys = server
            .first_start
            .project
            .clone()
            .expect("the first start creates a default project");
        let project = ProjectKeys {
            id: keys.project.id.to_string(),
            app_id: keys.project.app_id.clone(),
            app_token: keys.app_token.expose().to_owned(),
            webhook_token: keys.project.webhook_token.clone(),
        };
        Self::around(server, dir, project, config)
    }

    fn around(server: Server, dir: Arc<TempDir>, project: ProjectKeys, config: Config) -> Self {
        let base_url = format!("http://{}", server.addr);
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self {
            server: Some(server),
            base_url,
            client,
            dir,
            project,
            config,
        }
    }

    /// Stops the app gracefully and starts it again on the same store, with the
    /// configuration changed by `configure`.
    pub async fn restart(mut self, configure: impl FnOnce(&mut Config)) -> Self {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let mut config = self.config.clone();
        configure(&mut config);
        let server = app::start(config.clone())
            .await
            .expect("sendout starts again");
        Self::around(server, self.dir.clone(), self.project.clone(), config)
    }

    /// Starts another app on the store in `dir` (made by this one, or a copy of it), with
    /// this app's keys and configuration but that store.
    pub async fn spawn_beside(&self, dir: Arc<TempDir>) -> Self {
        let mut config = self.config.clone();
        config.database = Database::Sqlite(dir.path().join("sendout.db"));
        let server = app::start(config.clone())
            .await
            .expect("sendout starts on the other store");
        Self::around(server, dir, self.project.clone(), config)
    }

    /// Stops the app gracefully.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// A request with any headers and an optional raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> ApiResponse {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body is read");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        ApiResponse {
            status,
            headers,
            json,
            text,
        }
    }

    /// A request with a JSON body (if any) and the given key headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        keys: &[(&str, &str)],
        body: Option<&Value>,
    ) -> ApiResponse {
        let mut headers = keys.to_vec();
        let body = body.map(|b| {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(b).expect("serializable")
        });
        self.raw(method, path, &headers, body).await
    }

    /// The management key headers.
    pub fn management_key() -> [(&'static str, &'static str); 2] {
        [
            ("x-management-id", MANAGEMENT_ID),
            ("x-management-token", MANAGEMENT_TOKEN),
        ]
    }

    /// A management API request.
    pub async fn management(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> ApiResponse {
        self.send(method, path, &Self::management_key(), body).await
    }

    /// A project API request with `keys`' server-side key.
    pub async fn project_api_as(
        &self,
        keys: &ProjectKeys,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> ApiResponse {
        let headers = [
            ("x-app-id", keys.app_id.as_str()),
            ("x-app-token", keys.app_token.as_str()),
        ];
        self.send(method, path, &headers, body).await
    }

    /// A project API request with the default project's key.
    pub async fn project_api(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> ApiResponse {
        self.project_api_as(&self.project, method, path, body).await
    }

    /// `…/projects/{id}/webhooks` of the default project.
    pub fn webhooks_path(&self) -> String {
        format!("/management/v1/projects/{}/webhooks", self.project.id)
    }

    /// `…/webhooks/{id}` of a webhook of the default project, as the API answered it.
    pub fn webhook_path(&self, webhook: &Value) -> String {
        let id = webhook["id"].as_str().expect("a webhook's id");
        format!("{}/{id}", self.webhooks_path())
    }

    /// Creates a webhook in the default project; asserts 200 and returns it.
    pub async fn create_webhook(&self, body: Value) -> Value {
        self.management(Method::POST, &self.webhooks_path(), Some(&body))
            .await
            .expect(200)
            .clone()
    }

    /// Creates another project; asserts 200 and returns its keys.
    pub async fn create_project(&self, name: &str) -> ProjectKeys {
        let body = serde_json::json!({"name": name});
        let response = self
            .management(Method::POST, "/management/v1/projects", Some(&body))
            .await;
        let created = response.expect(200);
        ProjectKeys {
            id: created["id"].as_str().expect("id").to_owned(),
            app_id: created["server_side_key"]["app_id"]
                .as_str()
                .expect("app_id")
                .to_owned(),
            app_token: created["server_side_key"]["app_token"]
                .as_str()
                .expect("app_token")
                .to_owned(),
            webhook_token: created["webhook_token"]
                .as_str()
                .expect("webhook_token")
                .to_owned(),
        }
    }

    /// Ingests into the default project.
    pub async fn ingest(&self, body: &Value) -> ApiResponse {
        self.project_api(Method::POST, "/v1/events", Some(body))
            .await
    }

    /// The default project's audit log with a query string (`""` for none).
    pub async fn send_outs(&self, query: &str) -> Value {
        self.project_api(Method::GET, &format!("/v1/webhook-sendouts{query}"), None)
            .await
            .expect(200)
            .clone()
    }

    /// How many send outs the default project has.
    pub async fn send_out_total(&self) -> u64 {
        self.send_outs("?limit=100").await["total"]
            .as_u64()
            .expect("total")
    }

    /// How many webhooks the default project has.
    pub async fn webhook_total(&self) -> u64 {
        self.management(Method::GET, &self.webhooks_path(), None)
            .await
            .expect(200)["total"]
            .as_u64()
            .expect("total")
    }
}
