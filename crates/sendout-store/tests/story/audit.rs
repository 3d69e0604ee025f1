//! Scenarios about the audit log (listing, detail, the dashboard's numbers) and retention.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sendout_core::ids::SendOutId;
use sendout_core::time::Timestamp;
use sendout_store::{Claim, Lease, Next, SendOut, SendOutFilter, SendOutStatus, Store, StoreError};

use crate::harness::*;

const DAY_MS: i64 = 86_400_000;

async fn list(
    store: &dyn Store,
    shop: &sendout_store::Project,
    filter: SendOutFilter,
) -> Vec<SendOut> {
    store
        .list_send_outs(&shop.id, &filter, None, 100)
        .await
        .expect("listed")
        .items
}

pub async fn the_audit_log_lists_newest_first_with_filters_and_pages(store: &dyn Store) {
    let shop = project(store).await;
    let published = webhook(store, &shop, &["voucher.published"]).await;
    let everything = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let redemption = ingest(store, &shop, "redemption.succeeded").await;
    ingest(store, &shop, "voucher.published").await;

    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    assert_eq!(claims.len(), 5);
    let mut completions = Vec::new();
    let mut released = Vec::new();
    let mut succeeded_one = false;
    for claim in &claims {
        if claim.send_out.event_id.as_ref() == Some(&redemption.event_id) {
            let give_up = Next::Failed {
                reason: "gave up".to_owned(),
                disable_target: false,
            };
            completions.push(completion(claim, 500, give_up, now));
        } else if !succeeded_one && claim.send_out.source_id.as_str() == published.id.as_str() {
            succeeded_one = true;
            completions.push(completion(claim, 200, Next::Succeeded, now));
        } else {
            released.push(claim.lease());
        }
    }
    complete(store, completions).await;
    store.release(&released).await.expect("released");

    // A test send out made "yesterday" (its id is still the newest).
    let yesterday = now.plus_millis(-DAY_MS);
    let test = store
        .insert_send_out(test_send_out(&shop, &published, yesterday), LEASE)
        .await
        .expect("inserted");
    complete(store, vec![completion(&test, 200, Next::Succeeded, now)]).await;

    let all = store
        .list_send_outs(&shop.id, &SendOutFilter::default(), None, 100)
        .await
        .expect("listed");
    assert_eq!(all.items.len(), 6);
    assert_eq!(all.total, Some(6));
    assert!(!all.has_more);
    let ids: Vec<&SendOutId> = all.items.iter().map(|s| &s.id).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first);
    assert_eq!(all.items[0].id, test.send_out.id);

    let shop_ref = &shop;
    let count = |filter: SendOutFilter| async move { list(store, shop_ref, filter).await.len() };
    let by_status = |status| SendOutFilter {
        status: Some(status),
        ..SendOutFilter::default()
    };
    assert_eq!(count(by_status(SendOutStatus::Failed)).await, 1);
    assert_eq!(count(by_status(SendOutStatus::Succeeded)).await, 2);
    assert_eq!(count(by_status(SendOutStatus::Pending)).await, 3);
    assert_eq!(count(by_status(SendOutStatus::Retrying)).await, 0);
    let by_source = |source: &str| SendOutFilter {
        source_id: Some(source.to_owned()),
        ..SendOutFilter::default()
    };
    assert_eq!(count(by_source(published.id.as_str())).await, 3);
    assert_eq!(count(by_source(everything.id.as_str())).await, 3);
    let by_type = SendOutFilter {
        event_type: Some("redemption.succeeded".to_owned()),
        ..SendOutFilter::default()
    };
    assert_eq!(count(by_type).await, 1);
    let by_target = SendOutFilter {
        target_url: Some(everything.target_url.to_string()),
        ..SendOutFilter::default()
    };
    assert_eq!(count(by_target).await, 3);
    let tests_only = SendOutFilter {
        is_test: Some(true),
        ..SendOutFilter::default()
    };
    assert_eq!(count(tests_only).await, 1);
    let hour_ago = now.plus_millis(-3_600_000);
    let older = SendOutFilter {
        created_before: Some(hour_ago),
        ..SendOutFilter::default()
    };
    assert_eq!(count(older).await, 1);
    let newer = SendOutFilter {
        created_after: Some(hour_ago),
        is_test: Some(false),
        ..SendOutFilter::default()
    };
    assert_eq!(count(newer).await, 5);
    let failed_of_everything = SendOutFilter {
        status: Some(SendOutStatus::Failed),
        source_id: Some(everything.id.to_string()),
        ..SendOutFilter::default()
    };
    assert_eq!(count(failed_of_everything).await, 1);

    // Pages of two walk the same list, each knowing whether another follows.
    let mut walked = Vec::new();
    let mut after: Option<SendOutId> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_send_outs(&shop.id, &SendOutFilter::default(), after.as_ref(), 2)
            .await
            .expect("listed");
        pages += 1;
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.total, Some(6));
        walked.extend(page.items.iter().map(|s| s.id.clone()));
        after = page.items.last().map(|s| s.id.clone());
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked.iter().collect::<Vec<_>>(), ids);

    let filtered = by_source(everything.id.as_str());
    let first = store
        .list_send_outs(&shop.id, &filtered, None, 2)
        .await
        .expect("listed");
    assert!(first.has_more);
    assert_eq!(first.total, Some(3));
    let second = store
        .list_send_outs(&shop.id, &filtered, first.items.last().map(|s| &s.id), 2)
        .await
        .expect("listed");
    assert_eq!(second.items.len(), 1);
    assert!(!second.has_more);
}

pub async fn get_send_out_returns_its_attempts_in_order(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let mut now = Timestamp::now();
    let mut id = None;
    for (status, next) in [
        (500, Next::RetryAt(now.plus_millis(60_000))),
        (503, Next::RetryAt(now.plus_millis(180_000))),
        (200, Next::Succeeded),
    ] {
        let claims = claim_all(store, now).await;
        assert_eq!(claims.len(), 1, "due at {now}");
        id = Some(claims[0].send_out.id.clone());
        let retry_at = match &next {
            Next::RetryAt(at) => Some(*at),
            _ => None,
        };
        complete(store, vec![completion(&claims[0], status, next, now)]).await;
        now = retry_at.unwrap_or(now);
    }
    let id = id.expect("claimed");
    let (send_out, attempts) = store.get_send_out(&shop.id, &id).await.expect("read");
    assert_eq!(send_out.attempts, 3);
    assert_eq!(send_out.status, SendOutStatus::Succeeded);
    let numbers: Vec<u32> = attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.response_status).collect();
    assert_eq!(statuses, vec![Some(500), Some(503), Some(200)]);
    assert!(attempts.iter().all(|a| a.send_out_id == id));
    assert_eq!(attempts[2].response_body.as_deref(), Some("answer 200"));
    assert_eq!(send_out.last_attempt_at, Some(attempts[2].started_at));
}

pub async fn prune_deletes_finished_send_outs_older_than_the_cutoff_only(store: &dyn Store) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["voucher.published"]).await;
    ingest(store, &shop, "voucher.published").await;
    ingest(store, &shop, "voucher.published").await;
    ingest(store, &shop, "campaign.created").await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    assert_eq!(claims.len(), 2);
    let (finished, open) = (&claims[0], &claims[1]);
    complete(
        store,
        vec![
            completion(finished, 200, Next::Succeeded, now),
            completion(open, 500, Next::RetryAt(now.plus_millis(DAY_MS)), now),
        ],
    )
    .await;
    let cutoff = Timestamp::now().plus_millis(1);
    let recent = store
        .insert_send_out(
            test_send_out(&shop, &hook, cutoff.plus_millis(3_600_000)),
            LEASE,
        )
        .await
        .expect("inserted");
    complete(store, vec![completion(&recent, 200, Next::Succeeded, now)]).await;

    assert_eq!(store.prune(cutoff).await.expect("pruned"), 1);
    assert!(matches!(
        store.get_send_out(&shop.id, &finished.send_out.id).await,
        Err(StoreError::NotFound)
    ));
    let (kept_open, attempts) = store
        .get_send_out(&shop.id, &open.send_out.id)
        .await
        .expect("an open send out is kept");
    assert_eq!(attempts.len(), 1);
    assert_eq!(kept_open.status, SendOutStatus::Retrying);
    assert_eq!(
        status_of(store, &shop, &recent.send_out.id).await,
        SendOutStatus::Succeeded
    );
    assert_eq!(store.prune(cutoff).await.expect("pruned"), 0);
    assert_eq!(send_outs(store, &shop).await.len(), 2);
}

pub async fn the_dashboard_counts_send_outs_by_status_and_time_and_knows_each_webhooks_last_status(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let first = webhook(store, &shop, &["*"]).await;
    let second = webhook(store, &shop, &["*"]).await;
    let silent = webhook(store, &shop, &["campaign.created"]).await;
    let now = Timestamp::now();
    // A test send out of two days ago, so older than everything else here.
    let old = store
        .insert_send_out(
            test_send_out(&shop, &first, now.plus_millis(-2 * DAY_MS)),
            LEASE,
        )
        .await
        .expect("inserted");
    store.release(&[old.lease()]).await.expect("released");
    ingest(store, &shop, "voucher.published").await;
    ingest(store, &shop, "voucher.published").await;
    let claims = claim_all(store, Timestamp::now()).await;
    assert_eq!(claims.len(), 5, "with the released test send out");
    let of = |hook: &sendout_store::Webhook| -> Vec<&sendout_store::Claim> {
        let mut found: Vec<_> = claims
            .iter()
            .filter(|c| c.send_out.source_id.as_str() == hook.id.as_str() && !c.send_out.is_test)
            .collect();
        found.sort_by_key(|c| c.send_out.id.clone());
        found
    };
    let give_up = Next::Failed {
        reason: "gave up".to_owned(),
        disable_target: false,
    };
    // The first webhook's older send out succeeded and its newer one failed; the second
    // webhook's are still pending.
    complete(
        store,
        vec![
            completion(of(&first)[0], 200, Next::Succeeded, now),
            completion(of(&first)[1], 500, give_up, now),
        ],
    )
    .await;
    let pending: Vec<Lease> = claims
        .iter()
        .filter(|c| c.send_out.source_id.as_str() != first.id.as_str() || c.send_out.is_test)
        .map(Claim::lease)
        .collect();
    store.release(&pending).await.expect("released");

    let last = store.last_status_by_source(&shop.id).await.expect("read");
    let last: BTreeMap<String, SendOutStatus> = last.into_iter().collect();
    assert_eq!(last.get(first.id.as_str()), Some(&SendOutStatus::Failed));
    assert_eq!(last.get(second.id.as_str()), Some(&SendOutStatus::Pending));
    assert_eq!(last.get(silent.id.as_str()), None);

    let hour = Duration::from_secs(3600);
    let buckets = store
        .send_out_histogram(&shop.id, now.plus_millis(-DAY_MS), hour)
        .await
        .expect("counted");
    let mut totals: HashMap<SendOutStatus, u64> = HashMap::new();
    for bucket in &buckets {
        assert_eq!(bucket.bucket_start.as_millis() % 3_600_000, 0);
        assert!(bucket.bucket_start.as_millis() > now.as_millis() - DAY_MS - 3_600_000);
        *totals.entry(bucket.status).or_default() += bucket.count;
    }
    let expected = HashMap::from([
        (SendOutStatus::Pending, 2),
        (SendOutStatus::Succeeded, 1),
        (SendOutStatus::Failed, 1),
    ]);
    assert_eq!(totals, expected);

    let everything = store
        .send_out_histogram(&shop.id, Timestamp::from_millis(0), hour)
        .await
        .expect("counted");
    let total: u64 = everything.iter().map(|b| b.count).sum();
    assert_eq!(total, 5);
}
