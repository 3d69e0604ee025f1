//! Scenarios about idempotent ingest (issue 17): a key's first ingest is stored with its
//! answer; the same key and fingerprint again replays that answer and makes nothing; another
//! fingerprint is refused and makes nothing; a key past its time is new; events' own keys
//! make each event once across batches; and ingests with one key at the same moment make one
//! event. Every retry here is made of fresh events (new ids, as a retried request parses to).

use std::sync::Arc;

use sendout_core::time::Timestamp;
use sendout_store::fanout::Limits;
use sendout_store::{
    IdempotencyKey, IngestAnswer, IngestKeys, IngestOutcome, KeyedIngest, KeyedOutcome, NewEvent,
    Store,
};

use crate::harness::*;

/// Writes an answer the way a caller might: each part names its event, the whole lists them.
struct Listing;

impl IngestAnswer for Listing {
    fn event(&self, event: &NewEvent, outcome: &IngestOutcome) -> String {
        format!(
            r#"{{"id":"{}","type":"{}","send_outs":{}}}"#,
            outcome.event_id, event.event_type, outcome.send_outs
        )
    }

    fn request(&self, parts: &[&str]) -> String {
        format!("[{}]", parts.join(","))
    }
}

fn key(key: &str, fingerprint: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
    }
}

fn in_a_day() -> Timestamp {
    Timestamp::now().plus_millis(24 * 3600 * 1000)
}

/// Fresh events of `types`, under a request key and events' own keys.
fn keyed(
    types: &[&str],
    request_key: Option<IdempotencyKey>,
    event_keys: Vec<Option<IdempotencyKey>>,
    expires_at: Timestamp,
) -> KeyedIngest {
    KeyedIngest {
        events: types.iter().map(|t| event(t)).collect(),
        keys: IngestKeys {
            request_key,
            event_keys,
            expires_at,
            answer: Arc::new(Listing),
        },
    }
}

async fn ingest_keyed(
    store: &dyn Store,
    project: &sendout_store::Project,
    ingest: KeyedIngest,
) -> KeyedOutcome {
    store
        .ingest_keyed(&project.id, ingest, Limits::default())
        .await
        .expect("the keyed ingest runs")
}

/// The answer's body, whether it replayed, and how many events it made.
fn answered(outcome: KeyedOutcome) -> (String, bool, Vec<IngestOutcome>) {
    match outcome {
        KeyedOutcome::Answered {
            body,
            replayed,
            created,
        } => (body, replayed, created),
        KeyedOutcome::Reused { event } => panic!("refused as a reuse (event {event:?})"),
    }
}

pub async fn a_replayed_key_answers_the_stored_answer_with_the_same_ids_and_makes_nothing(
    store: &dyn Store,
) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let first = keyed(
        &["voucher.published", "redemption.succeeded"],
        Some(key("order-1", "body-a")),
        Vec::new(),
        in_a_day(),
    );
    let first_ids: Vec<String> = first.events.iter().map(|e| e.id.to_string()).collect();
    let (body, replayed, created) = answered(ingest_keyed(store, &shop, first).await);
    assert!(!replayed);
    assert_eq!(created.len(), 2);
    for id in &first_ids {
        assert!(body.contains(id.as_str()), "{body} names {id}");
    }
    assert_eq!(send_outs(store, &shop).await.len(), 2);

    let retry = keyed(
        &["voucher.published", "redemption.succeeded"],
        Some(key("order-1", "body-a")),
        Vec::new(),
        in_a_day(),
    );
    let (again, replayed, created) = answered(ingest_keyed(store, &shop, retry).await);
    assert!(replayed, "the second ingest is a replay");
    assert_eq!(again, body, "byte for byte the first answer");
    assert!(created.is_empty());
    let sent = send_outs(store, &shop).await;
    assert_eq!(sent.len(), 2, "nothing more was made");

    // The key is in the audit log's detail of the event's send outs.
    let (detail, _) = store
        .get_send_out(&shop.id, &sent[0].id)
        .await
        .expect("the send out reads");
    assert_eq!(detail.idempotency_key.as_deref(), Some("order-1"));
    // Another project's key space is its own.
    let other = project(store).await;
    let elsewhere = keyed(
        &["voucher.published"],
        Some(key("order-1", "body-a")),
        Vec::new(),
        in_a_day(),
    );
    let (_, replayed, created) = answered(ingest_keyed(store, &other, elsewhere).await);
    assert!(!replayed);
    assert_eq!(created.len(), 1);
}

pub async fn a_key_used_again_with_another_body_is_refused_and_makes_nothing(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let first = keyed(
        &["voucher.published"],
        Some(key("order-2", "body-a")),
        Vec::new(),
        in_a_day(),
    );
    answered(ingest_keyed(store, &shop, first).await);
    let other_body = keyed(
        &["voucher.published", "customer.created"],
        Some(key("order-2", "body-b")),
        vec![None, Some(key("customer-1", "event-c"))],
        in_a_day(),
    );
    let outcome = ingest_keyed(store, &shop, other_body).await;
    assert_eq!(outcome, KeyedOutcome::Reused { event: None });
    assert_eq!(send_outs(store, &shop).await.len(), 1, "nothing was made");
    // The refused request's event key was not kept: it is new to the next request.
    let with_that_event_key = keyed(
        &["customer.created"],
        None,
        vec![Some(key("customer-1", "event-other"))],
        in_a_day(),
    );
    let (_, _, created) = answered(ingest_keyed(store, &shop, with_that_event_key).await);
    assert_eq!(created.len(), 1);
}

pub async fn a_key_past_its_time_is_new_again(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let gone = Timestamp::now().plus_millis(-1);
    let first = keyed(
        &["voucher.published"],
        Some(key("order-3", "body-a")),
        vec![Some(key("event-3", "event-a"))],
        gone,
    );
    answered(ingest_keyed(store, &shop, first).await);
    // Past its time, the key is new whatever the body: a new event, stored with a new time.
    let later = keyed(
        &["voucher.published"],
        Some(key("order-3", "body-b")),
        vec![Some(key("event-3", "event-b"))],
        in_a_day(),
    );
    let (_, replayed, created) = answered(ingest_keyed(store, &shop, later).await);
    assert!(!replayed);
    assert_eq!(created.len(), 1);
    assert_eq!(send_outs(store, &shop).await.len(), 2);
    // Retention deletes keys past their time and keeps the others.
    store
        .prune(Timestamp::from_millis(0))
        .await
        .expect("pruned");
    let retry = keyed(
        &["voucher.published"],
        Some(key("order-3", "body-b")),
        vec![Some(key("event-3", "event-b"))],
        in_a_day(),
    );
    let (_, replayed, _) = answered(ingest_keyed(store, &shop, retry).await);
    assert!(replayed, "a key within its time survives retention");
}

pub async fn events_own_keys_make_each_event_once_across_batches(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let first = keyed(
        &["voucher.published", "customer.created"],
        None,
        vec![Some(key("ev-a", "a")), Some(key("ev-b", "b"))],
        in_a_day(),
    );
    let (body, _, created) = answered(ingest_keyed(store, &shop, first).await);
    assert_eq!(created.len(), 2);
    let part_a = body
        .trim_start_matches('[')
        .split("},")
        .next()
        .expect("a first part")
        .to_owned();

    // A partly acknowledged batch sent again with one event more: only that one is new, and
    // the one sent before answers its first part.
    let again = keyed(
        &[
            "voucher.published",
            "campaign.created",
            "redemption.succeeded",
        ],
        None,
        vec![Some(key("ev-a", "a")), Some(key("ev-c", "c")), None],
        in_a_day(),
    );
    let new_ids: Vec<String> = again.events[1..].iter().map(|e| e.id.to_string()).collect();
    let (body, replayed, created) = answered(ingest_keyed(store, &shop, again).await);
    assert!(
        !replayed,
        "a request without a key of its own is never a replay"
    );
    assert_eq!(created.len(), 2);
    assert_eq!(
        created
            .iter()
            .map(|o| o.event_id.to_string())
            .collect::<Vec<_>>(),
        new_ids
    );
    assert!(
        body.starts_with(&format!("[{part_a}")),
        "{body} starts with {part_a}"
    );
    assert_eq!(send_outs(store, &shop).await.len(), 4);

    // An event key used with another event refuses the whole batch.
    let reused = keyed(
        &["customer.created", "voucher.published"],
        None,
        vec![Some(key("ev-d", "d")), Some(key("ev-b", "not-b"))],
        in_a_day(),
    );
    let outcome = ingest_keyed(store, &shop, reused).await;
    assert_eq!(outcome, KeyedOutcome::Reused { event: Some(1) });
    assert_eq!(send_outs(store, &shop).await.len(), 4, "nothing was made");
}

pub async fn ingests_with_one_key_at_the_same_moment_make_one_event(store: &dyn Store) {
    const AT_ONCE: usize = 8;
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let calls = (0..AT_ONCE).map(|_| {
        let ingest = keyed(
            &["voucher.published"],
            Some(key("order-4", "body-a")),
            vec![Some(key("event-4", "event-a"))],
            in_a_day(),
        );
        store.ingest_keyed(&shop.id, ingest, Limits::default())
    });
    let outcomes = futures::future::join_all(calls).await;
    let answers: Vec<(String, bool, Vec<IngestOutcome>)> = outcomes
        .into_iter()
        .map(|o| answered(o.expect("every ingest is answered")))
        .collect();
    let first: Vec<_> = answers
        .iter()
        .filter(|(_, replayed, _)| !replayed)
        .collect();
    assert_eq!(first.len(), 1, "exactly one is processed");
    assert_eq!(first[0].2.len(), 1);
    for (body, _, created) in &answers {
        assert_eq!(body, &first[0].0, "the others replay it");
        assert!(created.len() <= 1);
    }
    assert_eq!(
        send_outs(store, &shop).await.len(),
        1,
        "one event, one send out"
    );
}
