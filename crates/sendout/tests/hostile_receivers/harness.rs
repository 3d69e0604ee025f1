//! The delivery side of sendout, assembled for misbehaving receivers: a fresh SQLite store
//! with one project, the real `Deliverer` (the process's HTTP client with its limits) and the
//! real worker, loopback allowed, retries after 50 ms with no jitter.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sendout::config::Config;
use sendout::delivery::{worker, Deliverer};
use sendout_core::ids::{EventId, GroupId};
use sendout_core::retry::RetryPolicy;
use sendout_core::time::Timestamp;
use sendout_store::sqlite::SqliteStore;
use sendout_store::{
    Attempt, Completion, NewEvent, Project, SendOut, SendOutFilter, Store, Webhook, WebhookFields,
};
use serde_json::value::RawValue;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The retry schedule of every harness: three retries, 50 ms apart, no jitter.
pub const RETRY_MS: i64 = 50;

/// A store, a deliverer and a configuration.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub deliverer: Arc<Deliverer>,
    pub project: Project,
    _dir: tempfile::TempDir,
}

/// A worker running in the background, stopped gracefully by [`RunningWorker::stop`].
pub struct RunningWorker {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl RunningWorker {
    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("the worker stops")
            .expect("the worker ends cleanly");
    }
}

impl Harness {
    /// The harness with the test configuration changed by `adjust`.
    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("sendout.db");
        let store = SqliteStore::open(&path.to_string_lossy())
            .await
            .expect("the store opens");
        store.migrate().await.expect("migrations apply");
        let store: Arc<dyn Store> = Arc::new(store);
        let mut config = Config::defaults();
        config.allowed_target_ranges = vec!["127.0.0.0/8".parse().expect("a CIDR range")];
        config.retry = RetryPolicy::parse_schedule("50ms,50ms,50ms")
            .and_then(|p| p.with_jitter(0.0))
            .expect("a valid schedule")
            .with_retry_after_cap(Duration::from_secs(5));
        config.delivery_timeout = Duration::from_secs(5);
        adjust(&mut config);
        let deliverer = Arc::new(Deliverer::new(&config).expect("the HTTP client"));
        let project =
            sendout::app::create_project(store.as_ref(), "Hostile".into(), None, "Etc/UTC".into())
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

    /// A webhook for every event.
    pub async fn webhook(&self, url: &str) -> Webhook {
        self.store
            .create_webhook(
                &self.project.id,
                WebhookFields {
                    target_url: url.to_owned(),
                    events: vec!["*".into()],
                    active: true,
                    headers: BTreeMap::new(),
                    description: None,
                },
            )
            .await
            .expect("a webhook")
    }

    /// Ingests one event; returns its send outs (one per webhook).
    pub async fn emit(&self) -> Vec<SendOut> {
        let raw = |json: &str| RawValue::from_string(json.to_owned()).expect("valid JSON");
        let event = NewEvent {
            id: EventId::new("voucher.published"),
            event_type: "voucher.published".into(),
            data: raw(r#"{"voucher":{"code":"HOSTILE-1"}}"#),
            entity_id: None,
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

    /// A send out and its attempts as stored.
    pub async fn stored(&self, send_out: &SendOut) -> (SendOut, Vec<Attempt>) {
        self.store
            .get_send_out(&self.project.id, &send_out.id)
            .await
            .expect("the send out")
    }

    /// One worker step: every due send out attempted once, outcomes committed.
    pub async fn step(&self) -> Vec<Completion> {
        worker::deliver_due(self.store.as_ref(), &self.deliverer, &self.config, 100)
            .await
            .expect("a worker step")
    }

    /// Starts the real worker loop.
    pub fn start_worker(&self) -> RunningWorker {
        let cancel = CancellationToken::new();
        let handle = worker::spawn(
            self.store.clone(),
            self.deliverer.clone(),
            self.config.clone(),
            cancel.clone(),
            Arc::new(AtomicBool::new(true)),
        );
        RunningWorker { cancel, handle }
    }
}
