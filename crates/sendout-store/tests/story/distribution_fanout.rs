//! Scenarios about distributions at work: fan-out to their channels, and how delivery sees
//! them (only live ones are sent) and pauses them (giving up on a channel).

use sendout_core::distribution::DistributionStatus;
use sendout_core::time::Timestamp;
use sendout_store::{Claim, Next, SourceId, Store};
use serde_json::{json, Value};

use crate::distributions::{
    distribution, event_with, ingest_one, order_data, order_paid, spec, spec_with,
};
use crate::harness::*;

pub async fn an_event_fans_out_once_per_channel_of_every_live_matching_distribution(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let live = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    distribution(store, &shop, order_paid(), DistributionStatus::Draft).await;
    distribution(store, &shop, order_paid(), DistributionStatus::Paused).await;
    let other = project(store).await;
    distribution(store, &other, order_paid(), DistributionStatus::Live).await;
    // A project-settings webhook for all events never gets a distribution-only trigger.
    webhook(store, &shop, &["*"]).await;

    let event = event_with("customer.order.paid", order_data());
    let event_id = event.id.clone();
    assert_eq!(ingest_one(store, &shop, event).await, 2);
    let mut made = send_outs(store, &shop).await;
    made.sort_by_key(|s| s.channel);
    assert_eq!(made.len(), 2);
    for (index, send_out) in made.iter().enumerate() {
        assert_eq!(send_out.source_id, SourceId::Distribution(live.id.clone()));
        assert_eq!(send_out.channel, Some(u32::try_from(index).expect("small")));
        assert_eq!(send_out.event_type, "customer.order.paid");
        assert_eq!(send_out.event_id.as_ref(), Some(&event_id));
    }
    let (designed, raw_full) = (&made[0], &made[1]);
    assert_eq!(designed.envelope_type, "Order-paid");
    assert_eq!(designed.target_url, "https://crm.example/hooks");
    assert_eq!(
        designed.headers.get("x-crm-key").map(String::as_str),
        Some("abc")
    );
    let body: Value = serde_json::from_str(&designed.body).expect("JSON");
    assert_eq!(body["id"], designed.id.as_str());
    assert_eq!(body["type"], "Order-paid");
    assert_eq!(
        body["data"],
        json!({"customer": "Alex \"A\" Doe", "total": 4198})
    );
    assert_eq!(
        body["source"],
        json!({"id": live.id.as_str(), "object": "distribution", "target_url": "https://crm.example/hooks"})
    );
    assert_eq!(body["event"]["type"], "customer.order.paid");
    assert_eq!(body["event"]["id"], event_id.as_str());

    assert_eq!(raw_full.envelope_type, "order.paid.raw");
    assert!(raw_full.headers.is_empty());
    assert_eq!(
        serde_json::from_str::<Value>(&raw_full.body).expect("JSON"),
        order_data(),
        "raw payload in full mode: the event's data is the whole body"
    );
}

pub async fn a_type_in_both_channels_reaches_webhooks_and_distributions(store: &dyn Store) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["customer.rewarded"]).await;
    let rewarded = spec("customer.rewarded", json!({}));
    let made = distribution(store, &shop, rewarded, DistributionStatus::Live).await;
    assert_eq!(
        ingest_one(store, &shop, event_with("customer.rewarded", order_data())).await,
        3
    );
    let sources: Vec<String> = send_outs(store, &shop)
        .await
        .into_iter()
        .map(|s| s.source_id.to_string())
        .collect();
    assert_eq!(
        sources.iter().filter(|s| **s == hook.id.as_str()).count(),
        1
    );
    assert_eq!(
        sources.iter().filter(|s| **s == made.id.as_str()).count(),
        2
    );
}

pub async fn a_condition_narrows_the_events_that_fan_out(store: &dyn Store) {
    let shop = project(store).await;
    let narrowed = spec(
        "customer.rewarded.loyalty_points",
        json!({"campaign_id": "camp_1"}),
    );
    distribution(store, &shop, narrowed, DistributionStatus::Live).await;
    let matching = event_with("customer.rewarded.loyalty_points", order_data());
    assert_eq!(ingest_one(store, &shop, matching).await, 2);
    let mut other = order_data();
    other["campaign"]["id"] = json!("camp_2");
    let not_matching = event_with("customer.rewarded.loyalty_points", other);
    assert_eq!(ingest_one(store, &shop, not_matching).await, 0);
    let wrong_type = event_with("customer.order.paid", order_data());
    assert_eq!(ingest_one(store, &shop, wrong_type).await, 0);
}

/// PRODUCT §6's "Order paid to CRM": an order trigger narrowed by `campaign_id`, in one batch
/// with events of other types (which load no distribution of their own type here).
pub async fn a_batch_reaches_only_distributions_of_its_types_and_campaigns(store: &dyn Store) {
    let shop = project(store).await;
    let autumn = spec_with(
        "customer.order.paid",
        json!({"campaign_id": "camp_autumn"}),
        "{\"customer\":\"{{customer.name}}\",\"total\":{{order.total_amount}}}",
    );
    let made = distribution(store, &shop, autumn, DistributionStatus::Live).await;
    let on_segment = spec("customer.segment.entered", json!({}));
    distribution(store, &shop, on_segment, DistributionStatus::Live).await;
    let order_of = |event_type: &str, campaign: &str| {
        let mut data = order_data();
        data["campaign"]["id"] = json!(campaign);
        event_with(event_type, data)
    };
    let batch = vec![
        order_of("customer.order.paid", "camp_spring"),
        order_of("customer.order.paid", "camp_autumn"),
        order_of("customer.order.created", "camp_autumn"),
        event_with("voucher.published", order_data()),
    ];
    let outcomes = store.ingest(&shop.id, batch).await.expect("ingested");
    let counts: Vec<u32> = outcomes.iter().map(|o| o.send_outs).collect();
    assert_eq!(counts, [0, 2, 0, 0]);
    let made_by = send_outs(store, &shop).await;
    assert_eq!(made_by.len(), 2);
    for send_out in &made_by {
        assert_eq!(send_out.source_id, SourceId::Distribution(made.id.clone()));
        assert_eq!(send_out.event_id.as_ref(), Some(&outcomes[1].event_id));
    }
}

pub async fn a_distributions_send_outs_are_sent_only_while_it_is_live(store: &dyn Store) {
    let shop = project(store).await;
    let made = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    let gone = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    ingest_one(
        store,
        &shop,
        event_with("customer.order.paid", order_data()),
    )
    .await;
    let claims = claim_all(store, Timestamp::now()).await;
    assert_eq!(claims.len(), 4);
    assert!(claims.iter().all(|c| c.target_active));
    let leases: Vec<_> = claims.iter().map(Claim::lease).collect();
    store.release(&leases).await.expect("released");

    store
        .set_distribution_status(&shop.id, &made.id, DistributionStatus::Paused, None)
        .await
        .expect("paused");
    store
        .delete_distribution(&shop.id, &gone.id)
        .await
        .expect("deleted");
    let claims = claim_all(store, Timestamp::now()).await;
    assert_eq!(claims.len(), 4);
    assert!(
        claims.iter().all(|c| !c.target_active),
        "paused or deleted: inactive"
    );
    let leases: Vec<_> = claims.iter().map(Claim::lease).collect();
    store.release(&leases).await.expect("released");

    store
        .set_distribution_status(&shop.id, &made.id, DistributionStatus::Live, None)
        .await
        .expect("live again");
    let claims = claim_all(store, Timestamp::now()).await;
    let active: Vec<bool> = claims
        .iter()
        .filter(|c| c.send_out.source_id.as_str() == made.id.as_str())
        .map(|c| c.target_active)
        .collect();
    assert_eq!(active, vec![true, true]);
}

pub async fn giving_up_on_a_channel_pauses_its_distribution_with_the_reason(store: &dyn Store) {
    let shop = project(store).await;
    let made = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    ingest_one(
        store,
        &shop,
        event_with("customer.order.paid", order_data()),
    )
    .await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    let give_up = |disable_target| Next::Failed {
        reason: "no 2xx after 12 attempts".to_owned(),
        disable_target,
    };
    complete(
        store,
        vec![completion(&claims[0], 500, give_up(false), now)],
    )
    .await;
    let still = store
        .get_distribution(&shop.id, &made.id)
        .await
        .expect("read");
    assert_eq!(still.status, DistributionStatus::Live, "not asked to pause");

    complete(store, vec![completion(&claims[1], 500, give_up(true), now)]).await;
    let paused = store
        .get_distribution(&shop.id, &made.id)
        .await
        .expect("read");
    assert_eq!(paused.status, DistributionStatus::Paused);
    assert_eq!(
        paused.paused_reason.as_deref(),
        Some("no 2xx after 12 attempts")
    );
    assert_eq!(paused.paused_at, Some(now));
    assert_eq!(
        ingest_one(
            store,
            &shop,
            event_with("customer.order.paid", order_data())
        )
        .await,
        0
    );

    let live = store
        .set_distribution_status(&shop.id, &made.id, DistributionStatus::Live, None)
        .await
        .expect("live again");
    assert_eq!(live.paused_reason, None);
    assert_eq!(
        ingest_one(
            store,
            &shop,
            event_with("customer.order.paid", order_data())
        )
        .await,
        2
    );
}
