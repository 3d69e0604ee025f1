//! The engine under test: a `sendout serve` the bench starts on a fresh temporary data
//! directory (the default), or a server the user points it at with `--server`. Either way
//! the bench talks to it only through its public APIs: the management API to make a project
//! and its webhooks, the ingest API to load it.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::process::{ServerProcess, MANAGEMENT_ID, MANAGEMENT_TOKEN};

/// How the bench reaches its engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// A running server to use instead of starting one.
    pub server: Option<String>,
    /// The `sendout` binary whose `serve` a started engine runs.
    pub binary: PathBuf,
    pub management_id: String,
    pub management_token: String,
    /// `RUST_LOG` of a started engine.
    pub log_filter: String,
}

impl EngineOptions {
    /// Whether the bench starts (and so can restart and measure) the engine itself.
    pub fn is_local(&self) -> bool {
        self.server.is_none()
    }
}

/// A project's server-side key, for ingest.
#[derive(Debug, Clone)]
pub struct ProjectKey {
    pub app_id: String,
    pub app_token: String,
}

/// A running engine.
#[derive(Debug)]
pub struct Engine {
    base_url: String,
    process: Option<ServerProcess>,
    /// The data directory of a started engine; removed when the engine is dropped.
    dir: Option<TempDir>,
    management: (String, String),
    client: reqwest::Client,
}

impl Engine {
    /// Starts an engine on a fresh data directory with extra `SENDOUT_*` settings, or
    /// connects to `--server`.
    pub async fn start(
        options: &EngineOptions,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        if let Some(url) = &options.server {
            return Ok(Self {
                base_url: url.trim_end_matches('/').to_owned(),
                process: None,
                dir: None,
                management: (
                    options.management_id.clone(),
                    options.management_token.clone(),
                ),
                client,
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("sendout-bench-")
            .tempdir()
            .context("creating a temporary data directory")?;
        Self::started(dir, options, settings, client).await
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Peak resident memory of a started engine so far.
    pub fn peak_rss(&self) -> Option<u64> {
        self.process.as_ref().and_then(ServerProcess::peak_rss)
    }

    /// CPU time a started engine has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.process.as_ref().and_then(ServerProcess::cpu_seconds)
    }

    /// Stops a started engine gracefully; returns its peak memory and keeps its data
    /// directory for [`Engine::restart`].
    pub async fn stop(mut self) -> anyhow::Result<(Option<u64>, Option<TempDir>)> {
        let peak = match self.process.take() {
            Some(process) => process.stop().await?,
            None => None,
        };
        Ok((peak, self.dir.take()))
    }

    /// Starts an engine again on a data directory kept by [`Engine::stop`].
    pub async fn restart(
        dir: TempDir,
        options: &EngineOptions,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        Self::started(dir, options, settings, reqwest::Client::new()).await
    }

    /// Starts `sendout serve` on `dir` and keeps both, with the bench's management key.
    async fn started(
        dir: TempDir,
        options: &EngineOptions,
        settings: &[(&str, String)],
        client: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let process =
            ServerProcess::start(&options.binary, dir.path(), settings, &options.log_filter)
                .await?;
        Ok(Self {
            base_url: process.base_url(),
            process: Some(process),
            dir: Some(dir),
            management: (MANAGEMENT_ID.to_owned(), MANAGEMENT_TOKEN.to_owned()),
            client,
        })
    }

    async fn management(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header("X-Management-Id", &self.management.0)
            .header("X-Management-Token", &self.management.1)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Makes a project with one webhook for all events per URL; returns its key.
    pub async fn project_with_webhooks(&self, urls: &[String]) -> anyhow::Result<ProjectKey> {
        let project = self
            .management(
                "/management/v1/projects",
                json!({"name": "sendout bench", "timezone": "Etc/UTC"}),
            )
            .await?;
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let id = text(&project["id"]).context("the project's id")?;
        let key = ProjectKey {
            app_id: text(&project["server_side_key"]["app_id"]).context("the app id")?,
            app_token: text(&project["server_side_key"]["app_token"]).context("the app token")?,
        };
        for url in urls {
            self.management(
                &format!("/management/v1/projects/{id}/webhooks"),
                json!({"target_url": url, "events": ["*"], "active": true}),
            )
            .await?;
        }
        Ok(key)
    }
}
