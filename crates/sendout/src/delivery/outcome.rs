//! What happens to a send out after an attempt (PRODUCT §4): plain functions of the attempt's
//! [`Verdict`], the send out and the retry policy, with no I/O, so every rule is tested here.
//!
//! - a response's verdict ([`response_verdict`]): a `2xx` succeeds only when its body was
//!   read to its end (or to the 4 KiB bound) within the delivery timeout; a `2xx` whose body
//!   is still coming at the timeout, or whose connection closes before the body's end (fewer
//!   bytes than its `content-length`, a chunked body without its last chunk), is a failure,
//!   retried like any other: the receiver's answer never arrived whole, and a retry is safe
//!   (delivery is at least once; receivers de-duplicate on `webhook-id`). Other statuses
//!   decide by themselves, whatever became of their bodies;
//! - scheduled attempts: 2xx succeeds; `410` fails and disables the target at once; any other
//!   failure is retried on the policy's schedule (a `429`/`503` `Retry-After` lengthens the
//!   wait, capped by the policy), and after the last retry the send out fails and its target
//!   is disabled, with the last error in the reason;
//! - manual attempts never add a retry and never disable: a send out still in its schedule
//!   keeps it, any other fails with the attempt's error.

use std::time::Duration;

use rand::Rng;
use sendout_core::retry::{parse_retry_after, RetryPolicy};
use sendout_core::time::Timestamp;
use sendout_store::{Next, SendOut, SourceKind};

/// What one HTTP try came to, before deciding what happens to the send out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx, its body read to the end (or to the bound) within the timeout.
    Delivered,
    /// `410 Gone`: the receiver asks never to be called again.
    Gone,
    /// Anything else; `retry_after` is what a 429/503 asked for.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// How reading a response's body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// The body's end arrived.
    Complete,
    /// The bound was reached; the rest is never read.
    Bounded,
    /// The delivery timeout ran out while the body was still coming.
    TimedOut,
    /// The connection failed before the body's end (the cause, without the URL).
    CutShort(String),
}

/// The verdict of a response: its status, its `Retry-After` (for `429`/`503`) and how its body
/// ended, for an attempt whose timeout is `timeout`.
pub fn response_verdict(
    status: u16,
    retry_after: Option<&str>,
    end: &BodyEnd,
    now: Timestamp,
    timeout: Duration,
) -> Verdict {
    let failed = |error: String| Verdict::Failed {
        error,
        retry_after: None,
    };
    match (status, end) {
        (200..=299, BodyEnd::Complete | BodyEnd::Bounded) => Verdict::Delivered,
        (200..=299, BodyEnd::TimedOut) => failed(format!(
            "timed out after {} ms: the target answered {status} but its body did not arrive \
             in time",
            timeout.as_millis()
        )),
        (200..=299, BodyEnd::CutShort(cause)) => failed(format!(
            "the target answered {status} but the connection closed before the body's end: \
             {cause}"
        )),
        (410, _) => Verdict::Gone,
        (300..=399, _) => failed(format!(
            "the target answered {status} (redirects are not followed)"
        )),
        (429 | 503, _) => Verdict::Failed {
            error: format!("the target answered {status}"),
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        _ => failed(format!("the target answered {status}")),
    }
}

pub(crate) fn inactive_reason(kind: SourceKind) -> String {
    match kind {
        SourceKind::Webhook => "target inactive: the webhook is disabled".to_owned(),
        SourceKind::Distribution => "target inactive: the distribution is not live".to_owned(),
        SourceKind::Operational => "target inactive".to_owned(),
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
    fn a_2xx_succeeds_only_when_its_body_arrived_whole_in_time() {
        let now = Timestamp::from_millis(10_000);
        let timeout = Duration::from_millis(700);
        let verdict = |status, end: &BodyEnd| response_verdict(status, None, end, now, timeout);
        for status in [200, 204, 299] {
            assert_eq!(verdict(status, &BodyEnd::Complete), Verdict::Delivered);
            assert_eq!(verdict(status, &BodyEnd::Bounded), Verdict::Delivered);
        }
        match verdict(200, &BodyEnd::TimedOut) {
            Verdict::Failed { error, retry_after } => {
                assert!(error.starts_with("timed out after 700 ms"), "{error}");
                assert!(error.contains("200"), "{error}");
                assert_eq!(retry_after, None);
            }
            other => panic!("a body past the timeout succeeded: {other:?}"),
        }
        let cut = BodyEnd::CutShort("end of file before message length reached".into());
        match verdict(202, &cut) {
            Verdict::Failed { error, .. } => {
                assert!(error.contains("202"), "{error}");
                assert!(
                    error.contains("end of file before message length"),
                    "{error}"
                );
            }
            other => panic!("a cut-short body succeeded: {other:?}"),
        }
        // Other statuses decide by themselves.
        assert_eq!(verdict(410, &cut), Verdict::Gone);
        assert_eq!(
            response_verdict(503, Some("2"), &BodyEnd::TimedOut, now, timeout),
            Verdict::Failed {
                error: "the target answered 503".into(),
                retry_after: Some(2 * Duration::from_secs(1)),
            }
        );
        assert!(matches!(
            verdict(302, &BodyEnd::Complete),
            Verdict::Failed { error, .. } if error.contains("redirects are not followed")
        ));
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
