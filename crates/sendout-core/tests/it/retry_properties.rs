//! Properties of the retry policy (STYLE 5): delays are finite and bounded, offsets grow,
//! the policy is exhausted exactly after its schedule, and `Retry-After` never holds a send
//! out back longer than the cap. Plus the exact offsets of Voucherify's default schedule.

use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sendout_core::retry::{parse_retry_after, RetryPolicy};
use sendout_core::time::Timestamp;

const MINUTE: Duration = Duration::from_secs(60);

fn schedule() -> impl Strategy<Value = Vec<Duration>> {
    prop::collection::vec(
        (1u64..=7 * 24 * 60 * 60 * 1000).prop_map(Duration::from_millis),
        0..30,
    )
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (schedule(), 0.0f64..=1.0, 0u64..=3 * 60 * 60).prop_map(|(schedule, jitter, cap)| {
        RetryPolicy::new(schedule)
            .and_then(|p| p.with_jitter(jitter))
            .expect("a valid policy")
            .with_retry_after_cap(Duration::from_secs(cap))
    })
}

/// The most a scheduled wait may grow to with the policy's jitter.
fn jittered_bound(policy: &RetryPolicy, wait: Duration) -> Duration {
    wait + wait.mul_f64(policy.jitter())
}

#[test]
fn voucherify_default_retries_at_doubling_minutes_then_at_a_day() {
    let policy = RetryPolicy::voucherify();
    let mut expected: Vec<Duration> = (0..11).map(|k| MINUTE * (1 << k)).collect();
    expected.push(MINUTE * 24 * 60);
    assert_eq!(policy.offsets_from_first(), expected);
    assert_eq!(policy.max_retries(), 12);
    assert_eq!(RetryPolicy::default(), policy);
}

proptest! {
    #[test]
    fn delays_stay_between_the_scheduled_wait_and_its_jittered_bound(
        policy in policy(),
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        for (index, wait) in policy.schedule().iter().enumerate() {
            let attempts = u32::try_from(index + 1).expect("small");
            let delay = policy.next_delay(attempts, None, &mut rng).expect("not exhausted");
            prop_assert!(delay >= *wait);
            prop_assert!(delay <= jittered_bound(&policy, *wait));
        }
    }

    #[test]
    fn retry_after_is_honoured_but_never_beyond_the_cap(
        policy in policy(),
        asked_secs in 0u64..=u64::MAX,
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let asked = Duration::from_secs(asked_secs);
        for (index, wait) in policy.schedule().iter().enumerate() {
            let attempts = u32::try_from(index + 1).expect("small");
            let delay = policy.next_delay(attempts, Some(asked), &mut rng).expect("not exhausted");
            prop_assert!(delay >= asked.min(policy.retry_after_cap()));
            prop_assert!(delay >= *wait);
            prop_assert!(delay <= jittered_bound(&policy, *wait).max(policy.retry_after_cap()));
        }
    }

    #[test]
    fn the_policy_is_exhausted_exactly_after_its_schedule(
        policy in policy(),
        extra in 1u32..1000,
        asked_secs in prop::option::of(0u64..100_000),
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let asked = asked_secs.map(Duration::from_secs);
        let retries = u32::try_from(policy.max_retries()).expect("small");
        // Before the first attempt there is nothing to wait for.
        prop_assert_eq!(policy.next_delay(0, asked, &mut rng), Some(Duration::ZERO));
        for attempts in 1..=retries {
            prop_assert!(policy.next_delay(attempts, asked, &mut rng).is_some());
        }
        prop_assert_eq!(policy.next_delay(retries + extra, asked, &mut rng), None);
    }

    #[test]
    fn offsets_from_the_first_attempt_grow_strictly(policy in policy()) {
        let offsets = policy.offsets_from_first();
        prop_assert_eq!(offsets.len(), policy.max_retries());
        prop_assert!(offsets.windows(2).all(|pair| pair[0] < pair[1]));
        let total: Duration = policy.schedule().iter().sum();
        prop_assert_eq!(offsets.last().copied().unwrap_or_default(), total);
    }

    #[test]
    fn schedules_round_trip_through_configuration_text(schedule in schedule()) {
        prop_assume!(!schedule.is_empty());
        let text = schedule
            .iter()
            .map(|wait| format!("{}ms", wait.as_millis()))
            .collect::<Vec<_>>()
            .join(",");
        let policy = RetryPolicy::parse_schedule(&text).expect("valid text");
        prop_assert_eq!(policy.schedule(), schedule.as_slice());
    }

    #[test]
    fn retry_after_parses_any_delta_seconds(secs: u64, now_ms in 0i64..4_000_000_000_000) {
        let now = Timestamp::from_millis(now_ms);
        prop_assert_eq!(parse_retry_after(&secs.to_string(), now), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn retry_after_never_panics_on_junk(text in "\\PC{0,40}", now_ms in 0i64..4_000_000_000_000) {
        let _ = parse_retry_after(&text, Timestamp::from_millis(now_ms));
    }
}
