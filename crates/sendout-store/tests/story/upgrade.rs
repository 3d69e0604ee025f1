//! Upgrading in place: a data directory and a database made by an earlier release (the
//! fixtures in `tests/fixtures/`, made by its `make.sh` with the release at 7c06b4a) are
//! migrated by this code where they are, and every event, send out and attempt they held is
//! still there and reads through the store as that release's API showed it: the same status,
//! counts and reasons, the same headers and the same body byte for byte (whether the body was
//! stored or is built again from its event), and the same attempts. Pending send outs are
//! claimed, as a worker would after the upgrade, with the same bodies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;
use sendout_store::postgres::PostgresStore;
use sendout_store::prelude::*;
use sendout_store::sqlite::SqliteStore;
use sendout_store::{SendOutFilter, Store};
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::pg;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A send out as the earlier release's `GET /v1/webhook-sendouts/{id}` answered it.
#[derive(Debug, Deserialize)]
struct Shown {
    id: SendOutId,
    #[serde(rename = "type")]
    envelope_type: String,
    event_type: String,
    event_id: Option<String>,
    source: Source,
    status: String,
    attempt_count: u32,
    next_attempt_at: Option<Timestamp>,
    failure_reason: Option<String>,
    is_test: bool,
    created_at: Timestamp,
    headers: BTreeMap<String, String>,
    body: Box<RawValue>,
    attempts: Vec<ShownAttempt>,
}

#[derive(Debug, Deserialize)]
struct Source {
    id: String,
    target_url: String,
}

#[derive(Debug, Deserialize)]
struct ShownAttempt {
    number: u32,
    started_at: Timestamp,
    duration_ms: u64,
    response_status: Option<u16>,
    response_body: Option<String>,
    error: Option<String>,
    succeeded: bool,
}

/// The fixture's send outs, one answer per line as the release sent it (so the bodies are
/// its bytes: see `make.sh`).
fn shown(backend: &str) -> Vec<Shown> {
    let path = format!("{FIXTURES}/expected-{backend}.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("an answer of the release"))
        .collect()
}

/// Everything the release showed reads the same through the upgraded `store`.
async fn reads_as_before(store: Arc<dyn Store>, project: &ProjectId, expected: &[Shown]) {
    assert!(
        expected.len() >= 8,
        "the fixture has send outs of every kind"
    );
    for status in ["PENDING", "RETRYING", "SUCCEEDED", "FAILED"] {
        assert!(
            expected.iter().any(|s| s.status == status),
            "the fixture has a {status} send out"
        );
    }
    let page = store
        .list_send_outs(project, &SendOutFilter::default(), None, 100)
        .await
        .expect("the audit log reads");
    assert_eq!(page.total, Some(expected.len() as u64));
    for shown in expected {
        let (send_out, attempts) = store
            .get_send_out(project, &shown.id)
            .await
            .unwrap_or_else(|e| panic!("{} reads: {e}", shown.id));
        let what = shown.id.as_str();
        assert_eq!(send_out.body, shown.body.get(), "{what}: the body");
        assert_eq!(send_out.headers, shown.headers, "{what}: the headers");
        assert_eq!(send_out.status.as_str(), shown.status, "{what}");
        assert_eq!(send_out.attempts, shown.attempt_count, "{what}");
        assert_eq!(send_out.envelope_type, shown.envelope_type, "{what}");
        assert_eq!(send_out.event_type, shown.event_type, "{what}");
        assert_eq!(
            send_out.event_id.as_ref().map(|id| id.as_str().to_owned()),
            shown.event_id,
            "{what}"
        );
        assert_eq!(send_out.source_id.as_str(), shown.source.id, "{what}");
        assert_eq!(send_out.target_url, shown.source.target_url, "{what}");
        assert_eq!(send_out.next_attempt_at, shown.next_attempt_at, "{what}");
        assert_eq!(send_out.failure_reason, shown.failure_reason, "{what}");
        assert_eq!(send_out.is_test, shown.is_test, "{what}");
        assert_eq!(send_out.created_at, shown.created_at, "{what}");
        assert_eq!(attempts.len(), shown.attempts.len(), "{what}: attempts");
        for (attempt, was) in attempts.iter().zip(&shown.attempts) {
            assert_eq!(attempt.number, was.number, "{what}");
            assert_eq!(attempt.started_at, was.started_at, "{what}");
            assert_eq!(attempt.duration_ms, was.duration_ms, "{what}");
            assert_eq!(attempt.response_status, was.response_status, "{what}");
            assert_eq!(attempt.response_body, was.response_body, "{what}");
            assert_eq!(attempt.error, was.error, "{what}");
            assert_eq!(attempt.succeeded, was.succeeded, "{what}");
        }
    }
    // A project made before `callout_notifications` existed reads with the defaults and
    // keeps everything else.
    let kept = store.get_project(project).await.expect("the project reads");
    assert_eq!(kept.name, "Fixture shop");
    assert_eq!(
        kept.callout_notifications,
        sendout_store::CalloutNotifications::default()
    );
    // The notices table is new, and empty: nothing stored is taken for a notice.
    assert!(store
        .list_notices(project, 10)
        .await
        .expect("notices read")
        .is_empty());
    assert_eq!(store.unread_notices(project).await.expect("counts"), 0);
    // Targets made before `public_headers` existed read with none marked (every value shown
    // redacted) and keep their headers; an old channel's spec reads without the field.
    let webhooks = store.list_webhooks(project).await.expect("webhooks read");
    assert_eq!(webhooks.len(), 4, "the fixture's webhooks");
    assert!(webhooks.iter().all(|w| w.public_headers.is_empty()));
    assert!(webhooks
        .iter()
        .any(|w| w.headers.get("x-shop").map(String::as_str) == Some("fixture")));
    let distributions = store
        .list_distributions(project)
        .await
        .expect("distributions read");
    assert_eq!(distributions.len(), 1, "the fixture's distribution");
    assert!(distributions[0].spec.channels()[0]
        .public_headers()
        .is_empty());
    let page = store
        .list_send_outs(project, &SendOutFilter::default(), None, 100)
        .await
        .expect("the audit log reads");
    let marks = store
        .public_headers(project, &page.items)
        .await
        .expect("the marks read");
    assert!(page
        .items
        .iter()
        .all(|s| marks.of(s).is_none_or(|public| public.is_empty())));
    // What workers read: every open send out is due (a day from now at the latest: the
    // retrying one's next attempt was a minute after the fixture was made), and is claimed
    // with its body.
    let a_day = Timestamp::now().plus_millis(24 * 3600 * 1000);
    let claims = store
        .claim_due(a_day, 100, Duration::from_secs(30))
        .await
        .expect("claims");
    let open: Vec<&Shown> = expected
        .iter()
        .filter(|s| matches!(s.status.as_str(), "PENDING" | "RETRYING"))
        .collect();
    assert_eq!(claims.len(), open.len(), "every open send out is claimed");
    for claim in &claims {
        let shown = open
            .iter()
            .find(|s| s.id == claim.send_out.id)
            .expect("an open send out of the fixture");
        assert_eq!(claim.send_out.body, shown.body.get(), "{}", shown.id);
        assert_eq!(claim.send_out.headers, shown.headers, "{}", shown.id);
    }
    // Health is new: it starts empty (the earlier attempts stay in the audit log), and an
    // attempt made after the upgrade counts for its target.
    let now = Timestamp::now();
    assert!(store
        .project_health(project, now)
        .await
        .expect("health reads")
        .is_empty());
    let claim = claims
        .iter()
        .find(|c| !c.send_out.is_test)
        .expect("an open send out that is not a test");
    let attempt = sendout_store::Attempt {
        send_out_id: claim.send_out.id.clone(),
        number: 0,
        started_at: now,
        duration_ms: 7,
        response_status: Some(200),
        response_body: None,
        error: None,
        succeeded: true,
    };
    store
        .complete(vec![sendout_store::Completion {
            send_out_id: claim.send_out.id.clone(),
            attempt: Some(attempt),
            next: sendout_store::Next::Succeeded,
            at: now,
            lease: Some(claim.lease_until),
            exhausted_window: None,
        }])
        .await
        .expect("completes");
    let source = &claim.send_out.source_id;
    let health = store
        .target_health(project, source.kind(), source.as_str(), now)
        .await
        .expect("health reads");
    assert_eq!(health.len(), 1);
    assert_eq!(
        (health[0].last_hour.attempts, health[0].last_hour.succeeded),
        (1, 1)
    );
    assert_eq!(health[0].last_success_at, Some(now));
}

#[tokio::test]
async fn an_embedded_store_made_by_an_earlier_release_is_upgraded_in_place_keeping_everything() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sendout.db");
    std::fs::copy(format!("{FIXTURES}/sqlite-7c06b4a.db"), &path).expect("the fixture copies");
    let url = format!("sqlite://{}", path.display());
    let count = |sql: &'static str| {
        let url = url.clone();
        async move {
            let mut conn = SqliteConnection::connect(&url).await.expect("connects");
            let n: i64 = sqlx::query_scalar(sql)
                .fetch_one(&mut conn)
                .await
                .expect(sql);
            conn.close().await.expect("closes");
            n
        }
    };
    let tables = ["events", "send_outs", "attempts"];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(select_count(table)).await);
    }
    let project: String = {
        let mut conn = SqliteConnection::connect(&url).await.expect("connects");
        let id = sqlx::query_scalar("SELECT id FROM projects WHERE name = 'Fixture shop'")
            .fetch_one(&mut conn)
            .await
            .expect("the fixture's project");
        conn.close().await.expect("closes");
        id
    };

    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrates in place");
    let mut after = Vec::new();
    for table in tables {
        after.push(count(select_count(table)).await);
    }
    assert_eq!(after, before, "every {tables:?} row is kept");
    let project = ProjectId::parse(&project).expect("a project id");
    reads_as_before(Arc::new(store), &project, &shown("sqlite")).await;
}

#[tokio::test]
async fn a_shared_store_made_by_an_earlier_release_is_upgraded_in_place_keeping_everything() {
    let database = pg::TestDatabase::create().await;
    let dump = std::fs::read_to_string(format!("{FIXTURES}/postgres-7c06b4a.sql"))
        .expect("the fixture reads");
    // psql's own commands (`\restrict` in newer dumps) are not SQL.
    let dump: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut conn = PgConnection::connect(database.url())
        .await
        .expect("connects");
    sqlx::raw_sql(&dump)
        .execute(&mut conn)
        .await
        .expect("the dump restores");
    // The dump empties the search path for its own session.
    conn.close().await.expect("closes");
    let mut conn = PgConnection::connect(database.url())
        .await
        .expect("connects");
    let tables = ["events", "send_outs", "attempts"];
    let mut before = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(select_count(table))
            .fetch_one(&mut conn)
            .await
            .expect("counts");
        before.push(n);
    }
    let project: String = sqlx::query_scalar("SELECT id FROM projects WHERE name = 'Fixture shop'")
        .fetch_one(&mut conn)
        .await
        .expect("the fixture's project");

    let store = PostgresStore::open(database.url())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrates in place");
    let mut after = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(select_count(table))
            .fetch_one(&mut conn)
            .await
            .expect("counts");
        after.push(n);
    }
    conn.close().await.expect("closes");
    assert_eq!(after, before, "every {tables:?} row is kept");
    let project = ProjectId::parse(&project).expect("a project id");
    reads_as_before(Arc::new(store), &project, &shown("postgres")).await;
}

fn select_count(table: &str) -> &'static str {
    match table {
        "events" => "SELECT COUNT(*) FROM events",
        "send_outs" => "SELECT COUNT(*) FROM send_outs",
        _ => "SELECT COUNT(*) FROM attempts",
    }
}

/// What a store held just before operational webhooks (sqlite 0011, postgres 0010): a
/// project with its callout settings and a notice whose mail is still in the outbox. The
/// statements read the same in both dialects.
const BEFORE_OPERATIONAL: [&str; 2] = [
    "INSERT INTO projects (id, name, timezone, webhook_version, webhook_token, app_id, \
     app_token_hash, callout_notifications, created_at, updated_at) \
     VALUES ($1, 'Shop', 'Etc/UTC', 'v2024-01-01', 'secret-of-the-shop', $2, 'hash', \
     '{\"webhooks\":{\"email\":true,\"emails\":[\"ops@shop.test\"],\"in_app\":true},\
     \"distributions\":{\"email\":false,\"emails\":[],\"in_app\":false}}', 1, 1)",
    "INSERT INTO notices (project_id, kind, target_kind, target_id, target_url, reason, \
     last_status, created_at, in_app, mail_to, mail_state, mail_next_at) \
     VALUES ($1, 'webhook.disabled', 'webhook', 'wh_01hzx3r8k2m4n6p8q0s2t4v6w8', \
     'https://shop.example/hook', 'the target answered 410 Gone', 410, 5, TRUE, \
     '[\"ops@shop.test\"]', 'pending', 5)",
];

/// After the upgrade the project and its notice read as before: the settings, the notice's
/// every field and its pending mail; the project has no operational URL, and the notice,
/// which happened before there were operational webhooks, is not sent out as one now.
async fn operational_upgrade_kept(store: &dyn Store, project: &ProjectId) {
    let shop = store.get_project(project).await.expect("the project reads");
    assert_eq!(shop.name, "Shop");
    assert_eq!(shop.webhook_token, "secret-of-the-shop");
    assert_eq!(
        shop.callout_notifications.webhooks.emails,
        ["ops@shop.test"]
    );
    assert!(shop.callout_notifications.webhooks.email);
    assert!(!shop.callout_notifications.distributions.in_app);
    assert_eq!(shop.operational_webhook_url, None);
    let notices = store.list_notices(project, 10).await.expect("lists");
    assert_eq!(notices.len(), 1);
    let notice = &notices[0];
    assert_eq!(
        notice.kind,
        sendout_store::notices::NoticeKind::WebhookDisabled
    );
    assert_eq!(notice.target_id, "wh_01hzx3r8k2m4n6p8q0s2t4v6w8");
    assert_eq!(
        notice.reason.as_deref(),
        Some("the target answered 410 Gone")
    );
    assert_eq!(notice.last_status, Some(410));
    assert_eq!(notice.mail_to, ["ops@shop.test"]);
    assert_eq!(
        notice.mail_state,
        Some(sendout_store::notices::MailState::Pending)
    );
    assert!(store
        .pending_operational(10)
        .await
        .expect("reads")
        .is_empty());
    let claims = store
        .claim_mails(Timestamp::from_millis(10), 10, Duration::from_secs(60))
        .await
        .expect("the outbox still holds its mail");
    assert_eq!(claims.len(), 1);
}

/// Migrates the database `$conn` is connected to up to (not including) `$version` of the
/// migrations in `$dir`, and writes [`BEFORE_OPERATIONAL`] for `$project` (one text for both
/// drivers, which have no common connection type).
macro_rules! before_operational {
    ($conn:expr, $dir:literal, $version:expr, $project:expr) => {{
        let mut before = sqlx::migrate!($dir);
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version < $version)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.run(&mut $conn).await.expect("migrated to before it");
        sqlx::query(BEFORE_OPERATIONAL[0])
            .bind($project.as_str())
            .bind(format!("app-{}", $project))
            .execute(&mut $conn)
            .await
            .expect("the project as it was");
        sqlx::query(BEFORE_OPERATIONAL[1])
            .bind($project.as_str())
            .execute(&mut $conn)
            .await
            .expect("the notice as it was");
        $conn.close().await.expect("closes");
    }};
}

#[tokio::test]
async fn an_embedded_store_from_before_operational_webhooks_keeps_its_projects_and_notices() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sendout.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let project = ProjectId::new();
    {
        let mut conn = SqliteConnection::connect(&url).await.expect("connects");
        before_operational!(conn, "./migrations/sqlite", 11, project);
    }
    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrates in place");
    operational_upgrade_kept(&store, &project).await;
}

#[tokio::test]
async fn a_shared_store_from_before_operational_webhooks_keeps_its_projects_and_notices() {
    let database = pg::TestDatabase::create().await;
    let project = ProjectId::new();
    {
        let mut conn = PgConnection::connect(database.url())
            .await
            .expect("connects");
        before_operational!(conn, "./migrations/postgres", 10, project);
    }
    let store = PostgresStore::open(database.url())
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrates in place");
    operational_upgrade_kept(&store, &project).await;
}
