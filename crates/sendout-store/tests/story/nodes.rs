//! What only the shared store can show: several nodes (stores) on one database. The story
//! suite (`main.rs`) runs every generic scenario on PostgreSQL too; these are the ones that
//! need two stores at once, a server to misbehave, or rows written behind the store's back.
//! Each test has a database of its own (`story/pg.rs`) and fails, never skips, without a
//! server.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sendout_core::distribution::{DistributionInput, DistributionStatus};
use sendout_core::ids::{ProjectId, SendOutId};
use sendout_core::time::Timestamp;
use sendout_store::postgres::{
    PostgresOptions, PostgresStore, LISTENER_APPLICATION_NAME, WORK_CHANNEL,
};
use sendout_store::prelude::*;
use sendout_store::Store;
use sqlx::{Connection, PgConnection};

use crate::harness::{event, project, webhook, LEASE};
use crate::pg;

/// How long a test waits for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(10);

async fn node(database: &pg::TestDatabase) -> PostgresStore {
    let options = PostgresOptions {
        pool_size: 3,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::open_with(database.url(), options)
        .await
        .expect("the store opens");
    store.migrate().await.expect("migrations apply");
    store
}

/// Waits until the node's listener has started `sessions` times, then takes the wake-up that
/// start gave, so the next wake-up the test sees has another cause.
async fn listening(store: &PostgresStore, sessions: u64) {
    let mut listening = store.listening();
    tokio::time::timeout(PROMPTLY, listening.wait_for(|n| *n >= sessions))
        .await
        .expect("the listener listens")
        .expect("the listener task runs");
    tokio::time::timeout(PROMPTLY, store.work_signal().notified())
        .await
        .expect("starting to listen wakes the workers");
}

#[tokio::test]
async fn work_ingested_on_one_node_wakes_the_workers_of_another() {
    let database = pg::TestDatabase::create().await;
    let (first, second) = (node(&database).await, node(&database).await);
    listening(&second, 1).await;
    let shop = project(&first).await;
    webhook(&first, &shop, &["*"]).await;

    let woken = second.work_signal();
    let wake = woken.notified();
    tokio::pin!(wake);
    wake.as_mut().enable();
    first
        .ingest(&shop.id, vec![event("voucher.published")])
        .await
        .expect("ingested");
    tokio::time::timeout(PROMPTLY, wake)
        .await
        .expect("the other node hears of the new work");
    assert_eq!(
        second
            .claim_due(Timestamp::now(), 10, LEASE)
            .await
            .expect("claimed")
            .len(),
        1,
        "and finds it"
    );
}

#[tokio::test]
async fn nodes_claiming_at_once_never_hold_the_same_send_out() {
    let database = pg::TestDatabase::create().await;
    let nodes = [node(&database).await, node(&database).await];
    let shop = project(&nodes[0]).await;
    for _ in 0..4 {
        webhook(&nodes[0], &shop, &["*"]).await;
    }
    let events = (0..150).map(|_| event("voucher.published")).collect();
    let outcomes = nodes[0].ingest(&shop.id, events).await.expect("ingested");
    let made: u32 = outcomes.iter().map(|o| o.send_outs).sum();
    assert_eq!(made, 600);

    // Eight workers, four per node, claim small batches until nothing is left.
    let now = Timestamp::now();
    let mut workers = tokio::task::JoinSet::new();
    for index in 0..8 {
        let store: Arc<dyn Store> = Arc::new(nodes[index % 2].clone());
        workers.spawn(async move {
            let mut held: Vec<SendOutId> = Vec::new();
            loop {
                let claims = store.claim_due(now, 7, LEASE).await.expect("claimed");
                if claims.is_empty() {
                    return held;
                }
                held.extend(claims.into_iter().map(|c| c.send_out.id));
            }
        });
    }
    let mut all: Vec<SendOutId> = Vec::new();
    while let Some(held) = workers.join_next().await {
        all.extend(held.expect("a worker ran"));
    }
    let distinct: HashSet<&SendOutId> = all.iter().collect();
    assert_eq!(all.len(), 600, "every send out was claimed exactly once");
    assert_eq!(distinct.len(), 600);
}

#[tokio::test]
async fn nodes_draining_the_mail_outbox_at_once_never_send_the_same_mail() {
    let database = pg::TestDatabase::create().await;
    let nodes = [node(&database).await, node(&database).await];
    let shop = project(&nodes[0]).await;
    let mut told = sendout_store::CalloutNotifications::default();
    told.webhooks.email = true;
    told.webhooks.emails = vec!["ops@example.com".into()];
    nodes[0]
        .update_project(
            &shop.id,
            sendout_store::ProjectUpdate {
                callout_notifications: Some(told),
                ..Default::default()
            },
        )
        .await
        .expect("the settings are saved");
    for _ in 0..30 {
        webhook(&nodes[0], &shop, &["*"]).await;
    }
    nodes[0]
        .ingest(&shop.id, vec![event("voucher.published")])
        .await
        .expect("ingested");
    // Every webhook given up on: thirty disabled, thirty mails in the outbox.
    let now = Timestamp::now();
    let claims = nodes[0].claim_due(now, 100, LEASE).await.expect("claimed");
    assert_eq!(claims.len(), 30);
    let give_up = sendout_store::Next::Failed {
        reason: "gone".into(),
        disable_target: true,
    };
    let completions = claims
        .iter()
        .map(|c| crate::harness::completion(c, 410, give_up.clone(), now))
        .collect();
    nodes[0].complete(completions).await.expect("completed");

    let mut senders = tokio::task::JoinSet::new();
    for index in 0..6 {
        let store: Arc<dyn Store> = Arc::new(nodes[index % 2].clone());
        senders.spawn(async move {
            let mut held: Vec<i64> = Vec::new();
            loop {
                let claims = store
                    .claim_mails(Timestamp::now(), 3, LEASE)
                    .await
                    .expect("claimed");
                if claims.is_empty() {
                    return held;
                }
                held.extend(claims.into_iter().map(|c| c.notice.id));
            }
        });
    }
    let mut all: Vec<i64> = Vec::new();
    while let Some(held) = senders.join_next().await {
        all.extend(held.expect("a sender ran"));
    }
    let distinct: HashSet<&i64> = all.iter().collect();
    assert_eq!(all.len(), 30, "every mail was claimed exactly once");
    assert_eq!(distinct.len(), 30);
}

#[tokio::test]
async fn the_listener_listens_again_after_its_connection_is_killed() {
    let database = pg::TestDatabase::create().await;
    let store = node(&database).await;
    listening(&store, 1).await;
    let mut admin = PgConnection::connect(database.url())
        .await
        .expect("a connection of the test's own");

    // What an operator's pg_terminate_backend, or a failover, does to the listener.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(&mut admin)
    .await
    .expect("terminated");
    assert_eq!(killed, vec![true], "one listener connection");
    listening(&store, 2).await;

    let woken = store.work_signal();
    let wake = woken.notified();
    tokio::pin!(wake);
    wake.as_mut().enable();
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WORK_CHANNEL)
        .execute(&mut admin)
        .await
        .expect("notified");
    tokio::time::timeout(PROMPTLY, wake)
        .await
        .expect("a notification after the reconnection wakes the workers");
}

/// A live distribution on `trigger` with no condition and one full-payload channel.
async fn live_distribution(store: &PostgresStore, project: &ProjectId, trigger: &str) -> String {
    let input = serde_json::json!({
        "name": format!("On {trigger}"),
        "trigger": {"event": trigger},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [{"event_name": "Sent", "url": "https://crm.example/hooks"}],
    });
    let spec = serde_json::from_value::<DistributionInput>(input)
        .expect("the input's shape")
        .parse()
        .expect("a valid distribution");
    let made = store
        .create_distribution(project, spec, DistributionStatus::Live)
        .await
        .expect("created");
    made.id.to_string()
}

#[tokio::test]
async fn a_live_distribution_whose_spec_no_longer_parses_does_not_stop_ingest() {
    let database = pg::TestDatabase::create().await;
    let store = node(&database).await;
    let shop = project(&store).await;
    let broken = live_distribution(&store, &shop.id, "customer.order.paid").await;
    let sound = live_distribution(&store, &shop.id, "customer.order.paid").await;
    live_distribution(&store, &shop.id, "customer.segment.entered").await;
    let mut admin = PgConnection::connect(database.url())
        .await
        .expect("a connection of the test's own");
    sqlx::query("UPDATE distributions SET spec = '{\"name\": \"cut short' WHERE id = $1")
        .bind(&broken)
        .execute(&mut admin)
        .await
        .expect("the spec is broken");

    let batch = vec![
        event("customer.order.paid"),
        event("customer.segment.entered"),
    ];
    let outcomes = store.ingest(&shop.id, batch).await.expect("ingested");
    let counts: Vec<u32> = outcomes.iter().map(|o| o.send_outs).collect();
    assert_eq!(
        counts,
        [1, 1],
        "the broken distribution alone sends nothing"
    );
    let sources: Vec<String> = sqlx::query_scalar(
        "SELECT source_id FROM send_outs WHERE event_type = 'customer.order.paid'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("read");
    assert_eq!(sources, [sound]);
}

#[tokio::test]
async fn an_unreachable_database_is_a_database_error_at_open() {
    // Port 1 on loopback: nothing listens there.
    let options = PostgresOptions {
        pool_size: 1,
        acquire_timeout: Duration::from_secs(2),
    };
    let opened = PostgresStore::open_with("postgres://postgres@127.0.0.1:1/none", options).await;
    match opened {
        Err(sendout_store::StoreError::Database(message)) => assert!(!message.is_empty()),
        other => panic!("expected a database error, got {other:?}"),
    }
    let invalid = PostgresStore::open("mysql://nope").await;
    assert!(
        matches!(&invalid, Err(sendout_store::StoreError::Database(m)) if m.contains("URL")),
        "{invalid:?}"
    );
}
