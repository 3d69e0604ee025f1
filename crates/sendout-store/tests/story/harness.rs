//! What every scenario needs: a fresh store of some backend, a way to reopen it (a restart),
//! and typed helpers that make projects, webhooks and events with sensible defaults.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sendout_core::envelope::EventRef;
use sendout_core::ids::{EventId, GroupId, ProjectId, SendOutId};
use sendout_core::input::{EventFilter, TargetUrl};
use sendout_core::time::Timestamp;
use sendout_store::prelude::*;
use sendout_store::{
    Attempt, Claim, Completion, IngestOutcome, NewEvent, NewProject, Next, Project, SendOut,
    SendOutFilter, SendOutStatus, SourceId, Store, Webhook, WebhookFields,
};
use serde_json::value::RawValue;

/// The lease every scenario claims with.
pub const LEASE: Duration = Duration::from_secs(30);

type Reopen = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>> + Send + Sync>;

/// A fresh, migrated store, and how to open the same database again.
pub struct Harness {
    store: Arc<dyn Store>,
    reopen: Reopen,
    /// Whatever must live as long as the database (a temporary directory, say).
    _guard: Box<dyn Any + Send>,
}

impl Harness {
    pub fn new(store: Arc<dyn Store>, reopen: Reopen, guard: Box<dyn Any + Send>) -> Self {
        Self {
            store,
            reopen,
            _guard: guard,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A second store on the same database, as a restarted process would open it.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        (self.reopen)().await
    }
}

/// A fresh SQLite store in a temporary directory (in a sub-directory that does not exist
/// yet, to show the store creates it). Reopening goes through a `sqlite://` URL.
pub async fn fresh_sqlite() -> Harness {
    use sendout_store::sqlite::SqliteStore;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("data").join("sendout.db");
    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrations apply");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let reopen: Reopen = Box::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let store = SqliteStore::open(&url).await.expect("the store reopens");
            store.migrate().await.expect("migrations are idempotent");
            Arc::new(store) as Arc<dyn Store>
        })
    });
    Harness::new(Arc::new(store), reopen, Box::new(dir))
}

/// A fresh PostgreSQL store in a database of its own (see `pg.rs`), dropped with the
/// harness. Reopening connects a second pool to the same database, as a restarted node would.
pub async fn fresh_postgres() -> Harness {
    use sendout_store::postgres::{PostgresOptions, PostgresStore};

    // Small pools: many tests run at once against one server.
    let options = PostgresOptions {
        pool_size: 4,
        ..PostgresOptions::default()
    };
    let database = crate::pg::TestDatabase::create().await;
    let url = database.url().to_owned();
    let store = PostgresStore::open_with(&url, options.clone())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrations apply");
    let reopen: Reopen = Box::new(move || {
        let (url, options) = (url.clone(), options.clone());
        Box::pin(async move {
            let store = PostgresStore::open_with(&url, options)
                .await
                .expect("the store reopens");
            store.migrate().await.expect("migrations are idempotent");
            Arc::new(store) as Arc<dyn Store>
        })
    });
    Harness::new(Arc::new(store), reopen, Box::new(database))
}

pub fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

pub fn new_project(name: &str) -> NewProject {
    let id = ProjectId::new();
    NewProject {
        name: name.to_owned(),
        description: Some(format!("{name}, for the story")),
        timezone: "Europe/Warsaw".to_owned(),
        webhook_version: "v2024-01-01".to_owned(),
        webhook_token: format!("token-of-{id}"),
        app_id: format!("app-of-{id}"),
        app_token_hash: sendout_store::hash_token(&format!("app-token-of-{id}")),
        callout_notifications: Default::default(),
        operational_webhook_url: None,
        id,
    }
}

pub async fn project(store: &dyn Store) -> Project {
    store
        .create_project(new_project("Shop"))
        .await
        .expect("the project is created")
}

pub fn fields(events: &[&str], active: bool) -> WebhookFields {
    WebhookFields {
        target_url: url(&format!("https://receiver.example/{}", SendOutId::new())),
        events: EventFilter::parse(events).expect("a valid event filter"),
        active,
        headers: BTreeMap::from([("x-shop-key".to_owned(), "k1".to_owned())]),
        public_headers: Default::default(),
        description: Some("a receiver".to_owned()),
    }
}

/// A target URL the test knows to be valid.
pub fn url(text: &str) -> TargetUrl {
    TargetUrl::parse(text).expect("a valid target URL")
}

pub async fn webhook(store: &dyn Store, project: &Project, events: &[&str]) -> Webhook {
    store
        .create_webhook(&project.id, fields(events, true))
        .await
        .expect("the webhook is created")
}

pub fn event(event_type: &str) -> NewEvent {
    NewEvent {
        id: EventId::new(event_type),
        event_type: event_type.to_owned(),
        data: raw(r#"{"voucher":{"code":"SUMMER-10"}}"#),
        entity_id: Some("v_123".to_owned()),
        group_id: GroupId::new(),
        event_source: raw(r#"{"channel":"API"}"#),
        created_at: Timestamp::now(),
    }
}

pub async fn ingest(store: &dyn Store, project: &Project, event_type: &str) -> IngestOutcome {
    let mut outcomes = store
        .ingest(&project.id, vec![event(event_type)])
        .await
        .expect("the event is ingested");
    outcomes.pop().expect("one outcome per event")
}

/// Every send out of the project, newest first.
pub async fn send_outs(store: &dyn Store, project: &Project) -> Vec<SendOut> {
    store
        .list_send_outs(&project.id, &SendOutFilter::default(), None, 1000)
        .await
        .expect("the audit log lists")
        .items
}

pub async fn claim_all(store: &dyn Store, now: Timestamp) -> Vec<Claim> {
    store
        .claim_due(now, 1000, LEASE)
        .await
        .expect("claiming works")
}

pub fn lease_ms() -> i64 {
    i64::try_from(LEASE.as_millis()).expect("a short lease")
}

pub fn attempt(send_out_id: &SendOutId, status: u16, at: Timestamp) -> Attempt {
    let succeeded = (200..300).contains(&status);
    Attempt {
        send_out_id: send_out_id.clone(),
        number: 0,
        started_at: at,
        duration_ms: 12,
        response_status: Some(status),
        response_body: Some(format!("answer {status}")),
        error: None,
        succeeded,
    }
}

pub fn completion(claim: &Claim, status: u16, next: Next, at: Timestamp) -> Completion {
    Completion {
        send_out_id: claim.send_out.id.clone(),
        attempt: Some(attempt(&claim.send_out.id, status, at)),
        next,
        at,
        lease: Some(claim.lease_until),
        exhausted_window: None,
    }
}

pub async fn complete(store: &dyn Store, completions: Vec<Completion>) {
    store
        .complete(completions)
        .await
        .expect("completions are written");
}

pub async fn status_of(store: &dyn Store, project: &Project, id: &SendOutId) -> SendOutStatus {
    store
        .get_send_out(&project.id, id)
        .await
        .expect("the send out exists")
        .0
        .status
}

/// A test send out as the test-webhook endpoint would make it.
pub fn test_send_out(project: &Project, target: &Webhook, now: Timestamp) -> SendOut {
    let id = SendOutId::new();
    let (event_id, group_id, event_source) = (
        EventId::new("voucher.published"),
        GroupId::new(),
        raw(r#"{"channel":"INTERNAL"}"#),
    );
    let event = EventRef {
        id: &event_id,
        event_type: "voucher.published",
        created_at: now,
        entity_id: None,
        group_id: &group_id,
        event_source: &event_source,
    };
    let body = format!(r#"{{"id":"{id}","test":true}}"#);
    SendOut::test_send(
        id,
        &project.id,
        SourceId::Webhook(target.id.clone()),
        (target.target_url.to_string(), target.headers.clone()),
        &event,
        body,
        now,
    )
}
