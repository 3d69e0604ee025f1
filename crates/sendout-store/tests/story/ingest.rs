//! Scenarios about ingest: fan-out, atomic batches, independent concurrent calls, waking
//! workers, and surviving a restart.

use std::collections::BTreeSet;
use std::time::Duration;

use sendout_core::time::Timestamp;
use sendout_store::{SendOutStatus, Store, StoreError};

use crate::harness::*;

pub async fn an_event_fans_out_only_to_active_webhooks_subscribed_to_its_type_or_to_all(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let published = webhook(store, &shop, &["voucher.published"]).await;
    let everything = webhook(store, &shop, &["*"]).await;
    let redemptions = webhook(store, &shop, &["redemption.succeeded"]).await;
    let off = store
        .create_webhook(&shop.id, fields(&["*"], false))
        .await
        .expect("created");
    let other_shop = project(store).await;
    webhook(store, &other_shop, &["*"]).await;

    let outcome = ingest(store, &shop, "voucher.published").await;
    assert_eq!(outcome.send_outs, 2);

    let sent = send_outs(store, &shop).await;
    let targets: BTreeSet<&str> = sent.iter().map(|s| s.source_id.as_str()).collect();
    assert_eq!(
        targets,
        BTreeSet::from([published.id.as_str(), everything.id.as_str()])
    );
    assert!(!targets.contains(redemptions.id.as_str()));
    assert!(!targets.contains(off.id.as_str()));
    for send_out in &sent {
        assert_eq!(send_out.status, SendOutStatus::Pending);
        assert_eq!(send_out.event_id.as_ref(), Some(&outcome.event_id));
        assert_eq!(send_out.attempts, 0);
        assert!(send_out.next_attempt_at.is_some());
        assert!(send_out.body.contains(send_out.id.as_str()));
    }
    assert!(send_outs(store, &other_shop).await.is_empty());

    let nobody_listens = ingest(store, &shop, "campaign.created").await;
    assert_eq!(
        nobody_listens.send_outs, 1,
        "only the webhook of all events"
    );
}

pub async fn a_batch_is_ingested_whole_or_not_at_all(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let first = event("voucher.published");
    let second = event("redemption.succeeded");
    let outcomes = store
        .ingest(&shop.id, vec![first.clone(), second.clone()])
        .await
        .expect("ingested");
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].event_id, first.id);
    assert_eq!(outcomes[1].event_id, second.id);
    assert_eq!(send_outs(store, &shop).await.len(), 2);

    // The second event of this batch repeats an id, so none of the batch is kept.
    let fresh = event("customer.created");
    let result = store.ingest(&shop.id, vec![fresh, first.clone()]).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(send_outs(store, &shop).await.len(), 2);
    assert_eq!(claim_all(store, Timestamp::now()).await.len(), 2);
}

pub async fn one_failing_ingest_does_not_fail_others_made_at_the_same_time(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let stored = event("voucher.published");
    store
        .ingest(&shop.id, vec![stored.clone()])
        .await
        .expect("ingested");

    let nobody = sendout_core::ids::ProjectId::new();
    let (fine, repeated, unknown, also_fine) = tokio::join!(
        store.ingest(&shop.id, vec![event("voucher.published")]),
        store.ingest(&shop.id, vec![event("voucher.published"), stored.clone()]),
        store.ingest(&nobody, vec![event("voucher.published")]),
        store.ingest(&shop.id, vec![event("redemption.succeeded")]),
    );
    assert_eq!(fine.expect("ingested").len(), 1);
    assert!(
        matches!(repeated, Err(StoreError::Conflict(_))),
        "{repeated:?}"
    );
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    assert_eq!(also_fine.expect("ingested").len(), 1);
    assert_eq!(send_outs(store, &shop).await.len(), 3);
}

pub async fn ingest_wakes_a_worker_even_one_that_was_not_waiting_yet(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    let signal = store.work_signal();

    let waiting = tokio::spawn({
        let signal = signal.clone();
        async move { signal.notified().await }
    });
    tokio::task::yield_now().await;
    ingest(store, &shop, "voucher.published").await;
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting worker wakes")
        .expect("the waiter ran");

    // A worker busy elsewhere during the ingest finds the wake-up when it comes to wait.
    ingest(store, &shop, "voucher.published").await;
    tokio::time::timeout(Duration::from_secs(5), signal.notified())
        .await
        .expect("the wake-up was kept");
}

/// A restarted process finds every send out that was not finished, including those a dead
/// worker had claimed, due once their lease runs out.
pub async fn a_store_reopened_from_the_same_place_keeps_pending_send_outs(h: &Harness) {
    let store = h.store();
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    webhook(store, &shop, &["voucher.published"]).await;
    for _ in 0..3 {
        ingest(store, &shop, "voucher.published").await;
    }
    let now = Timestamp::now();
    let claimed = store.claim_due(now, 2, LEASE).await.expect("claimed");
    assert_eq!(claimed.len(), 2);

    let reopened = h.reopen().await;
    let kept = send_outs(reopened.as_ref(), &shop).await;
    assert_eq!(kept.len(), 6);
    assert!(kept.iter().all(|s| s.status == SendOutStatus::Pending));
    assert_eq!(claim_all(reopened.as_ref(), now).await.len(), 4);
    // The dead worker's claims come back when their lease runs out (with the others).
    let after_lease = claim_all(reopened.as_ref(), now.plus_millis(lease_ms() + 1)).await;
    for claim in &claimed {
        assert!(after_lease
            .iter()
            .any(|c| c.send_out.id == claim.send_out.id));
    }
}
