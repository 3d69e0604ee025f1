//! Scenarios about keeping distributions and their status rule; fan-out and delivery are in
//! `distribution_fanout.rs`. The helpers here make specs and events for both.

use sendout_core::distribution::{DistributionInput, DistributionSpec, DistributionStatus};
use sendout_core::ids::{DistributionId, EventId, GroupId};
use sendout_core::time::Timestamp;
use sendout_store::{Distribution, NewEvent, Project, Store, StoreError};
use serde_json::{json, Value};

use crate::harness::*;

/// A checked spec of a distribution on `trigger` with two channels: a custom template inside
/// the envelope, and the full data as a raw payload.
pub fn spec(trigger: &str, condition: Value) -> DistributionSpec {
    spec_with(trigger, condition, "{\"customer\":\"{{customer.name}}\"}")
}

/// [`spec`] with the first channel's template.
pub fn spec_with(trigger: &str, condition: Value, template: &str) -> DistributionSpec {
    let input = json!({
        "name": "Order paid to CRM",
        "trigger": {"event": trigger, "condition": condition},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [
            {"event_name": "Order-paid", "url": "https://crm.example/hooks",
             "headers": {"x-crm-key": "abc"},
             "payload": {"mode": "custom", "template": template}},
            {"event_name": "order.paid.raw", "url": "https://warehouse.example/in",
             "payload": {"mode": "full", "raw": true}},
        ],
    });
    serde_json::from_value::<DistributionInput>(input)
        .expect("the input has the right shape")
        .parse()
        .unwrap_or_else(|e| panic!("a valid distribution: {e}"))
}

pub fn order_paid() -> DistributionSpec {
    spec_with(
        "customer.order.paid",
        json!({}),
        "{\"customer\":\"{{customer.name}}\",\"total\":{{order.total_amount}}}",
    )
}

pub async fn distribution(
    store: &dyn Store,
    project: &Project,
    spec: DistributionSpec,
    status: DistributionStatus,
) -> Distribution {
    store
        .create_distribution(&project.id, spec, status)
        .await
        .expect("the distribution is created")
}

pub fn event_with(event_type: &str, data: Value) -> NewEvent {
    NewEvent {
        id: EventId::new(event_type),
        event_type: event_type.to_owned(),
        data: raw(&data.to_string()),
        entity_id: Some("cust_1".to_owned()),
        group_id: GroupId::new(),
        event_source: raw(r#"{"channel":"API"}"#),
        created_at: Timestamp::now(),
    }
}

pub fn order_data() -> Value {
    json!({"customer": {"name": "Alex \"A\" Doe"}, "order": {"id": "ord_1", "total_amount": 4198},
           "campaign": {"id": "camp_1"}})
}

pub async fn ingest_one(store: &dyn Store, project: &Project, event: NewEvent) -> u32 {
    store
        .ingest(&project.id, vec![event])
        .await
        .expect("ingested")[0]
        .send_outs
}

pub async fn distributions_are_created_read_replaced_listed_and_deleted(store: &dyn Store) {
    let shop = project(store).await;
    let created = distribution(store, &shop, order_paid(), DistributionStatus::Draft).await;
    assert_eq!(created.project_id, shop.id);
    assert_eq!(created.spec, order_paid());
    assert_eq!(created.status, DistributionStatus::Draft);
    assert_eq!(
        (created.paused_reason.as_ref(), created.paused_at),
        (None, None)
    );
    assert_eq!(
        store
            .get_distribution(&shop.id, &created.id)
            .await
            .expect("read"),
        created
    );

    let replaced_spec = spec(
        "customer.rewarded.loyalty_points",
        json!({"campaign_id": "camp_9"}),
    );
    let replaced = store
        .update_distribution(&shop.id, &created.id, replaced_spec.clone(), None)
        .await
        .expect("replaced");
    assert_eq!(replaced.spec, replaced_spec);
    assert_eq!(
        replaced.status,
        DistributionStatus::Draft,
        "no status: kept"
    );
    assert_eq!(replaced.created_at, created.created_at);
    let live = store
        .update_distribution(
            &shop.id,
            &created.id,
            replaced_spec,
            Some(DistributionStatus::Live),
        )
        .await
        .expect("replaced");
    assert_eq!(live.status, DistributionStatus::Live);

    let second = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    let listed = store.list_distributions(&shop.id).await.expect("listed");
    assert_eq!(listed, vec![live, second.clone()]);

    store
        .delete_distribution(&shop.id, &created.id)
        .await
        .expect("deleted");
    assert!(matches!(
        store.get_distribution(&shop.id, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_distribution(&shop.id, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.list_distributions(&shop.id).await.expect("listed"),
        vec![second]
    );
    store.delete_project(&shop.id).await.expect("deleted");
    assert!(matches!(
        store.list_distributions(&shop.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn pausing_records_why_and_when_and_setting_live_forgets_both(store: &dyn Store) {
    let shop = project(store).await;
    let made = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    let set = |status, reason: Option<&str>| {
        store.set_distribution_status(&shop.id, &made.id, status, reason.map(str::to_owned))
    };
    let paused = set(DistributionStatus::Paused, Some("retries exhausted"))
        .await
        .expect("set");
    assert_eq!(paused.status, DistributionStatus::Paused);
    assert_eq!(paused.paused_reason.as_deref(), Some("retries exhausted"));
    let paused_at = paused.paused_at.expect("a pause time");

    let again = set(DistributionStatus::Paused, None).await.expect("set");
    assert_eq!(
        again.paused_reason.as_deref(),
        Some("retries exhausted"),
        "the first reason stays"
    );
    assert_eq!(again.paused_at, Some(paused_at));
    let edited = store
        .update_distribution(&shop.id, &made.id, order_paid(), None)
        .await
        .expect("replaced");
    assert_eq!(edited.status, DistributionStatus::Paused);
    assert_eq!(edited.paused_reason.as_deref(), Some("retries exhausted"));

    let live = set(DistributionStatus::Live, None).await.expect("set");
    assert_eq!(
        (live.status, live.paused_reason, live.paused_at),
        (DistributionStatus::Live, None, None)
    );

    let by_hand = set(DistributionStatus::Paused, None).await.expect("set");
    assert_eq!(by_hand.paused_reason, None);
    assert!(by_hand.paused_at.is_some());
    let created_paused = distribution(store, &shop, order_paid(), DistributionStatus::Paused).await;
    assert!(created_paused.paused_at.is_some());
    assert_eq!(created_paused.paused_reason, None);
}

pub async fn another_projects_distributions_are_not_found(store: &dyn Store) {
    let shop = project(store).await;
    let other = project(store).await;
    let theirs = distribution(store, &other, order_paid(), DistributionStatus::Live).await;
    let not_found = |r: Result<Distribution, StoreError>| matches!(r, Err(StoreError::NotFound));
    assert!(not_found(
        store.get_distribution(&shop.id, &theirs.id).await
    ));
    assert!(not_found(
        store
            .update_distribution(&shop.id, &theirs.id, order_paid(), None)
            .await
    ));
    assert!(not_found(
        store
            .set_distribution_status(&shop.id, &theirs.id, DistributionStatus::Paused, None)
            .await
    ));
    assert!(matches!(
        store.delete_distribution(&shop.id, &theirs.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(not_found(
        store
            .get_distribution(&shop.id, &DistributionId::new())
            .await
    ));
    assert!(store
        .list_distributions(&shop.id)
        .await
        .expect("listed")
        .is_empty());
    assert_eq!(
        store
            .get_distribution(&other.id, &theirs.id)
            .await
            .expect("theirs"),
        theirs
    );
}
