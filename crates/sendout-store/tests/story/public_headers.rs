//! Scenarios about which custom headers a target marks public (issue 16 item 7): a webhook's
//! `public_headers` is stored, read and replaced with it; a distribution channel's is kept in
//! its spec; and the audit log's batch lookup finds what each send out's target marks now,
//! and nothing for a target that is gone.

use sendout_core::distribution::{DistributionInput, DistributionStatus};
use sendout_core::input::PublicHeaders;
use sendout_store::{SourceId, Store};
use serde_json::json;

use crate::distributions::{distribution, event_with, ingest_one, order_data};
use crate::harness::*;

fn public(names: &[&str]) -> PublicHeaders {
    PublicHeaders::parse(names).expect("valid header names")
}

pub async fn a_webhooks_public_headers_are_stored_read_and_replaced(store: &dyn Store) {
    let shop = project(store).await;
    let mut marked = fields(&["voucher.published"], true);
    marked
        .headers
        .insert("x-tenant".to_owned(), "acme".to_owned());
    marked.public_headers = public(&["x-tenant"]);
    let created = store
        .create_webhook(&shop.id, marked.clone())
        .await
        .expect("created");
    assert_eq!(created.public_headers, public(&["x-tenant"]));
    let read = store
        .get_webhook(&shop.id, &created.id)
        .await
        .expect("read");
    assert_eq!(read.public_headers, public(&["x-tenant"]));
    let listed = store.list_webhooks(&shop.id).await.expect("listed");
    assert_eq!(listed[0].public_headers, public(&["x-tenant"]));

    marked.public_headers = public(&["x-tenant", "x-shop-key"]);
    let replaced = store
        .update_webhook(&shop.id, &created.id, marked.clone())
        .await
        .expect("replaced");
    assert_eq!(replaced.public_headers, public(&["x-shop-key", "x-tenant"]));
    marked.public_headers = PublicHeaders::default();
    let cleared = store
        .update_webhook(&shop.id, &created.id, marked)
        .await
        .expect("replaced");
    assert!(cleared.public_headers.is_empty());
    let plain = webhook(store, &shop, &["*"]).await;
    assert!(plain.public_headers.is_empty(), "none unless marked");
}

pub async fn the_audit_log_finds_what_each_target_marks_now_and_nothing_once_it_is_gone(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let mut marked = fields(&["voucher.published"], true);
    marked.public_headers = public(&["x-shop-key"]);
    let hook = store
        .create_webhook(&shop.id, marked)
        .await
        .expect("created");
    let plain = webhook(store, &shop, &["voucher.published"]).await;
    let input = json!({
        "name": "Paid to CRM",
        "trigger": {"event": "customer.order.paid"},
        "action": "SEND_PLAIN_MESSAGE",
        "channels": [
            {"event_name": "Order-paid", "url": "https://crm.example/hooks",
             "headers": {"x-crm-key": "abc", "x-tenant": "acme"},
             "public_headers": ["x-tenant"]},
            {"event_name": "Order-paid", "url": "https://warehouse.example/in",
             "headers": {"x-tenant": "acme"}},
        ],
    });
    let spec = serde_json::from_value::<DistributionInput>(input)
        .expect("the input has the right shape")
        .parse()
        .expect("a valid distribution");
    let paid = distribution(store, &shop, spec, DistributionStatus::Live).await;
    assert_eq!(
        store
            .get_distribution(&shop.id, &paid.id)
            .await
            .expect("read")
            .spec
            .channels()[0]
            .public_headers(),
        &public(&["x-tenant"])
    );
    ingest(store, &shop, "voucher.published").await;
    ingest_one(
        store,
        &shop,
        event_with("customer.order.paid", order_data()),
    )
    .await;
    let logged = send_outs(store, &shop).await;
    assert_eq!(logged.len(), 4, "two webhooks and two channels");

    let sets = store
        .public_headers(&shop.id, &logged)
        .await
        .expect("looked up");
    for send_out in &logged {
        let expected = match (&send_out.source_id, send_out.channel) {
            (SourceId::Webhook(id), _) if *id == hook.id => public(&["x-shop-key"]),
            (SourceId::Webhook(id), _) if *id == plain.id => PublicHeaders::default(),
            (SourceId::Distribution(_), Some(0)) => public(&["x-tenant"]),
            (SourceId::Distribution(_), Some(1)) => PublicHeaders::default(),
            other => panic!("an unexpected send out {other:?}"),
        };
        assert_eq!(sets.of(send_out), Some(&expected), "{}", send_out.id);
    }

    // Another project's ids find nothing.
    let other = project(store).await;
    let foreign = store
        .public_headers(&other.id, &logged)
        .await
        .expect("looked up");
    assert!(logged.iter().all(|s| foreign.of(s).is_none()));

    store
        .delete_webhook(&shop.id, &hook.id)
        .await
        .expect("deleted");
    store
        .delete_distribution(&shop.id, &paid.id)
        .await
        .expect("deleted");
    let after = store
        .public_headers(&shop.id, &logged)
        .await
        .expect("looked up");
    for send_out in &logged {
        let gone = send_out.source_id != SourceId::Webhook(plain.id.clone());
        assert_eq!(after.of(send_out).is_none(), gone, "{}", send_out.id);
    }
}
