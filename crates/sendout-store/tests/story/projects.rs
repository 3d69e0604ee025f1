//! Scenarios about tenants and their configuration: management keys, projects, webhooks,
//! secrets, and the wall between projects.

use std::time::Duration;

use sendout_core::ids::{ProjectId, SendOutId, WebhookId};
use sendout_core::time::Timestamp;
use sendout_store::{
    CalloutNotification, CalloutNotifications, Next, ProjectUpdate, SendOutFilter, SourceId, Store,
    StoreError, WebhookFields,
};

use crate::harness::*;

pub async fn management_keys_are_stored_hashed_and_replaced_by_id(store: &dyn Store) {
    assert!(!store.has_management_keys().await.expect("readable"));
    assert_eq!(store.management_key("mk_1").await.expect("readable"), None);
    store
        .put_management_key("mk_1", "hash-1")
        .await
        .expect("stored");
    store
        .put_management_key("mk_1", "hash-2")
        .await
        .expect("replaced");
    assert!(store.has_management_keys().await.expect("readable"));
    assert_eq!(
        store.management_key("mk_1").await.expect("readable"),
        Some("hash-2".to_owned())
    );
}

pub async fn projects_are_created_read_updated_listed_found_by_app_id_and_deleted(
    store: &dyn Store,
) {
    let new = new_project("Shop");
    let created = store.create_project(new.clone()).await.expect("created");
    assert_eq!(created.id, new.id);
    assert_eq!(created.name, "Shop");
    assert_eq!(created.webhook_token, new.webhook_token);
    assert_eq!(created.app_token_hash, new.app_token_hash);
    assert_eq!(created.previous_webhook_token, None);
    assert_eq!(store.get_project(&new.id).await.expect("read"), created);

    let by_app = store
        .project_by_app_id(&new.app_id)
        .await
        .expect("looked up");
    assert_eq!(by_app.as_ref().map(|p| &p.id), Some(&new.id));
    assert_eq!(
        store
            .project_by_app_id("app_nobody")
            .await
            .expect("looked up"),
        None
    );

    let mut same_app = new_project("Copycat");
    same_app.app_id = new.app_id.clone();
    assert!(matches!(
        store.create_project(same_app).await,
        Err(StoreError::Conflict(_))
    ));

    let other = store
        .create_project(new_project("Other"))
        .await
        .expect("created");
    let listed: Vec<ProjectId> = store
        .list_projects()
        .await
        .expect("listed")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, vec![created.id.clone(), other.id.clone()]);

    let updated = store
        .update_project(
            &created.id,
            ProjectUpdate {
                name: Some("Shop EU".to_owned()),
                description: Some(None),
                ..ProjectUpdate::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!(updated.name, "Shop EU");
    assert_eq!(updated.description, None);
    assert_eq!(updated.timezone, "Europe/Warsaw", "unnamed fields are kept");
    assert_eq!(store.get_project(&created.id).await.expect("read"), updated);
    assert_eq!(
        updated.callout_notifications,
        CalloutNotifications::default()
    );

    // Callout notifications are stored whole and read back as written.
    let told = CalloutNotifications {
        webhooks: CalloutNotification {
            email: true,
            emails: vec!["ops@example.com".to_owned(), "crm@example.com".to_owned()],
            in_app: false,
        },
        distributions: CalloutNotification::default(),
    };
    let notified = store
        .update_project(
            &created.id,
            ProjectUpdate {
                callout_notifications: Some(told.clone()),
                ..ProjectUpdate::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!(notified.callout_notifications, told);
    assert_eq!(notified.name, "Shop EU", "unnamed fields are kept");
    let read = store.get_project(&created.id).await.expect("read");
    assert_eq!(read.callout_notifications, told);
    let mut with_notices = new_project("Told");
    with_notices.callout_notifications = told.clone();
    let made = store.create_project(with_notices).await.expect("created");
    assert_eq!(
        store
            .get_project(&made.id)
            .await
            .expect("read")
            .callout_notifications,
        told
    );

    store.delete_project(&created.id).await.expect("deleted");
    assert!(matches!(
        store.get_project(&created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_project(&created.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .project_by_app_id(&new.app_id)
            .await
            .expect("looked up"),
        None
    );
}

pub async fn deleting_a_project_takes_its_webhooks_events_and_send_outs_with_it(store: &dyn Store) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let sent = send_outs(store, &shop).await;
    assert_eq!(sent.len(), 1);

    store.delete_project(&shop.id).await.expect("deleted");
    assert!(claim_all(store, Timestamp::now()).await.is_empty());
    assert_eq!(store.next_due_at().await.expect("readable"), None);
    assert!(matches!(
        store.get_webhook(&shop.id, &hook.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_send_out(&shop.id, &sent[0].id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn webhooks_are_created_read_replaced_listed_and_deleted(store: &dyn Store) {
    let shop = project(store).await;
    let created = store
        .create_webhook(&shop.id, fields(&["voucher.published"], true))
        .await
        .expect("created");
    assert_eq!(created.project_id, shop.id);
    assert_eq!(
        created.events.event_types(),
        ["voucher.published"].as_slice()
    );
    assert!(created.active);
    assert_eq!(
        created.headers.get("x-shop-key").map(String::as_str),
        Some("k1")
    );
    assert_eq!(created.disabled_reason, None);
    assert_eq!(
        store
            .get_webhook(&shop.id, &created.id)
            .await
            .expect("read"),
        created
    );

    let mut replacement = fields(&["*"], false);
    replacement.headers.clear();
    replacement.description = None;
    let replaced = store
        .update_webhook(&shop.id, &created.id, replacement.clone())
        .await
        .expect("replaced");
    assert_eq!(replaced.id, created.id);
    assert!(replaced.events.is_all());
    assert_eq!(replaced.target_url, replacement.target_url);
    assert!(!replaced.active);
    assert!(replaced.headers.is_empty());
    assert_eq!(replaced.description, None);
    assert_eq!(replaced.created_at, created.created_at);

    let second = webhook(store, &shop, &["redemption.succeeded"]).await;
    let listed: Vec<WebhookId> = store
        .list_webhooks(&shop.id)
        .await
        .expect("listed")
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, vec![created.id.clone(), second.id.clone()]);

    store
        .delete_webhook(&shop.id, &created.id)
        .await
        .expect("deleted");
    assert!(matches!(
        store.get_webhook(&shop.id, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_webhook(&shop.id, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.list_webhooks(&shop.id).await.expect("listed").len(),
        1
    );
}

pub async fn a_reactivated_webhook_loses_its_disabled_reason(store: &dyn Store) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    let gone = Next::Failed {
        reason: "the receiver answered 410 Gone".to_owned(),
        disable_target: true,
    };
    complete(store, vec![completion(&claims[0], 410, gone, now)]).await;

    let disabled = store.get_webhook(&shop.id, &hook.id).await.expect("read");
    assert!(!disabled.active);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("the receiver answered 410 Gone")
    );
    assert_eq!(disabled.disabled_at, Some(now));

    // Saving it while still off keeps the reason; turning it on forgets it.
    let mut still_off = fields(&["*"], false);
    still_off.target_url = hook.target_url.clone();
    let kept = store
        .update_webhook(&shop.id, &hook.id, still_off.clone())
        .await
        .expect("updated");
    assert_eq!(kept.disabled_reason, disabled.disabled_reason);

    let back_on = WebhookFields {
        active: true,
        ..still_off
    };
    let enabled = store
        .update_webhook(&shop.id, &hook.id, back_on)
        .await
        .expect("updated");
    assert!(enabled.active);
    assert_eq!(enabled.disabled_reason, None);
    assert_eq!(enabled.disabled_at, None);
}

pub async fn another_projects_ids_are_not_found(store: &dyn Store) {
    let mine = project(store).await;
    let theirs = project(store).await;
    let hook = webhook(store, &mine, &["*"]).await;
    ingest(store, &mine, "voucher.published").await;
    let sent = send_outs(store, &mine).await;
    let now = Timestamp::now();

    let not_found = |result: Result<(), StoreError>| matches!(result, Err(StoreError::NotFound));
    assert!(not_found(
        store.get_webhook(&theirs.id, &hook.id).await.map(drop)
    ));
    assert!(not_found(
        store
            .update_webhook(&theirs.id, &hook.id, fields(&["*"], false))
            .await
            .map(drop)
    ));
    assert!(not_found(store.delete_webhook(&theirs.id, &hook.id).await));
    assert!(not_found(
        store.get_send_out(&theirs.id, &sent[0].id).await.map(drop)
    ));
    assert!(not_found(
        store
            .claim_one(&theirs.id, &sent[0].id, now, LEASE)
            .await
            .map(drop)
    ));
    assert!(store
        .list_webhooks(&theirs.id)
        .await
        .expect("listed")
        .is_empty());
    assert!(send_outs(store, &theirs).await.is_empty());
    assert_eq!(
        store
            .requeue_failed(
                &theirs.id,
                &SourceId::Webhook(hook.id.clone()),
                Timestamp::from_millis(0),
                now,
            )
            .await
            .expect("nothing to requeue"),
        0
    );
    // Their own webhook is untouched by all of that.
    assert!(
        store
            .get_webhook(&mine.id, &hook.id)
            .await
            .expect("read")
            .active
    );

    let nobody = ProjectId::new();
    assert!(not_found(store.list_webhooks(&nobody).await.map(drop)));
    assert!(not_found(
        store
            .create_webhook(&nobody, fields(&["*"], true))
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .ingest(&nobody, vec![event("voucher.published")])
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .list_send_outs(&nobody, &SendOutFilter::default(), None, 10)
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .send_out_histogram(&nobody, now, Duration::from_secs(60))
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .requeue_failed(&nobody, &SourceId::Webhook(WebhookId::new()), now, now)
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .claim_one(&nobody, &SendOutId::new(), now, LEASE)
            .await
            .map(drop)
    ));
    assert!(not_found(store.get_project(&nobody).await.map(drop)));
    assert!(not_found(
        store
            .rotate_webhook_token(&nobody, "new", now)
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .update_project(&nobody, ProjectUpdate::default())
            .await
            .map(drop)
    ));
}

pub async fn rotation_keeps_the_previous_secret_within_the_grace_period_only(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let grace_until = now.plus_millis(3_600_000);
    let rotated = store
        .rotate_webhook_token(&shop.id, "the-new-secret", grace_until)
        .await
        .expect("rotated");
    assert_eq!(rotated.webhook_token, "the-new-secret");
    assert_eq!(
        rotated.previous_webhook_token.as_deref(),
        Some(shop.webhook_token.as_str())
    );
    assert_eq!(rotated.previous_token_expires_at, Some(grace_until));

    let during = claim_all(store, now).await;
    assert_eq!(during.len(), 1);
    assert_eq!(during[0].secrets.current, "the-new-secret");
    assert_eq!(
        during[0].secrets.previous.as_deref(),
        Some(shop.webhook_token.as_str())
    );

    store.release(&[during[0].lease()]).await.expect("released");
    let after = claim_all(store, grace_until.plus_millis(1)).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].secrets.current, "the-new-secret");
    assert_eq!(after[0].secrets.previous, None);
}
