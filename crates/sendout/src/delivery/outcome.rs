//! What happens to a send out after an attempt (PRODUCT §4): plain functions of the attempt's
//! [`Verdict`], the send out and the retry policy, with no I/O, so every rule is tested here.
//!
//! - scheduled attempts: 2xx succeeds; `410` fails and disables the target at once; any other
//!   failure is retried on the policy's schedule (a `429`/`503` `Retry-After` lengthens the
//!   wait, capped by the policy), and after the last retry the send out fails and its target
//!   is disabled, with the last error in the reason;
//! - manual attempts never add a retry and never disable: a send out still in its schedule
//!   keeps it, any other fails with the attempt's error.

use std::time::Duration;

use rand::Rng;
use sendout_core::retry::RetryPolicy;
use sendout_core::time::Timestamp;
use sendout_store::{Next, SendOut, SourceKind};

/// What one HTTP try came to, before deciding what happens to the send out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx within the timeout.
    Delivered,
    /// `410 Gone`: the receiver asks never to be called again.
    Gone,
    /// Anything else; `retry_after` is what a 429/503 asked for.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

pub(crate) fn inactive_reason(kind: SourceKind) -> String {
    match kind {
        SourceKind::Webhook => "target inactive: the webhook is disabled".to_owned(),
        SourceKind::Distribution => "target inactive: the distribution is not live".to_owned(),
    }
}

/// What follows a scheduled attempt: success, a retry on the policy's schedule, or giving up
/// and disabling the target (after the last retry, or at once on `410`).
pub fn next_scheduled(
    policy: &RetryPolicy,
    send_out: &SendOut,
    verdict: &Verdict,
    now: Timestamp,
    rng: &mut impl Rng,
) -> Next {
    let attempts_made = send_out.attempts + 1;
    match verdict {
        Verdict::Delivered => Next::Succeeded,
        Verdict::Gone => Next::Failed {
            reason: "the target answered 410 Gone".to_owned(),
            disable_target: true,
        },
        Verdict::Failed { error, retry_after } => {
            match policy.next_delay(attempts_made, *retry_after, rng) {
                Some(delay) => Next::RetryAt(now.plus(delay)),
                None => Next::Failed {
                    reason: format!("gave up after {attempts_made} attempts: {error}"),
                    disable_target: true,
                },
            }
        }
    }
}

/// What follows a manual attempt: success, or the send out's own schedule if it is still
/// open, or `FAILED` (never disabling the target).
pub fn next_manual(
    policy: &RetryPolicy,
    send_out: &SendOut,
    verdict: &Verdict,
    now: Timestamp,
    rng: &mut impl Rng,
) -> Next {
    let error = match verdict {
        Verdict::Delivered => return Next::Succeeded,
        Verdict::Gone => "the target answered 410 Gone",
        Verdict::Failed { error, .. } => error.as_str(),
    };
    let failed = || Next::Failed {
        reason: error.to_owned(),
        disable_target: false,
    };
    if !send_out.status.is_open() {
        return failed();
    }
    match send_out.next_attempt_at {
        Some(at) => Next::RetryAt(at),
        None => match policy.next_delay(send_out.attempts + 1, None, rng) {
            Some(delay) => Next::RetryAt(now.plus(delay)),
            None => failed(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use sendout_core::envelope::{self, EventRef};
    use sendout_core::ids::{EventId, GroupId, ProjectId, SendOutId, WebhookId};
    use sendout_store::{SendOutStatus, SourceId};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> RetryPolicy {
        RetryPolicy::parse_schedule("100ms,200ms")
            .and_then(|p| p.with_jitter(0.0))
            .expect("a valid schedule")
            .with_retry_after_cap(Duration::from_secs(1))
    }

    fn send_out(status: SendOutStatus, attempts: u32, next: Option<Timestamp>) -> SendOut {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let (event_id, group_id, event_source) = (
            EventId::new("voucher.published"),
            GroupId::new(),
            envelope::compact(&serde_json::json!({})),
        );
        let event = EventRef {
            id: &event_id,
            event_type: "voucher.published",
            created_at: at,
            entity_id: None,
            group_id: &group_id,
            event_source: &event_source,
        };
        let target = ("https://example.com/hook".to_owned(), BTreeMap::new());
        let source = SourceId::Webhook(WebhookId::new());
        SendOut {
            status,
            attempts,
            next_attempt_at: next,
            ..SendOut::test_send(
                SendOutId::new(),
                &ProjectId::new(),
                source,
                target,
                &event,
                "{}".into(),
                at,
            )
        }
    }

    fn failed(retry_after: Option<Duration>) -> Verdict {
        Verdict::Failed {
            error: "the target answered 500".into(),
            retry_after,
        }
    }

    #[test]
    fn failures_are_retried_on_schedule_then_give_up_and_disable() {
        let now = Timestamp::from_millis(10_000);
        let rng = &mut StdRng::seed_from_u64(7);
        let p = policy();
        let first = send_out(SendOutStatus::Pending, 0, Some(now));
        assert_eq!(
            next_scheduled(&p, &first, &failed(None), now, rng),
            Next::RetryAt(now.plus_millis(100))
        );
        let second = send_out(SendOutStatus::Retrying, 1, Some(now));
        assert_eq!(
            next_scheduled(&p, &second, &failed(None), now, rng),
            Next::RetryAt(now.plus_millis(200))
        );
        let last = send_out(SendOutStatus::Retrying, 2, Some(now));
        assert_eq!(
            next_scheduled(&p, &last, &failed(None), now, rng),
            Next::Failed {
                reason: "gave up after 3 attempts: the target answered 500".into(),
                disable_target: true
            }
        );
        assert_eq!(
            next_scheduled(&p, &last, &Verdict::Delivered, now, rng),
            Next::Succeeded
        );
    }

    #[test]
    fn gone_disables_at_once_and_retry_after_is_honoured_up_to_the_cap() {
        let now = Timestamp::from_millis(10_000);
        let rng = &mut StdRng::seed_from_u64(7);
        let p = policy();
        let first = send_out(SendOutStatus::Pending, 0, Some(now));
        assert!(matches!(
            next_scheduled(&p, &first, &Verdict::Gone, now, rng),
            Next::Failed {
                disable_target: true,
                ..
            }
        ));
        assert_eq!(
            next_scheduled(&p, &first, &failed(Some(500 * MS)), now, rng),
            Next::RetryAt(now.plus_millis(500))
        );
        assert_eq!(
            next_scheduled(
                &p,
                &first,
                &failed(Some(Duration::from_secs(3600))),
                now,
                rng
            ),
            Next::RetryAt(now.plus_millis(1000))
        );
    }

    #[test]
    fn manual_attempts_keep_the_schedule_or_fail_without_disabling() {
        let now = Timestamp::from_millis(10_000);
        let rng = &mut StdRng::seed_from_u64(7);
        let p = policy();
        let scheduled = now.plus_millis(60_000);
        let open = send_out(SendOutStatus::Retrying, 1, Some(scheduled));
        assert_eq!(
            next_manual(&p, &open, &failed(None), now, rng),
            Next::RetryAt(scheduled)
        );
        assert_eq!(
            next_manual(&p, &open, &Verdict::Delivered, now, rng),
            Next::Succeeded
        );
        let done = send_out(SendOutStatus::Failed, 3, None);
        for verdict in [failed(None), Verdict::Gone] {
            assert!(matches!(
                next_manual(&p, &done, &verdict, now, rng),
                Next::Failed {
                    disable_target: false,
                    ..
                }
            ));
        }
    }
}
