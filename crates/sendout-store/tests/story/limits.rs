//! Scenarios about the limits that keep one tenant from multiplying the work of a request:
//! fan-out counted before anything is written, channel payloads bounded when they are made,
//! and quotas on what a project holds.

use sendout_core::distribution::DistributionStatus;
use sendout_core::time::Timestamp;
use sendout_store::fanout::{Limits, TooManySendOuts};
use sendout_store::{SendOutStatus, Store, StoreError};
use serde_json::json;

use crate::distributions::{event_with, order_data, order_paid, spec_with};
use crate::harness::*;

fn limits(per_event: usize, per_request: usize) -> Limits {
    Limits {
        send_outs_per_event: per_event,
        send_outs_per_request: per_request,
        ..Limits::default()
    }
}

pub async fn an_ingest_that_would_make_too_many_send_outs_stores_nothing(store: &dyn Store) {
    let shop = project(store).await;
    for _ in 0..3 {
        webhook(store, &shop, &["*"]).await;
    }

    let one = store
        .ingest_within(&shop.id, vec![event("voucher.published")], limits(2, 100))
        .await;
    match one {
        Err(StoreError::TooManySendOuts(TooManySendOuts::PerEvent { count, limit, .. })) => {
            assert_eq!((count, limit), (3, 2));
        }
        other => panic!("expected the per-event limit, got {other:?}"),
    }
    let batch = vec![event("voucher.published"), event("redemption.succeeded")];
    let two = store.ingest_within(&shop.id, batch, limits(3, 5)).await;
    match two {
        Err(StoreError::TooManySendOuts(TooManySendOuts::PerRequest { count, limit })) => {
            assert_eq!((count, limit), (6, 5));
        }
        other => panic!("expected the per-request limit, got {other:?}"),
    }
    assert!(
        send_outs(store, &shop).await.is_empty(),
        "a refused call writes nothing"
    );

    // A refused call made together with an accepted one (one group commit on SQLite) fails
    // alone.
    let refused = store.ingest_within(&shop.id, vec![event("voucher.published")], limits(2, 100));
    let accepted = store.ingest_within(&shop.id, vec![event("voucher.published")], limits(3, 3));
    let (refused, accepted) = tokio::join!(refused, accepted);
    assert!(matches!(refused, Err(StoreError::TooManySendOuts(_))));
    assert_eq!(accepted.expect("within its limits")[0].send_outs, 3);
    assert_eq!(send_outs(store, &shop).await.len(), 3);
}

pub async fn a_channel_whose_payload_is_too_long_fails_at_once_and_the_rest_is_sent(
    store: &dyn Store,
) {
    let shop = project(store).await;
    // The custom channel repeats the customer's name: about 1 KB for the order's data; the
    // full-mode channel sends the data itself, about 120 bytes.
    let template = format!("[{}]", vec!["\"{{customer.name}}\""; 60].join(","));
    let spec = spec_with("customer.order.paid", json!({}), &template);
    store
        .create_distribution(&shop.id, spec, DistributionStatus::Live)
        .await
        .expect("created");
    let bound = Limits {
        rendered_payload_bytes: 300,
        ..Limits::default()
    };

    let event = event_with("customer.order.paid", order_data());
    let outcomes = store
        .ingest_within(&shop.id, vec![event], bound)
        .await
        .expect("one bad channel does not stop the event");
    assert_eq!(outcomes[0].send_outs, 2);

    let mut made = send_outs(store, &shop).await;
    made.sort_by_key(|s| s.channel);
    let (designed, full) = (&made[0], &made[1]);
    assert_eq!(designed.status, SendOutStatus::Failed);
    assert_eq!(designed.attempts, 0);
    assert_eq!(designed.next_attempt_at, None);
    assert!(designed.body.is_empty(), "nothing of the payload is kept");
    assert!(!designed.is_sendable());
    let reason = designed.failure_reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("300 bytes") && reason.contains("max_rendered_payload_bytes"),
        "{reason}"
    );
    assert_eq!(full.status, SendOutStatus::Pending);
    assert!(full.is_sendable());

    let claims = claim_all(store, Timestamp::now()).await;
    let claimed: Vec<_> = claims.iter().map(|c| &c.send_out.id).collect();
    assert_eq!(claimed, vec![&full.id], "only the sendable one is due");

    // Within the default bound the same design is made and sent.
    let event = event_with("customer.order.paid", order_data());
    let event_id = event.id.clone();
    store.ingest(&shop.id, vec![event]).await.expect("ingested");
    let fresh: Vec<_> = send_outs(store, &shop)
        .await
        .into_iter()
        .filter(|s| s.event_id.as_ref() == Some(&event_id))
        .collect();
    assert_eq!(fresh.len(), 2);
    assert!(fresh
        .iter()
        .all(|s| s.status == SendOutStatus::Pending && s.is_sendable()));
}

pub async fn a_project_gets_no_more_webhooks_or_distributions_than_its_quota(store: &dyn Store) {
    let shop = project(store).await;
    let other = project(store).await;
    for _ in 0..2 {
        store
            .create_webhook_within(&shop.id, fields(&["*"], true), 2)
            .await
            .expect("within the quota");
    }
    let third = store
        .create_webhook_within(&shop.id, fields(&["*"], true), 2)
        .await;
    match third {
        Err(StoreError::QuotaExceeded { what, limit }) => {
            assert_eq!((what, limit), ("webhooks", 2));
        }
        other => panic!("expected the quota, got {other:?}"),
    }
    assert_eq!(
        store.list_webhooks(&shop.id).await.expect("listed").len(),
        2
    );
    store
        .create_webhook_within(&other.id, fields(&["*"], true), 2)
        .await
        .expect("another project has its own quota");

    let live = DistributionStatus::Live;
    store
        .create_distribution_within(&shop.id, order_paid(), live, 1)
        .await
        .expect("within the quota");
    let second = store
        .create_distribution_within(&shop.id, order_paid(), live, 1)
        .await;
    assert!(
        matches!(
            second,
            Err(StoreError::QuotaExceeded {
                what: "distributions",
                limit: 1
            })
        ),
        "{second:?}"
    );
    assert_eq!(
        store
            .list_distributions(&shop.id)
            .await
            .expect("listed")
            .len(),
        1
    );
}
