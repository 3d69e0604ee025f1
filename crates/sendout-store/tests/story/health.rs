//! Endpoint health: what the completion writer keeps of each target's attempts, read back by
//! window (the last hour, the last day), with the running state (consecutive failures, last
//! success), for webhooks and for each channel of a distribution. Durations are given, so
//! the percentiles are checked exactly, bucket by bucket.

use sendout_core::distribution::DistributionStatus;
use sendout_core::time::Timestamp;
use sendout_store::health::{TargetHealth, KEPT};
use sendout_store::{Claim, Completion, Next, SourceKind, Store};

use crate::distributions::{distribution, event_with, ingest_one, order_data, order_paid};
use crate::harness::*;

/// A completion of `claim` with an attempt started `at` that took `duration_ms`.
fn attempted(claim: &Claim, status: u16, duration_ms: u64, at: Timestamp) -> Completion {
    let mut completion = completion(claim, status, Next::RetryAt(at.plus_millis(60_000)), at);
    if let Some(attempt) = completion.attempt.as_mut() {
        attempt.duration_ms = duration_ms;
    }
    completion
}

async fn health_of(store: &dyn Store, project: &sendout_store::Project, id: &str) -> TargetHealth {
    let mut found = store
        .target_health(&project.id, SourceKind::Webhook, id, Timestamp::now())
        .await
        .expect("health reads");
    assert_eq!(found.len(), 1, "one webhook, one health");
    found.remove(0)
}

pub async fn health_counts_a_webhooks_attempts_by_window_with_its_failures_in_a_row(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["voucher.published"]).await;
    let quiet = webhook(store, &shop, &["customer.created"]).await;
    for _ in 0..7 {
        ingest(store, &shop, "voucher.published").await;
    }
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    assert_eq!(claims.len(), 7);
    let two_hours_ago = now.plus_millis(-2 * 3_600_000);
    let two_days_ago = now.plus_millis(-2 * 86_400_000);
    // Outside the day: kept in the running state, not in the windows.
    complete(store, vec![attempted(&claims[6], 200, 5, two_days_ago)]).await;
    // The last day, before the last hour: a success and a slow failure.
    complete(
        store,
        vec![
            attempted(&claims[0], 200, 5, two_hours_ago),
            attempted(&claims[1], 500, 300, two_hours_ago.plus_millis(1)),
        ],
    )
    .await;
    // The last hour, in two batches (the second adds to the same minute's row).
    let recent = now.plus_millis(-1_000);
    complete(
        store,
        vec![
            attempted(&claims[2], 204, 5, recent),
            attempted(&claims[3], 200, 5, recent.plus_millis(1)),
        ],
    )
    .await;
    complete(
        store,
        vec![
            attempted(&claims[4], 503, 300, recent.plus_millis(2)),
            attempted(&claims[5], 500, 300, recent.plus_millis(3)),
        ],
    )
    .await;
    // A test of the webhook is not counted.
    let test = store
        .insert_send_out(test_send_out(&shop, &hook, now), LEASE)
        .await
        .expect("the test is stored");
    complete(store, vec![attempted(&test, 200, 9_000, recent)]).await;

    let health = health_of(store, &shop, hook.id.as_str()).await;
    assert_eq!(health.channel, None);
    assert_eq!(
        (health.last_day.attempts, health.last_day.succeeded),
        (6, 3)
    );
    assert_eq!(
        (health.last_hour.attempts, health.last_hour.succeeded),
        (4, 2)
    );
    assert_eq!(health.last_day.success_rate(), Some(0.5));
    // Durations 5, 5, 5, 300, 300, 300: the median is in [4, 6), the 95th in [256, 362).
    assert_eq!(health.last_day.percentile_ms(0.5), Some(6));
    assert_eq!(health.last_day.percentile_ms(0.95), Some(362));
    assert_eq!(health.last_hour.percentile_ms(0.5), Some(6));
    assert_eq!(health.consecutive_failures, 2);
    assert_eq!(health.last_success_at, Some(recent.plus_millis(1)));
    assert_eq!(health.last_failure_at, Some(recent.plus_millis(3)));
    assert_eq!(health.last_attempt_at, Some(recent.plus_millis(3)));
    let hourly: u64 = health.hours.iter().map(|h| h.attempts).sum();
    assert_eq!(hourly, 6, "the day's attempts by hour");
    assert!(health
        .hours
        .windows(2)
        .all(|w| w[0].hour_start < w[1].hour_start));

    // The project's summaries agree, without the hours; a quiet webhook has none.
    let all = store
        .project_health(&shop.id, Timestamp::now())
        .await
        .expect("summaries read");
    assert_eq!(all.len(), 1, "only targets with attempts: {all:?}");
    let summary = &all[0];
    assert_eq!(summary.source_id, hook.id.as_str());
    assert_eq!(summary.last_day, health.last_day);
    assert_eq!(summary.last_hour, health.last_hour);
    assert_eq!(summary.consecutive_failures, 2);
    assert!(summary.hours.is_empty());
    let none = store
        .target_health(&shop.id, SourceKind::Webhook, quiet.id.as_str(), now)
        .await
        .expect("health reads");
    assert!(none.is_empty());

    // A success ends the run of failures; failures after it start a new one.
    let again = store
        .claim_one(&shop.id, &claims[5].send_out.id, Timestamp::now(), LEASE)
        .await
        .expect("claims")
        .expect("not held");
    let later = Timestamp::now();
    complete(
        store,
        vec![
            attempted(&again, 200, 5, later),
            attempted(&again, 500, 5, later.plus_millis(1)),
        ],
    )
    .await;
    let health = health_of(store, &shop, hook.id.as_str()).await;
    assert_eq!(health.consecutive_failures, 1);
    assert_eq!(health.last_success_at, Some(later));
    assert_eq!(health.last_day.attempts, 8);

    // Another project sees none of it.
    let other = project(store).await;
    let foreign = store
        .target_health(&other.id, SourceKind::Webhook, hook.id.as_str(), now)
        .await
        .expect("health reads");
    assert!(foreign.is_empty());

    // Retention keeps the last day's rows and the running state of targets attempted since.
    store
        .prune(Timestamp::now().plus_millis(-i64::try_from(KEPT.as_millis()).expect("small")))
        .await
        .expect("prunes");
    let kept = health_of(store, &shop, hook.id.as_str()).await;
    assert_eq!(kept.last_day.attempts, 8);
    assert_eq!(kept.consecutive_failures, 1);
    // A cutoff after the last attempt forgets the running state too.
    store
        .prune(Timestamp::now().plus_millis(1_000))
        .await
        .expect("prunes");
    let forgotten = health_of(store, &shop, hook.id.as_str()).await;
    assert_eq!(forgotten.consecutive_failures, 0);
    assert_eq!(forgotten.last_success_at, None);
    assert_eq!(forgotten.last_day.attempts, 8, "the day's rows stay a day");
}

pub async fn each_channel_of_a_distribution_has_its_own_health(store: &dyn Store) {
    let shop = project(store).await;
    let live = distribution(store, &shop, order_paid(), DistributionStatus::Live).await;
    for _ in 0..2 {
        ingest_one(
            store,
            &shop,
            event_with("customer.order.paid", order_data()),
        )
        .await;
    }
    let now = Timestamp::now();
    let mut claims = claim_all(store, now).await;
    claims.sort_by_key(|c| c.send_out.channel);
    assert_eq!(claims.len(), 4, "two events, two channels");
    complete(
        store,
        claims
            .iter()
            .map(|c| match c.send_out.channel {
                Some(0) => attempted(c, 200, 40, now),
                _ => attempted(c, 500, 3_000, now),
            })
            .collect(),
    )
    .await;
    let channels = store
        .target_health(&shop.id, SourceKind::Distribution, live.id.as_str(), now)
        .await
        .expect("health reads");
    assert_eq!(channels.len(), 2);
    let (first, second) = (&channels[0], &channels[1]);
    assert_eq!(first.channel, Some(0));
    assert_eq!(
        (first.last_hour.attempts, first.last_hour.succeeded),
        (2, 2)
    );
    assert_eq!(first.last_hour.percentile_ms(0.95), Some(45));
    assert_eq!(first.consecutive_failures, 0);
    assert_eq!(first.last_success_at, Some(now));
    assert_eq!(second.channel, Some(1));
    assert_eq!(
        (second.last_hour.attempts, second.last_hour.succeeded),
        (2, 0)
    );
    assert_eq!(second.last_hour.percentile_ms(0.5), Some(4096));
    assert_eq!(second.consecutive_failures, 2);
    assert_eq!(second.last_success_at, None);
}
