//! The delivery side of sendout assembled for tests: a fresh SQLite store with one project,
//! the real `Deliverer` (the process's HTTP client with its limits) and the real worker,
//! loopback allowed, retries after 50 ms three times with no jitter. Used by the delivery and
//! hostile-receiver tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use sendout::config::Config;
use sendout::delivery::{worker, Deliverer};
use sendout_core::ids::{EventId, GroupId};
use sendout_core::input::{EventFilter, TargetUrl};
use sendout_core::retry::RetryPolicy;
use sendout_core::time::Timestamp;
use sendout_store::prelude::*;
use sendout_store::sqlite::SqliteStore;
use sendout_store::{
    Attempt, Completion, NewEvent, Project, SendOut, SendOutFilter, Store, Webhook, WebhookFields,
};
use serde_json::value::RawValue;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should take milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

/// The gap of every retry of the default schedule ([`Harness::with`]).
pub const RETRY_MS: i64 = 50;

pub fn nets(texts: &[&str]) -> Vec<IpNet> {
    texts
        .iter()
        .map(|t| t.parse().expect("a CIDR range"))
        .collect()
}

/// A retry schedule without jitter.
pub fn schedule(text: &str) -> RetryPolicy {
    RetryPolicy::parse_schedule(text)
        .and_then(|p| p.with_jitter(0.0))
        .expect("a valid schedule")
}

pub fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

/// A fresh store with one project, and the delivery parts configured for tests.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub deliverer: Arc<Deliverer>,
    pub project: Project,
    _dir: tempfile::TempDir,
}

/// A worker running in the background.
pub struct RunningWorker {
    cancel: CancellationToken,
    alive: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl RunningWorker {
    /// Shuts the worker down gracefully and waits until it has.
    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("the worker stops in time")
            .expect("the worker ends cleanly");
        assert!(!self.alive.load(Ordering::SeqCst));
    }
}

impl Harness {
    /// Loopback allowed, retries after 50 ms three times, a 5 s timeout.
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("sendout.db");
        let store = SqliteStore::open(&path.to_string_lossy())
            .await
            .expect("open the store");
        store.migrate().await.expect("migrate");
        let store: Arc<dyn Store> = Arc::new(store);
        let mut config = Config::defaults();
        config.allowed_target_ranges = nets(&["127.0.0.0/8", "::1/128"]);
        config.retry = schedule("50ms,50ms,50ms");
        config.delivery_timeout = Duration::from_secs(5);
        adjust(&mut config);
        let deliverer = Arc::new(Deliverer::new(&config).expect("the HTTP client"));
        let project =
            sendout::app::create_project(store.as_ref(), "Test".into(), None, "Etc/UTC".into())
                .await
                .expect("a project")
                .project;
        Self {
            store,
            config: Arc::new(config),
            deliverer,
            project,
            _dir: dir,
        }
    }

    pub async fn webhook(&self, url: &str) -> Webhook {
        self.webhook_with_headers(url, BTreeMap::new()).await
    }

    pub async fn webhook_with_headers(
        &self,
        url: &str,
        headers: BTreeMap<String, String>,
    ) -> Webhook {
        self.store
            .create_webhook(
                &self.project.id,
                WebhookFields {
                    target_url: TargetUrl::parse(url).expect("a valid target URL"),
                    events: EventFilter::all(),
                    active: true,
                    headers,
                    public_headers: Default::default(),
                    description: None,
                },
            )
            .await
            .expect("a webhook")
    }

    pub async fn webhook_now(&self, webhook: &Webhook) -> Webhook {
        self.store
            .get_webhook(&self.project.id, &webhook.id)
            .await
            .expect("the webhook")
    }

    /// Ingests one `voucher.published` event; returns its send outs, one per webhook.
    pub async fn emit(&self) -> Vec<SendOut> {
        let event = NewEvent {
            id: EventId::new("voucher.published"),
            event_type: "voucher.published".into(),
            data: raw(r#"{"voucher":{"code":"SUMMER-2024","type":"DISCOUNT_VOUCHER"}}"#),
            entity_id: Some("v_1".into()),
            group_id: GroupId::new(),
            event_source: raw(r#"{"channel":"API"}"#),
            created_at: Timestamp::now(),
        };
        let event_id = event.id.clone();
        self.store
            .ingest(&self.project.id, vec![event])
            .await
            .expect("ingest");
        self.store
            .list_send_outs(&self.project.id, &SendOutFilter::default(), None, 100)
            .await
            .expect("the audit log")
            .items
            .into_iter()
            .filter(|s| s.event_id.as_ref() == Some(&event_id))
            .collect()
    }

    pub async fn send_out(&self, send_out: &SendOut) -> (SendOut, Vec<Attempt>) {
        self.store
            .get_send_out(&self.project.id, &send_out.id)
            .await
            .expect("the send out")
    }

    /// One worker step: attempts everything due now and commits the outcomes.
    pub async fn step(&self) -> Vec<Completion> {
        worker::deliver_due(self.store.as_ref(), &self.deliverer, &self.config, 100)
            .await
            .expect("a worker step")
    }

    pub fn start_worker(&self) -> RunningWorker {
        let cancel = CancellationToken::new();
        let alive = Arc::new(AtomicBool::new(true));
        let handle = worker::spawn(
            self.store.clone(),
            self.deliverer.clone(),
            self.config.clone(),
            cancel.clone(),
            alive.clone(),
        );
        RunningWorker {
            cancel,
            alive,
            handle,
        }
    }
}
