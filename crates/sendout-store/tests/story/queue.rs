//! Scenarios about the queue: claims and leases, writing attempts back, retries.

use std::collections::BTreeSet;
use std::time::Duration;

use sendout_core::time::Timestamp;
use sendout_store::{Claim, Completion, Next, Project, SendOutStatus, SourceId, Store, Webhook};

use crate::harness::*;

pub async fn a_claimed_send_out_is_not_claimed_again_while_its_lease_lasts(store: &dyn Store) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();

    let first = claim_all(store, now).await;
    assert_eq!(first.len(), 1);
    let claim = &first[0];
    assert_eq!(claim.send_out.source_id, SourceId::Webhook(hook.id.clone()));
    assert_eq!(claim.send_out.target_url, hook.target_url.as_str());
    assert_eq!(claim.send_out.headers, hook.headers);
    assert_eq!(claim.secrets.current, shop.webhook_token);
    assert!(claim.target_active);

    assert!(claim_all(store, now).await.is_empty());
    assert!(claim_all(store, now.plus_millis(lease_ms() - 1))
        .await
        .is_empty());
    let due = store.next_due_at().await.expect("readable");
    assert!(
        due.is_some_and(|at| at >= now.plus_millis(lease_ms())),
        "a leased send out is not due before its lease ends: {due:?}"
    );
}

pub async fn an_expired_lease_makes_the_send_out_claimable_again(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let first = claim_all(store, now).await;
    assert_eq!(first.len(), 1);

    // The worker died; once the lease runs out another one gets the same send out.
    let later = now.plus_millis(lease_ms() + 1);
    let again = claim_all(store, later).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].send_out.id, first[0].send_out.id);
    assert!(claim_all(store, later).await.is_empty());
}

pub async fn claims_come_earliest_due_first_and_at_most_the_limit(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    for _ in 0..5 {
        ingest(store, &shop, "voucher.published").await;
    }
    let now = Timestamp::now();
    let claims = store.claim_due(now, 3, LEASE).await.expect("claimed");
    assert_eq!(claims.len(), 3);
    let rest = store.claim_due(now, 3, LEASE).await.expect("claimed");
    assert_eq!(rest.len(), 2);
    let all: BTreeSet<_> = claims.iter().chain(&rest).map(|c| &c.send_out.id).collect();
    assert_eq!(all.len(), 5);
    assert!(store
        .claim_due(now, 0, LEASE)
        .await
        .expect("claimed")
        .is_empty());
}

/// A backlog of one project, older than anything another project has due, does not take a
/// claim whole: each project with due work gets its part, and what one leaves over goes to
/// the other; a project the worker asks to skip gets nothing.
pub async fn a_claim_is_shared_between_projects_whatever_their_backlogs(store: &dyn Store) {
    let busy = project(store).await;
    webhook(store, &busy, &["*"]).await;
    let events: Vec<_> = (0..300).map(|_| event("voucher.published")).collect();
    store.ingest(&busy.id, events).await.expect("ingested");
    let quiet = project(store).await;
    webhook(store, &quiet, &["*"]).await;
    for _ in 0..3 {
        ingest(store, &quiet, "voucher.published").await;
    }
    let now = Timestamp::now().plus_millis(1);
    let of = |claims: &[Claim], project: &Project| {
        claims
            .iter()
            .filter(|c| c.send_out.project_id == project.id)
            .count()
    };

    let claims = store.claim_due(now, 10, LEASE).await.expect("claimed");
    assert_eq!(claims.len(), 10);
    assert_eq!(
        of(&claims, &quiet),
        3,
        "the quiet project's due are all claimed"
    );
    assert_eq!(
        of(&claims, &busy),
        7,
        "what it left over goes to the backlog"
    );
    // Oldest due first within the busy project.
    let mut due: Vec<_> = claims
        .iter()
        .filter(|c| c.send_out.project_id == busy.id)
        .map(|c| c.send_out.next_attempt_at)
        .collect();
    let sorted = {
        let mut d = due.clone();
        d.sort();
        d
    };
    assert_eq!(due, sorted);
    due.clear();

    let quiet_again = ingest(store, &quiet, "voucher.published").await;
    assert_eq!(quiet_again.send_outs, 1);
    let later = Timestamp::now().plus_millis(1);
    let claims = store.claim_due(later, 4, LEASE).await.expect("claimed");
    assert_eq!((of(&claims, &quiet), of(&claims, &busy)), (1, 3));

    let skip = std::collections::HashSet::from([busy.id.clone()]);
    let more = ingest(store, &quiet, "voucher.published").await;
    assert_eq!(more.send_outs, 1);
    let later = Timestamp::now().plus_millis(1);
    let claims = store
        .claim_due_except(later, 50, LEASE, &skip)
        .await
        .expect("claimed");
    assert_eq!((of(&claims, &quiet), of(&claims, &busy)), (1, 0));
    let rest = claim_all(store, later).await;
    assert_eq!(
        of(&rest, &busy),
        300 - 10,
        "every other send out is still due"
    );
}

pub async fn a_successful_attempt_completes_the_send_out(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    complete(
        store,
        vec![completion(&claims[0], 200, Next::Succeeded, now)],
    )
    .await;

    let (send_out, attempts) = store
        .get_send_out(&shop.id, &claims[0].send_out.id)
        .await
        .expect("read");
    assert_eq!(send_out.status, SendOutStatus::Succeeded);
    assert_eq!(send_out.attempts, 1);
    assert_eq!(send_out.last_attempt_at, Some(now));
    assert_eq!(send_out.next_attempt_at, None);
    assert_eq!(send_out.failure_reason, None);
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].number, 1);
    assert_eq!(attempts[0].response_status, Some(200));
    assert!(attempts[0].succeeded);
    assert_eq!(store.next_due_at().await.expect("readable"), None);
    assert!(claim_all(store, now.plus_millis(86_400_000))
        .await
        .is_empty());
}

pub async fn a_failed_attempt_makes_the_send_out_retry_at_the_time_given(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    let retry_at = now.plus_millis(60_000);
    complete(
        store,
        vec![completion(&claims[0], 500, Next::RetryAt(retry_at), now)],
    )
    .await;

    let (send_out, attempts) = store
        .get_send_out(&shop.id, &claims[0].send_out.id)
        .await
        .expect("read");
    assert_eq!(send_out.status, SendOutStatus::Retrying);
    assert_eq!(send_out.next_attempt_at, Some(retry_at));
    assert_eq!(send_out.attempts, 1);
    assert_eq!(attempts.len(), 1);
    assert!(!attempts[0].succeeded);
    assert_eq!(store.next_due_at().await.expect("readable"), Some(retry_at));

    assert!(claim_all(store, retry_at.plus_millis(-1)).await.is_empty());
    let retried = claim_all(store, retry_at).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].send_out.attempts, 1);
    assert_eq!(
        retried[0].send_out.body, claims[0].send_out.body,
        "same body"
    );
}

pub async fn giving_up_fails_the_send_out_and_disables_its_webhook_when_asked(store: &dyn Store) {
    let shop = project(store).await;
    let kept = webhook(store, &shop, &["voucher.published"]).await;
    let disabled = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    let of = |hook: &sendout_store::Webhook| {
        claims
            .iter()
            .find(|c| c.send_out.source_id.as_str() == hook.id.as_str())
            .expect("a claim per webhook")
            .clone()
    };
    let give_up = |disable_target| Next::Failed {
        reason: "no 2xx after 12 attempts".to_owned(),
        disable_target,
    };
    complete(
        store,
        vec![
            completion(&of(&kept), 500, give_up(false), now),
            completion(&of(&disabled), 500, give_up(true), now),
        ],
    )
    .await;

    for claim in &claims {
        let (send_out, _) = store
            .get_send_out(&shop.id, &claim.send_out.id)
            .await
            .expect("read");
        assert_eq!(send_out.status, SendOutStatus::Failed);
        assert_eq!(send_out.next_attempt_at, None);
        assert_eq!(
            send_out.failure_reason.as_deref(),
            Some("no 2xx after 12 attempts")
        );
    }
    assert!(
        store
            .get_webhook(&shop.id, &kept.id)
            .await
            .expect("read")
            .active
    );
    let off = store
        .get_webhook(&shop.id, &disabled.id)
        .await
        .expect("read");
    assert!(!off.active);
    assert_eq!(
        off.disabled_reason.as_deref(),
        Some("no 2xx after 12 attempts")
    );
    assert_eq!(off.disabled_at, Some(now));
    assert!(claim_all(store, now.plus_millis(86_400_000))
        .await
        .is_empty());
}

pub async fn a_claim_shows_when_its_target_is_inactive_or_deleted(store: &dyn Store) {
    let shop = project(store).await;
    let switched_off = webhook(store, &shop, &["*"]).await;
    let deleted = webhook(store, &shop, &["*"]).await;
    let live = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;

    store
        .update_webhook(&shop.id, &switched_off.id, fields(&["*"], false))
        .await
        .expect("updated");
    store
        .delete_webhook(&shop.id, &deleted.id)
        .await
        .expect("deleted");

    let claims = claim_all(store, Timestamp::now()).await;
    assert_eq!(claims.len(), 3);
    for claim in &claims {
        let expected = claim.send_out.source_id.as_str() == live.id.as_str();
        assert_eq!(
            claim.target_active, expected,
            "{}",
            claim.send_out.source_id
        );
    }

    // Failing them without an attempt records no attempt.
    let now = Timestamp::now();
    let failures = claims
        .iter()
        .filter(|c| !c.target_active)
        .map(|c| Completion {
            send_out_id: c.send_out.id.clone(),
            attempt: None,
            next: Next::Failed {
                reason: "the webhook is inactive".to_owned(),
                disable_target: false,
            },
            at: now,
            lease: Some(c.lease_until),
            exhausted_window: None,
        })
        .collect();
    complete(store, failures).await;
    let of_switched_off = claims
        .iter()
        .find(|c| c.send_out.source_id.as_str() == switched_off.id.as_str())
        .expect("a claim for the switched-off webhook");
    let (inactive, attempts) = store
        .get_send_out(&shop.id, &of_switched_off.send_out.id)
        .await
        .expect("read");
    assert_eq!(inactive.status, SendOutStatus::Failed);
    assert_eq!(inactive.attempts, 0);
    assert!(attempts.is_empty());
}

pub async fn claim_one_leases_any_send_out_unless_another_worker_holds_it(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    let id = claims[0].send_out.id.clone();

    assert!(store
        .claim_one(&shop.id, &id, now, LEASE)
        .await
        .expect("asked")
        .is_none());

    let give_up = Next::Failed {
        reason: "gave up".to_owned(),
        disable_target: false,
    };
    complete(store, vec![completion(&claims[0], 500, give_up, now)]).await;

    // A manual retry of a failed send out: leased, but not made due for the workers.
    let manual = store
        .claim_one(&shop.id, &id, now, LEASE)
        .await
        .expect("asked")
        .expect("a failed send out can be claimed");
    assert_eq!(manual.send_out.status, SendOutStatus::Failed);
    assert!(manual.target_active);
    assert!(store
        .claim_one(&shop.id, &id, now.plus_millis(1), LEASE)
        .await
        .expect("asked")
        .is_none());
    assert!(claim_all(store, now.plus_millis(lease_ms() + 1))
        .await
        .is_empty());

    complete(store, vec![completion(&manual, 200, Next::Succeeded, now)]).await;
    let (send_out, attempts) = store.get_send_out(&shop.id, &id).await.expect("read");
    assert_eq!(send_out.status, SendOutStatus::Succeeded);
    assert_eq!(send_out.attempts, 2);
    assert_eq!(attempts.len(), 2);
}

/// One send out claimed by a first worker and, once that lease ran out, by a second.
struct ClaimedTwice {
    shop: Project,
    hook: Webhook,
    first: Claim,
    second: Claim,
    /// When the second claim was made.
    later: Timestamp,
}

async fn claimed_twice(store: &dyn Store) -> ClaimedTwice {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let now = Timestamp::now();
    let mut first = claim_all(store, now).await;
    let later = now.plus_millis(lease_ms() + 1);
    let mut second = claim_all(store, later).await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        second.len(),
        1,
        "the expired lease let another worker claim it"
    );
    ClaimedTwice {
        shop,
        hook,
        first: first.remove(0),
        second: second.remove(0),
        later,
    }
}

pub async fn a_batch_may_complete_one_send_out_twice(store: &dyn Store) {
    // Two workers attempted it (the first one's lease ran out and the second claimed it),
    // and their results meet in one batch, in either order: both attempts are recorded, and
    // the send out ends as the worker holding the current lease says.
    for stale_first in [true, false] {
        let ClaimedTwice {
            shop,
            first,
            second,
            later,
            ..
        } = claimed_twice(store).await;
        let stale = completion(&first, 500, Next::RetryAt(later.plus_millis(60_000)), later);
        let current = completion(&second, 200, Next::Succeeded, later.plus_millis(5));
        let batch = if stale_first {
            vec![stale, current]
        } else {
            vec![current, stale]
        };
        complete(store, batch).await;
        let (send_out, attempts) = store
            .get_send_out(&shop.id, &first.send_out.id)
            .await
            .expect("read");
        assert_eq!(
            send_out.status,
            SendOutStatus::Succeeded,
            "the current holder's result stands (stale first: {stale_first})"
        );
        assert_eq!(send_out.next_attempt_at, None);
        assert_eq!(send_out.attempts, 2);
        let numbers: Vec<u32> = attempts.iter().map(|a| a.number).collect();
        assert_eq!(numbers, vec![1, 2]);
    }
}

/// A worker whose lease ran out finishes after the send out's new holder: its attempt is
/// recorded, but it neither changes the outcome nor disables the webhook.
pub async fn a_stale_completion_does_not_overwrite_the_newer_holders_result(store: &dyn Store) {
    let ClaimedTwice {
        shop,
        hook,
        first,
        second,
        later,
    } = claimed_twice(store).await;
    complete(
        store,
        vec![completion(&second, 200, Next::Succeeded, later)],
    )
    .await;
    // The first worker gives up on it: without the lease check this would turn SUCCEEDED
    // into FAILED and turn the webhook off.
    complete(
        store,
        vec![completion(
            &first,
            500,
            Next::Failed {
                reason: "gave up after 8 attempts".to_owned(),
                disable_target: true,
            },
            later.plus_millis(10),
        )],
    )
    .await;
    let (send_out, attempts) = store
        .get_send_out(&shop.id, &first.send_out.id)
        .await
        .expect("read");
    assert_eq!(send_out.status, SendOutStatus::Succeeded);
    assert_eq!(send_out.failure_reason, None);
    assert_eq!(attempts.len(), 2, "the stale attempt is in the audit log");
    let hook = store
        .get_webhook(&shop.id, &hook.id)
        .await
        .expect("the webhook exists");
    assert!(hook.active, "a stale give-up does not disable the webhook");
}

pub async fn released_claims_are_due_again_at_once(store: &dyn Store) {
    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    let claims = claim_all(store, Timestamp::now()).await;
    store.release(&[claims[0].lease()]).await.expect("released");
    let again = claim_all(store, Timestamp::now()).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].send_out.status, SendOutStatus::Pending);
}

/// A worker whose lease ran out gives the send out back (at shutdown) after another worker
/// claimed it: the newer holder keeps it, and it does not become due early.
pub async fn a_stale_release_does_not_take_the_send_out_from_its_newer_holder(store: &dyn Store) {
    let ClaimedTwice {
        first,
        second,
        later,
        ..
    } = claimed_twice(store).await;
    store.release(&[first.lease()]).await.expect("released");
    assert!(
        claim_all(store, later.plus_millis(1)).await.is_empty(),
        "still leased to the newer holder"
    );
    store.release(&[second.lease()]).await.expect("released");
    assert_eq!(claim_all(store, later.plus_millis(2)).await.len(), 1);
}

pub async fn requeue_failed_makes_a_targets_failed_send_outs_since_a_time_due_now(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    let other = webhook(store, &shop, &["*"]).await;
    for _ in 0..3 {
        ingest(store, &shop, "voucher.published").await;
    }
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    assert_eq!(claims.len(), 6);
    let mut by_age: Vec<_> = claims.iter().collect();
    by_age.sort_by_key(|c| c.send_out.id.clone());
    let give_up = || Next::Failed {
        reason: "gave up".to_owned(),
        disable_target: false,
    };
    // Every send out fails except the newest one of `hook`, which succeeds.
    let newest_of_hook = by_age
        .iter()
        .rev()
        .find(|c| c.send_out.source_id.as_str() == hook.id.as_str())
        .expect("one")
        .send_out
        .id
        .clone();
    let completions = by_age
        .iter()
        .map(|c| {
            if c.send_out.id == newest_of_hook {
                completion(c, 200, Next::Succeeded, now)
            } else {
                completion(c, 500, give_up(), now)
            }
        })
        .collect();
    complete(store, completions).await;

    let signal = store.work_signal();
    let requeue_at = now.plus_millis(1_000);
    let since = Timestamp::from_millis(0);
    let count = store
        .requeue_failed(
            &shop.id,
            &SourceId::Webhook(hook.id.clone()),
            since,
            requeue_at,
        )
        .await
        .expect("requeued");
    assert_eq!(count, 2);
    tokio::time::timeout(Duration::from_secs(5), signal.notified())
        .await
        .expect("workers are woken");

    let due = claim_all(store, requeue_at).await;
    assert_eq!(due.len(), 2);
    for claim in &due {
        assert_eq!(claim.send_out.source_id, SourceId::Webhook(hook.id.clone()));
        assert_eq!(claim.send_out.status, SendOutStatus::Retrying);
        assert_eq!(claim.send_out.next_attempt_at, Some(requeue_at));
        assert_eq!(claim.send_out.failure_reason, None);
    }
    assert_eq!(
        status_of(store, &shop, &newest_of_hook).await,
        SendOutStatus::Succeeded
    );
    let others_failed = send_outs(store, &shop)
        .await
        .into_iter()
        .filter(|s| s.source_id.as_str() == other.id.as_str())
        .all(|s| s.status == SendOutStatus::Failed);
    assert!(others_failed, "another target's send outs are not touched");

    // "Since" excludes older send outs.
    let future = now.plus_millis(86_400_000);
    assert_eq!(
        store
            .requeue_failed(
                &shop.id,
                &SourceId::Webhook(other.id.clone()),
                future,
                requeue_at,
            )
            .await
            .expect("requeued"),
        0
    );
}

pub async fn a_test_send_out_is_stored_leased_to_its_maker(store: &dyn Store) {
    let shop = project(store).await;
    let hook = store
        .create_webhook(&shop.id, fields(&["*"], false))
        .await
        .expect("created");
    let now = Timestamp::now();
    let claim = store
        .insert_send_out(test_send_out(&shop, &hook, now), LEASE)
        .await
        .expect("inserted");
    assert!(claim.send_out.is_test);
    assert!(
        claim.target_active,
        "a test is sent even to an inactive webhook"
    );
    assert_eq!(claim.secrets.current, shop.webhook_token);
    assert!(claim_all(store, now).await.is_empty(), "it is leased");

    complete(store, vec![completion(&claim, 204, Next::Succeeded, now)]).await;
    let (stored, attempts) = store
        .get_send_out(&shop.id, &claim.send_out.id)
        .await
        .expect("read");
    assert!(stored.is_test);
    assert_eq!(stored.status, SendOutStatus::Succeeded);
    assert_eq!(attempts.len(), 1);
}

pub async fn queue_stats_count_open_and_due_send_outs_and_the_oldest_due_time(store: &dyn Store) {
    let empty = store.queue_stats(Timestamp::now()).await.expect("readable");
    assert_eq!(empty, sendout_store::QueueStats::default());

    let shop = project(store).await;
    webhook(store, &shop, &["*"]).await;
    for _ in 0..3 {
        ingest(store, &shop, "voucher.published").await;
    }
    let now = Timestamp::now();
    let stats = store.queue_stats(now).await.expect("readable");
    assert_eq!((stats.open, stats.due), (3, 3));
    let oldest = stats.oldest_due_at.expect("something is due");
    assert!(oldest <= now);

    // One claimed (leased: open, not due), one completed (not open), one left due.
    let claims = store.claim_due(now, 2, LEASE).await.expect("claimed");
    complete(
        store,
        vec![completion(&claims[0], 200, Next::Succeeded, now)],
    )
    .await;
    let stats = store.queue_stats(now).await.expect("readable");
    assert_eq!((stats.open, stats.due), (2, 1));
    assert!(stats.oldest_due_at.is_some_and(|at| at <= now));
}
