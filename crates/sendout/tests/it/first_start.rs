//! The first start of several nodes at once on one empty database (issue 6): each node runs
//! the bootstrap on a store of its own (its own connections, as separate processes have), and
//! exactly one default project and one generated management key come out of it, reported by
//! the one node that created them.
//!
//! The PostgreSQL test needs a server (`SENDOUT_TEST_DATABASE_URL`, see
//! `sendout-store/tests/story/pg.rs`); it fails, never skips, without one.

use crate::helpers::pg;

use std::sync::Arc;

use sendout::app::{bootstrap, open_store, FirstStart};
use sendout::config::{Config, Database, Secret};
use sendout_store::{hash_token, Store};

const NODES: usize = 4;

/// Opens `NODES` stores on `config`'s database and bootstraps them all at once.
async fn start_together(config: &Config) -> (Vec<Arc<dyn Store>>, Vec<FirstStart>) {
    let mut stores = Vec::with_capacity(NODES);
    for _ in 0..NODES {
        stores.push(open_store(config).await.expect("the store opens"));
    }
    let (a, b, c, d) = tokio::join!(
        bootstrap(stores[0].as_ref(), config),
        bootstrap(stores[1].as_ref(), config),
        bootstrap(stores[2].as_ref(), config),
        bootstrap(stores[3].as_ref(), config),
    );
    let firsts = [a, b, c, d]
        .into_iter()
        .map(|first| first.expect("the bootstrap succeeds"))
        .collect();
    (stores, firsts)
}

/// One project and one reported key, the reported key being the stored one.
async fn assert_created_once(stores: &[Arc<dyn Store>], firsts: &[FirstStart]) {
    let projects = stores[0].list_projects().await.expect("projects list");
    assert_eq!(projects.len(), 1, "{projects:?}");
    let reported: Vec<_> = firsts.iter().filter_map(|f| f.project.as_ref()).collect();
    assert_eq!(
        reported.len(),
        1,
        "exactly one node reports the default project"
    );
    assert_eq!(reported[0].project.id, projects[0].id);

    let keys: Vec<_> = firsts
        .iter()
        .filter_map(|f| f.management_key.as_ref())
        .collect();
    assert_eq!(keys.len(), 1, "exactly one node reports a generated key");
    let (id, token) = keys[0];
    assert_eq!(
        stores[0].management_key(id).await.expect("key lookup"),
        Some(hash_token(token.expose()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_on_postgres_create_the_default_project_and_key_once() {
    let db = pg::TestDatabase::create().await;
    let mut config = Config::defaults();
    config.database = Database::Postgres(Secret::new(db.url()));
    let (stores, firsts) = start_together(&config).await;
    assert_created_once(&stores, &firsts).await;

    let mut conn = pg::connect_admin(db.url()).await;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM management_keys")
        .fetch_one(&mut conn)
        .await
        .expect("keys counted");
    assert_eq!(keys, 1, "one generated management key is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_on_sqlite_create_the_default_project_and_key_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::defaults();
    config.database = Database::Sqlite(dir.path().join("sendout.db"));
    let (stores, firsts) = start_together(&config).await;
    assert_created_once(&stores, &firsts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_configured_key_is_stored_and_no_key_is_generated() {
    let db = pg::TestDatabase::create().await;
    let mut config = Config::defaults();
    config.database = Database::Postgres(Secret::new(db.url()));
    config.management_id = Some("M-configured".into());
    config.management_token = Some(Secret::new("configured-token-0123456789abcdef"));
    let (stores, firsts) = start_together(&config).await;
    assert!(firsts.iter().all(|f| f.management_key.is_none()));
    assert_eq!(firsts.iter().filter(|f| f.project.is_some()).count(), 1);
    assert_eq!(
        stores[0]
            .management_key("M-configured")
            .await
            .expect("key lookup"),
        Some(hash_token("configured-token-0123456789abcdef"))
    );
    let mut conn = pg::connect_admin(db.url()).await;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM management_keys")
        .fetch_one(&mut conn)
        .await
        .expect("keys counted");
    assert_eq!(keys, 1, "only the configured key is stored");
}
