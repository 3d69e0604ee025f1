//! What only the SQLite backend can show: its pragmas, its file handling, and rows the
//! `Store` trait does not expose (events, attempts) during retention.

use std::collections::BTreeMap;
use std::time::Duration;

use sendout_core::distribution::{DistributionSpec, DistributionStatus};
use sendout_core::ids::{EventId, GroupId, ProjectId};
use sendout_core::input::{EventFilter, TargetUrl};
use sendout_core::time::Timestamp;
use serde_json::value::RawValue;

use super::direct::Commit;
use super::*;
use crate::model::*;
use crate::prelude::*;
use crate::NewProject;

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

async fn fresh(dir: &tempfile::TempDir, options: SqliteOptions) -> SqliteStore {
    let path = dir.path().join("nested").join("sendout.db");
    let store = SqliteStore::open_with(&path.to_string_lossy(), options)
        .await
        .expect("opens");
    store.migrate().await.expect("migrates");
    store
}

async fn shop(store: &SqliteStore) -> Project {
    let id = ProjectId::new();
    store
        .create_project(NewProject {
            name: "Shop".into(),
            description: None,
            timezone: "UTC".into(),
            webhook_version: "v2024-01-01".into(),
            webhook_token: "secret".into(),
            app_id: format!("app-{id}"),
            app_token_hash: crate::hash_token("token"),
            callout_notifications: Default::default(),
            operational_webhook_url: None,
            id,
        })
        .await
        .expect("created")
}

fn event(event_type: &str) -> NewEvent {
    NewEvent {
        id: EventId::new(event_type),
        event_type: event_type.into(),
        data: raw(r#"{"a":1}"#),
        entity_id: None,
        group_id: GroupId::new(),
        event_source: raw(r#"{"channel":"API"}"#),
        created_at: Timestamp::now(),
    }
}

async fn count(store: &SqliteStore, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&store.readers)
        .await
        .expect("counted")
}

#[tokio::test]
async fn the_store_creates_its_directory_and_runs_in_wal_with_foreign_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    assert!(store.path().exists());
    for pool in [&store.writer, &store.readers] {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .expect("read");
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .expect("read");
        assert_eq!(fk, 1);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .expect("read");
        assert_eq!(sync, 2, "FULL");
    }
    store.migrate().await.expect("migrating twice is harmless");
}

/// Every connection is open once the store is, and none is closed for its age or for being
/// idle: opening one on demand made the first requests after a start (or a quiet spell) wait.
#[tokio::test]
async fn the_stores_connections_are_opened_with_it_and_kept_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        readers: 3,
        ..SqliteOptions::default()
    };
    let store = fresh(&dir, options).await;
    for (pool, connections) in [
        (&store.writer, 1),
        (&store.readers, 3),
        (&store.checkpointer, 1),
    ] {
        assert_eq!(pool.size(), connections, "opened with the store");
        assert_eq!(pool.options().get_idle_timeout(), None);
        assert_eq!(pool.options().get_max_lifetime(), None);
    }
}

#[tokio::test]
async fn a_sqlite_url_opens_the_same_database_as_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    let url = format!("sqlite://{}?mode=rwc", store.path().display());
    let again = SqliteStore::open(&url).await.expect("opens");
    assert_eq!(
        again.get_project(&project.id).await.expect("found"),
        project
    );
}

#[tokio::test]
async fn normal_durability_sets_synchronous_normal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        durability: Durability::Normal,
        ..SqliteOptions::default()
    };
    let store = fresh(&dir, options).await;
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&store.writer)
        .await
        .expect("read");
    assert_eq!(sync, 1);
}

#[tokio::test]
async fn pruning_takes_attempts_with_their_send_outs_and_events_nothing_refers_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    // A header of its own, so its send outs' requests are stored (and must go with them).
    let fields = WebhookFields {
        target_url: TargetUrl::parse("https://example.com/hook").expect("valid"),
        events: EventFilter::parse(["voucher.published"]).expect("valid"),
        active: true,
        headers: BTreeMap::from([("x-shop".to_owned(), "1".to_owned())]),
        public_headers: Default::default(),
        description: None,
    };
    store
        .create_webhook(&project.id, fields)
        .await
        .expect("created");
    store
        .ingest(
            &project.id,
            vec![
                event("voucher.published"),
                event("voucher.published"),
                event("campaign.created"),
            ],
        )
        .await
        .expect("ingested");
    let now = Timestamp::now();
    let claims = store
        .claim_due(now, 10, Duration::from_secs(30))
        .await
        .expect("claimed");
    let done = |claim: &Claim, next| Completion {
        send_out_id: claim.send_out.id.clone(),
        attempt: Some(Attempt {
            send_out_id: claim.send_out.id.clone(),
            number: 1,
            started_at: now,
            duration_ms: 3,
            response_status: Some(200),
            response_body: None,
            error: None,
            succeeded: true,
        }),
        next,
        at: now,
        lease: Some(claim.lease_until),
        exhausted_window: None,
    };
    store
        .complete(vec![
            done(&claims[0], Next::Succeeded),
            done(&claims[1], Next::RetryAt(now.plus_millis(60_000))),
        ])
        .await
        .expect("completed");
    assert_eq!(count(&store, "events").await, 3);
    assert_eq!(count(&store, "attempts").await, 2);

    let pruned = store
        .prune(Timestamp::now().plus_millis(1))
        .await
        .expect("pruned");
    assert_eq!(pruned, 1);
    assert_eq!(count(&store, "send_outs").await, 1);
    assert_eq!(
        count(&store, "send_out_bodies").await,
        1,
        "a pruned send out's request goes with it"
    );
    assert_eq!(
        count(&store, "attempts").await,
        1,
        "the open one's attempt stays"
    );
    // The event of the open send out stays; the other two (one finished, one that fanned
    // out to nothing) go.
    assert_eq!(count(&store, "events").await, 1);
}

#[tokio::test]
async fn deleting_a_project_cascades_to_every_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    any_event_webhook(&store, &project).await;
    store
        .ingest(&project.id, vec![event("voucher.published")])
        .await
        .expect("ingested");
    let claims = store
        .claim_due(Timestamp::now(), 10, Duration::from_secs(30))
        .await
        .expect("claimed");
    store
        .complete(vec![Completion {
            send_out_id: claims[0].send_out.id.clone(),
            attempt: Some(Attempt {
                send_out_id: claims[0].send_out.id.clone(),
                number: 1,
                started_at: Timestamp::now(),
                duration_ms: 3,
                response_status: Some(500),
                response_body: None,
                error: None,
                succeeded: false,
            }),
            next: Next::RetryAt(Timestamp::now()),
            at: Timestamp::now(),
            lease: Some(claims[0].lease_until),
            exhausted_window: None,
        }])
        .await
        .expect("completed");
    store.delete_project(&project.id).await.expect("deleted");
    for table in [
        "projects",
        "webhooks",
        "events",
        "send_outs",
        "send_out_bodies",
        "attempts",
    ] {
        assert_eq!(count(&store, table).await, 0, "{table}");
    }
}

/// Applies the migrations older than `version` only, as an earlier release left the store.
async fn migrate_before(store: &SqliteStore, version: i64) {
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before
        .run(&store.writer)
        .await
        .unwrap_or_else(|e| panic!("migrated to before {version}: {e}"));
}

/// Migration 0003 moves every send out's request into `send_out_bodies`: a database made
/// before it keeps each send out's headers and body byte for byte.
#[tokio::test]
async fn requests_stored_before_bodies_had_their_own_table_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sendout.db");
    let store = SqliteStore::open(&path.to_string_lossy())
        .await
        .expect("opens");
    migrate_before(&store, 3).await;
    // The project as that release wrote it (today's insert names later columns).
    let project = ProjectId::new();
    sqlx::query(
        "INSERT INTO projects (id, name, timezone, webhook_version, webhook_token, app_id, \
         app_token_hash, created_at, updated_at) \
         VALUES (?1, 'Shop', 'UTC', 'v2024-01-01', 'secret', ?2, 'hash', 1, 1)",
    )
    .bind(project.as_str())
    .bind(format!("app-{project}"))
    .execute(&store.writer)
    .await
    .expect("an old-shape project");
    let id = sendout_core::ids::SendOutId::new();
    let body = r#"{"id":"evt","data":{"a":"é"}}"#;
    sqlx::query(
        "INSERT INTO send_outs (id, project_id, envelope_type, event_type, source_kind, \
         source_id, target_url, headers, body, status, next_attempt_at, created_at, updated_at) \
         VALUES (?1, ?2, 'voucher.published', 'voucher.published', 'webhook', ?4, \
         'https://example.com/hook', '{\"x-shop\":\"1\"}', ?3, 'PENDING', 1, 1, 1)",
    )
    .bind(id.as_str())
    .bind(project.as_str())
    .bind(body)
    .bind(sendout_core::ids::WebhookId::new().as_str())
    .execute(&store.writer)
    .await
    .expect("an old-shape send out");

    store.migrate().await.expect("migrates to the newest");
    let (kept, _) = store
        .get_send_out(&project, &id)
        .await
        .expect("still there");
    assert_eq!(kept.body, body);
    assert_eq!(kept.headers.get("x-shop").map(String::as_str), Some("1"));
}

/// A reader that read the schema while migrations ran (the pool opens readers in the
/// background, so one can connect between two migrations) must not answer from that schema
/// afterwards: SQLite prepares a statement on the schema the connection holds and notices the
/// change only when it runs it, then prepares it again with the new columns, one more than
/// sqlx recorded, and sqlx's connection thread panicked ("index out of bounds" in
/// `SqliteRow::current`). `migrate` makes every reader read the schema again.
#[tokio::test]
async fn a_reader_that_saw_the_schema_during_migrations_reads_the_new_one_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sendout.db");
    let options = SqliteOptions {
        readers: 1,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path.to_string_lossy(), options)
        .await
        .expect("opens");
    migrate_before(&store, 6).await;
    let project = ProjectId::new();
    sqlx::query(
        "INSERT INTO projects (id, name, timezone, webhook_version, webhook_token, app_id, \
         app_token_hash, created_at, updated_at) \
         VALUES (?1, 'Shop', 'UTC', 'v2024-01-01', 'secret', ?2, 'hash', 1, 1)",
    )
    .bind(project.as_str())
    .bind(format!("app-{project}"))
    .execute(&store.writer)
    .await
    .expect("an old-shape project");
    sqlx::query(
        "INSERT INTO webhooks (id, project_id, target_url, events, active, headers, \
         created_at, updated_at) \
         VALUES (?1, ?2, 'https://example.com/hook', '[\"*\"]', 1, '{}', 1, 1)",
    )
    .bind(sendout_core::ids::WebhookId::new().as_str())
    .bind(project.as_str())
    .execute(&store.writer)
    .await
    .expect("an old-shape webhook");
    // The one reader reads the schema as 0005 left it.
    let webhooks: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks")
        .fetch_one(&store.readers)
        .await
        .expect("read");
    assert_eq!(webhooks, 1);

    store.migrate().await.expect("migrates to the newest");
    // Ingest reads the project's webhooks (`w.*`, a column more since 0006) on the reader.
    let outcomes = store
        .ingest(&project, vec![event("voucher.published")])
        .await
        .expect("ingested");
    assert_eq!(outcomes[0].send_outs, 1);
}

/// A valid distribution on `trigger` with no condition, sending the full data to one channel.
fn distribution_on(trigger: &str) -> DistributionSpec {
    let input = serde_json::json!({
        "name": format!("On {trigger}"),
        "trigger": {"event": trigger},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [{"event_name": "Sent", "url": "https://crm.example/hooks"}],
    });
    serde_json::from_value::<sendout_core::distribution::DistributionInput>(input)
        .expect("the input's shape")
        .parse()
        .expect("a valid distribution")
}

async fn live_distribution(store: &SqliteStore, project: &Project, trigger: &str) -> Distribution {
    store
        .create_distribution(
            &project.id,
            distribution_on(trigger),
            DistributionStatus::Live,
        )
        .await
        .expect("created")
}

#[tokio::test]
async fn fan_out_loads_only_the_live_distributions_triggered_by_the_batchs_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    let paid = live_distribution(&store, &project, "customer.order.paid").await;
    let entered = live_distribution(&store, &project, "customer.segment.entered").await;
    live_distribution(&store, &project, "customer.order.created").await;

    let mut conn = store.readers.acquire().await.expect("a connection");
    let ids = |found: Vec<Distribution>| found.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let types = ["customer.order.paid", "customer.segment.entered"];
    let mut expected = vec![paid.id.clone(), entered.id.clone()];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let loaded = crate::sql::live(&mut *conn, &project.id, &types).await;
    assert_eq!(ids(loaded.expect("loaded")), expected);
    let loaded = crate::sql::live(&mut *conn, &project.id, &["voucher.published"]).await;
    assert!(loaded.expect("loaded").is_empty());
    let loaded = crate::sql::live(&mut *conn, &project.id, &[]).await;
    assert!(loaded.expect("loaded").is_empty());
}

#[tokio::test]
async fn a_live_distribution_whose_spec_no_longer_parses_does_not_stop_ingest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    let broken = live_distribution(&store, &project, "customer.order.paid").await;
    let sound = live_distribution(&store, &project, "customer.order.paid").await;
    live_distribution(&store, &project, "customer.segment.entered").await;
    sqlx::query("UPDATE distributions SET spec = '{\"name\": \"cut short' WHERE id = ?1")
        .bind(broken.id.as_str())
        .execute(&store.writer)
        .await
        .expect("the spec is broken");

    let batch = vec![
        event("customer.order.paid"),
        event("customer.segment.entered"),
    ];
    let outcomes = store.ingest(&project.id, batch).await.expect("ingested");
    let counts: Vec<u32> = outcomes.iter().map(|o| o.send_outs).collect();
    assert_eq!(
        counts,
        [1, 1],
        "the broken distribution alone sends nothing"
    );
    let sources: Vec<String> = sqlx::query_scalar(
        "SELECT source_id FROM send_outs WHERE event_type = 'customer.order.paid'",
    )
    .fetch_all(&store.readers)
    .await
    .expect("read");
    assert_eq!(sources, [sound.id.to_string()]);
}

async fn synchronous(store: &SqliteStore) -> i64 {
    let mut writer = store.writer.acquire().await.expect("writer");
    sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *writer)
        .await
        .expect("read")
}

fn synchronous_inside(tx: &rusqlite::Connection) -> StoreResult<i64> {
    Ok(tx.query_row("PRAGMA synchronous", [], |row| row.get(0))?)
}

/// Leases and outcomes commit without waiting for the disk; everything else keeps `FULL`,
/// even after a relaxed transaction failed half-way or panicked.
#[tokio::test]
async fn relaxed_writes_do_not_leave_the_writer_relaxed() {
    const NORMAL: i64 = 1;
    const FULL: i64 = 2;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let inside = store
        .direct
        .run(Commit::Relaxed, synchronous_inside)
        .await
        .expect("committed");
    assert_eq!(inside, NORMAL);
    assert_eq!(synchronous(&store).await, FULL);
    // The file it syncs is the log SQLite writes (a wrong path would sync nothing).
    assert_eq!(
        store.direct.wal().file_name().and_then(|n| n.to_str()),
        Some("sendout.db-wal")
    );
    assert!(store.direct.wal().exists());
    // A durable direct transaction commits at NORMAL too and syncs the log afterwards.
    let inside = store
        .direct
        .run(Commit::Durable, synchronous_inside)
        .await
        .expect("committed");
    assert_eq!(inside, NORMAL);
    assert_eq!(synchronous(&store).await, FULL);

    let failed = store
        .direct
        .run(Commit::Relaxed, |tx| {
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok(())
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(synchronous(&store).await, FULL);

    let panicked = store
        .direct
        .run(Commit::Relaxed, |tx| -> StoreResult<()> {
            tx.execute("DELETE FROM projects", [])?;
            panic!("a bug in a direct transaction");
        })
        .await;
    assert!(panicked.is_err());
    assert_eq!(synchronous(&store).await, FULL);
    // The writer is usable again, and the panicked transaction was rolled back.
    let project = shop(&store).await;
    assert_eq!(store.list_projects().await.expect("listed"), [project]);

    // With `Normal` durability nothing is ever switched to FULL.
    let relaxed_dir = tempfile::tempdir().expect("temp dir");
    let normal = fresh(
        &relaxed_dir,
        SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )
    .await;
    let inside = normal
        .direct
        .run(Commit::Durable, synchronous_inside)
        .await
        .expect("committed");
    assert_eq!(inside, NORMAL);
    assert_eq!(synchronous(&normal).await, NORMAL);
}

/// A caller that stops waiting for a direct transaction does not cut it short: it commits,
/// and the writer (and SQLite's write lock) is free for the next write.
#[tokio::test]
async fn a_direct_write_whose_caller_went_away_still_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    let (started, running) = std::sync::mpsc::channel::<()>();
    let (finish, finishing) = std::sync::mpsc::channel::<()>();
    let id = project.id.clone();
    let direct = store.direct.clone();
    let write = async move {
        direct
            .run(Commit::Durable, move |tx| {
                tx.execute(
                    "UPDATE projects SET name = 'renamed' WHERE id = ?1",
                    [id.as_str()],
                )?;
                started.send(()).expect("test waits");
                finishing.recv().expect("test says when");
                Ok(())
            })
            .await
    };
    let write = tokio::spawn(write);
    tokio::task::spawn_blocking(move || running.recv().expect("started"))
        .await
        .expect("joined");
    write.abort();
    finish.send(()).expect("still running");
    let renamed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if store.get_project(&project.id).await.expect("read").name == "renamed" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(renamed.is_ok(), "the abandoned transaction committed");
    tokio::time::timeout(Duration::from_secs(10), shop(&store))
        .await
        .expect("the next write got the writer");
}

/// Commits never checkpoint (that would stall the single writer); the store's own task copies
/// the log into the database in the background.
#[tokio::test]
async fn the_wal_is_checkpointed_by_the_store_not_by_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let mut writer = store.writer.acquire().await.expect("writer");
    let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(&mut *writer)
        .await
        .expect("read");
    assert_eq!(autocheckpoint, 0);
    drop(writer);

    // About 4 MB of events: only a checkpoint moves them from the log into the file.
    let project = shop(&store).await;
    let big = raw(&format!(r#"{{"text":"{}"}}"#, "x".repeat(20_000)));
    let events = (0..200)
        .map(|_| NewEvent {
            data: big.clone(),
            ..event("voucher.published")
        })
        .collect();
    store.ingest(&project.id, events).await.expect("ingested");
    let file = store.path();
    let mut checkpointed = false;
    for _ in 0..100 {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let size = std::fs::metadata(&file).expect("the database file").len();
        if size > 4_000_000 {
            checkpointed = true;
            break;
        }
    }
    assert!(checkpointed, "the events reached the database file");
}

/// Two webhooks of `project` for `events` at `url`: one plain, one with a header of its own
/// (whose send outs' requests are stored).
async fn plain_and_with_headers(
    store: &SqliteStore,
    project: &Project,
    url: &str,
    events: &str,
) -> [Webhook; 2] {
    let mut made = Vec::new();
    for headers in [
        BTreeMap::new(),
        BTreeMap::from([("x-shop".to_owned(), "1".to_owned())]),
    ] {
        let fields = WebhookFields {
            target_url: TargetUrl::parse(url).expect("valid"),
            events: EventFilter::parse([events]).expect("valid"),
            active: true,
            headers,
            public_headers: Default::default(),
            description: None,
        };
        made.push(
            store
                .create_webhook(&project.id, fields)
                .await
                .expect("created"),
        );
    }
    made.try_into().expect("two webhooks")
}

/// A webhook's request is stored only if it has headers of its own; otherwise its envelope is
/// made again from the event whenever it is read, byte for byte the one fan-out built.
#[tokio::test]
async fn a_webhooks_envelope_is_rebuilt_from_its_event_unless_it_has_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    let [plain, with_headers] = plain_and_with_headers(
        &store,
        &project,
        "https://example.com/hook",
        "voucher.published",
    )
    .await;
    let published = NewEvent {
        data: raw(r#"{"voucher":{"code":"A-1","tags":["é",null]},"z":1,"a":0.50}"#),
        entity_id: Some("v_1".into()),
        event_source: raw(r#"{"channel":"API","api_key":{"name":"k"}}"#),
        ..event("voucher.published")
    };
    store
        .ingest(&project.id, vec![published.clone()])
        .await
        .expect("ingested");
    assert_eq!(count(&store, "send_outs").await, 2);
    assert_eq!(
        count(&store, "send_out_bodies").await,
        1,
        "only the one with headers"
    );

    let claims = store
        .claim_due(Timestamp::now(), 10, Duration::from_secs(30))
        .await
        .expect("claimed");
    assert_eq!(claims.len(), 2);
    for claim in &claims {
        let s = &claim.send_out;
        // What fan-out built for this send out, from the same inputs.
        let source = sendout_core::envelope::SourceRef::webhook(
            if s.source_id.as_str() == plain.id.as_str() {
                &plain.id
            } else {
                &with_headers.id
            },
            &s.target_url,
        );
        let expected = sendout_core::envelope::build(
            &s.id,
            &project.id,
            s.created_at,
            "voucher.published",
            &published.data,
            &source,
            &sendout_core::envelope::EventRef {
                id: &published.id,
                event_type: &published.event_type,
                created_at: published.created_at,
                entity_id: published.entity_id.as_deref(),
                group_id: &published.group_id,
                event_source: &published.event_source,
            },
        );
        assert_eq!(s.body, expected);
        let (read, _) = store.get_send_out(&project.id, &s.id).await.expect("read");
        assert_eq!(read.body, s.body, "the audit log shows what is sent");
        assert_eq!(read.headers, s.headers);
    }
    let stored = claims
        .iter()
        .find(|c| c.send_out.source_id.as_str() == with_headers.id.as_str())
        .expect("claimed");
    assert_eq!(
        stored.send_out.headers.get("x-shop").map(String::as_str),
        Some("1")
    );
}

/// What lets ingest leave a webhook's request out: for every send out fan-out plans whose
/// request is not stored, the body the store makes again from the event is the very body
/// fan-out built. (If fan-out ever puts something else into an envelope, this fails.)
#[tokio::test]
async fn a_body_left_out_is_the_one_fan_out_planned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let project = shop(&store).await;
    let webhooks = plain_and_with_headers(
        &store,
        &project,
        "https://example.com/hook?a=1&b=\"2\"",
        "*",
    )
    .await;
    let events = [
        event("voucher.published"),
        NewEvent {
            data: raw(r#"{"voucher":{"code":"A-1","tags":["é\u0000",null]},"z":1,"a":0.50}"#),
            entity_id: Some("v_1".into()),
            event_source: raw(r#"{"channel":"API","api_key":{"name":"k"}}"#),
            ..event("customer.rewarded")
        },
    ];
    for event in &events {
        let targets = crate::fanout::Targets {
            webhooks: &webhooks,
            distributions: &[],
        };
        let planned = crate::fanout::plan(
            &project.id,
            event,
            targets,
            Timestamp::now(),
            &Default::default(),
        );
        assert_eq!(planned.len(), 2, "{}", event.event_type);
        let left_out: Vec<_> = planned
            .iter()
            .filter(|s| !crate::rows::request_stored(s))
            .collect();
        assert_eq!(left_out.len(), 1, "only the webhook without headers");
        for s in left_out {
            let rebuilt =
                crate::rows::webhook_body(s, crate::rows::EventParts::of(event)).expect("built");
            assert_eq!(rebuilt.as_deref(), Some(s.body.as_str()));
        }
    }
}

/// Under writes that never pause, the log still starts over once a checkpoint finds it
/// longer than `wal_restart_bytes`, and its file is cut back to that size: it does not grow
/// with everything written. (Without the second pass a commit always lands while the
/// checkpoint copies, so the log never starts over and its file only grows.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_steady_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limit = 1024 * 1024;
    let options = SqliteOptions {
        wal_restart_bytes: limit,
        ..SqliteOptions::default()
    };
    let store = fresh(&dir, options).await;
    let project = shop(&store).await;
    let wal = store.direct.wal().to_owned();
    // One commit of about 50 KB after another with no pause, until the log file is cut
    // back: a checkpoint runs every 200 ms, so that comes long before the last of them.
    let big = raw(&format!(r#"{{"text":"{}"}}"#, "x".repeat(50_000)));
    let log = || std::fs::metadata(&wal).expect("the log").len();
    let mut before = log();
    let mut cut_to = None;
    for _ in 0..3_000 {
        let event = NewEvent {
            data: big.clone(),
            ..event("voucher.published")
        };
        store
            .ingest(&project.id, vec![event])
            .await
            .expect("ingested");
        let now = log();
        if now < before {
            cut_to = Some(now);
            break;
        }
        before = now;
    }
    let cut_to = cut_to.expect("the log started over while the writes went on");
    assert!(
        cut_to <= limit,
        "the log was cut back to {cut_to} bytes, more than {limit}"
    );
}

/// A webhook of `project` for every event type, to a URL of its own.
async fn any_event_webhook(store: &SqliteStore, project: &Project) {
    let fields = WebhookFields {
        target_url: TargetUrl::parse("https://example.com/hook").expect("valid"),
        events: EventFilter::all(),
        active: true,
        headers: BTreeMap::new(),
        public_headers: Default::default(),
        description: None,
    };
    store
        .create_webhook(&project.id, fields)
        .await
        .expect("created");
}

/// The committer takes calls in turns by project (issue 16 item 2): a call of a quiet project
/// that arrives behind a burst of another's is written in the next group, not after the
/// burst. Ordered by counts, not times: it is answered before most of the burst's calls.
#[tokio::test]
async fn a_quiet_projects_ingest_is_not_queued_behind_another_projects_burst() {
    const BURST: usize = 24;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh(&dir, SqliteOptions::default()).await;
    let (loud, quiet) = (shop(&store).await, shop(&store).await);
    for _ in 0..10 {
        any_event_webhook(&store, &loud).await;
    }
    any_event_webhook(&store, &quiet).await;
    // One call first, so the committer knows the loud project's fan-out (10 per event).
    store
        .ingest(&loud.id, vec![event("voucher.published")])
        .await
        .expect("ingested");

    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let (store, project, answered) = (store.clone(), loud.id.clone(), answered.clone());
        burst.spawn(async move {
            let events = (0..500).map(|_| event("voucher.published")).collect();
            store.ingest(&project, events).await.expect("ingested");
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    // The test's runtime has one thread: yielding lets every burst task run until it waits
    // for its answer, so each burst call is handed over before the quiet one.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    store
        .ingest(&quiet.id, vec![event("voucher.published")])
        .await
        .expect("ingested");
    let before_quiet = answered.load(std::sync::atomic::Ordering::SeqCst);
    while burst.join_next().await.is_some() {}
    assert!(
        before_quiet <= BURST / 2,
        "{before_quiet} of the {BURST} burst calls were written before the quiet one"
    );
    assert_eq!(
        count(&store, "send_outs").await,
        10 + (BURST * 500 * 10) as i64 + 1
    );
}
