//! When the next attempt of a failed send out happens (PRODUCT §4, §5.5).
//!
//! A [`RetryPolicy`] is a pure value: a schedule of waits, each counted from the previous
//! attempt (its length is the number of retries), a jitter fraction, and a cap on how long a
//! receiver's `Retry-After` may hold a send out back. [`RetryPolicy::next_delay`] answers
//! "how long after this attempt is the next one?", and `None` once the retries are used up.
//!
//! Invariants (checked by `tests/it/retry_properties.rs`):
//! - jitter only ever *lengthens* a wait, by at most `jitter` × the scheduled wait, so no retry
//!   comes earlier than the documented schedule and the whole schedule stretches by at most
//!   that fraction (Voucherify's 24 h retry lands between 24 h and 26 h 24 min by default);
//! - a `Retry-After` makes the wait at least that long, but never longer than
//!   `retry_after_cap` (or the jittered scheduled wait, if that is longer);
//! - after `schedule.len()` retries, that is `schedule.len() + 1` attempts, there is no next.
//!
//! Waits are counted from the end of the previous attempt, so the offsets from the first
//! attempt drift by the attempts' durations (at most the delivery timeout each).

use std::str::FromStr;
use std::time::Duration;

use chrono::DateTime;
use rand::Rng;

use crate::time::Timestamp;

/// The longest a single configured wait may be; longer ones are surely a typo.
pub const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The most retries a configured schedule may have.
pub const MAX_RETRIES: usize = 100;

const MINUTE: Duration = Duration::from_secs(60);

/// Why a retry policy could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryError {
    /// The schedule text is blank.
    #[error("the retry schedule is empty: list waits such as `1m,1m,2m`, or write `none` for no retries")]
    EmptySchedule,
    /// One of the comma-separated waits is not a duration.
    #[error("retry wait #{position} `{text}` is not a duration such as `50ms`, `30s`, `2m` or `1h`: {reason}")]
    InvalidWait {
        position: usize,
        text: String,
        reason: String,
    },
    /// A wait of zero would retry at once, in a tight loop against a failing receiver.
    #[error("retry wait #{position} is zero; every wait must be at least 1ms")]
    ZeroWait { position: usize },
    /// A wait longer than [`MAX_WAIT`].
    #[error("retry wait #{position} `{text}` is longer than 30 days")]
    WaitTooLong { position: usize, text: String },
    /// More than [`MAX_RETRIES`] waits.
    #[error("the retry schedule has {count} waits; at most 100 are allowed")]
    TooManyRetries { count: usize },
    /// A jitter fraction outside `0.0..=1.0`.
    #[error("retry jitter must be a fraction between 0.0 and 1.0, not {0}")]
    InvalidJitter(f64),
}

/// How a failed send out is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
    jitter: f64,
    retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::voucherify()
    }
}

impl RetryPolicy {
    /// The default jitter: a wait may be lengthened by up to 10 %.
    pub const DEFAULT_JITTER: f64 = 0.1;
    /// The default cap on `Retry-After`: one hour.
    pub const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(60 * 60);

    /// A policy with the given waits (each after the previous attempt), the default jitter
    /// and the default `Retry-After` cap.
    pub fn new(schedule: Vec<Duration>) -> Result<Self, RetryError> {
        if schedule.len() > MAX_RETRIES {
            return Err(RetryError::TooManyRetries {
                count: schedule.len(),
            });
        }
        for (index, wait) in schedule.iter().enumerate() {
            if wait.is_zero() {
                return Err(RetryError::ZeroWait {
                    position: index + 1,
                });
            }
            if *wait > MAX_WAIT {
                return Err(RetryError::WaitTooLong {
                    position: index + 1,
                    text: humantime::format_duration(*wait).to_string(),
                });
            }
        }
        Ok(Self {
            schedule,
            jitter: Self::DEFAULT_JITTER,
            retry_after_cap: Self::DEFAULT_RETRY_AFTER_CAP,
        })
    }

    /// Voucherify's schedule: retry k at 2^(k-1) minutes after the first attempt for
    /// k = 1..11, and the 12th at 24 hours after it. As waits after the previous attempt that
    /// is 1, 1, 2, 4, …, 512 minutes, then 1440 − 1024 = 416 minutes.
    pub fn voucherify() -> Self {
        let mut schedule = vec![MINUTE];
        schedule.extend((0..10).map(|k| MINUTE * (1 << k)));
        schedule.push(MINUTE * (24 * 60 - 1024));
        Self {
            schedule,
            jitter: Self::DEFAULT_JITTER,
            retry_after_cap: Self::DEFAULT_RETRY_AFTER_CAP,
        }
    }

    /// Parses `SENDOUT_RETRY_SCHEDULE`: comma-separated waits such as `1m,1m,2m` or
    /// `50ms,100ms`, or `none` for no retries at all (blank text is refused, so a forgotten
    /// value never silently turns retries off).
    pub fn parse_schedule(text: &str) -> Result<Self, RetryError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(RetryError::EmptySchedule);
        }
        if text.eq_ignore_ascii_case("none") {
            return Self::new(Vec::new());
        }
        let schedule = text
            .split(',')
            .enumerate()
            .map(|(index, item)| {
                let item = item.trim();
                humantime::parse_duration(item).map_err(|error| RetryError::InvalidWait {
                    position: index + 1,
                    text: item.chars().take(40).collect(),
                    reason: if item.is_empty() {
                        "it is blank".to_owned()
                    } else {
                        error.to_string()
                    },
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(schedule)
    }

    /// The same policy with another jitter fraction (`0.0` turns jitter off).
    pub fn with_jitter(mut self, jitter: f64) -> Result<Self, RetryError> {
        if !(0.0..=1.0).contains(&jitter) {
            return Err(RetryError::InvalidJitter(jitter));
        }
        self.jitter = jitter;
        Ok(self)
    }

    /// The same policy with another cap on `Retry-After`.
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// The waits, each after the previous attempt.
    pub fn schedule(&self) -> &[Duration] {
        &self.schedule
    }

    /// How many retries follow the first attempt.
    pub fn max_retries(&self) -> usize {
        self.schedule.len()
    }

    /// The jitter fraction.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The longest a `Retry-After` may delay a retry.
    pub fn retry_after_cap(&self) -> Duration {
        self.retry_after_cap
    }

    /// When each retry happens, counted from the first attempt, without jitter.
    pub fn offsets_from_first(&self) -> Vec<Duration> {
        self.schedule
            .iter()
            .scan(Duration::ZERO, |total, wait| {
                *total = total.saturating_add(*wait);
                Some(*total)
            })
            .collect()
    }

    /// How long after the latest attempt the next one should be made.
    ///
    /// `attempts_made` counts the attempts so far (0 before the first, which is due at once).
    /// `retry_after` is what a `429`/`503` response asked for, if anything. `None` means the
    /// retries are used up and the send out has failed.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let Some(retry) = attempts_made.checked_sub(1) else {
            return Some(Duration::ZERO);
        };
        let scheduled = *self.schedule.get(usize::try_from(retry).ok()?)?;
        // jitter × a fraction below 1 keeps the factor in [0, 1), so this never panics.
        let extra = scheduled.mul_f64(self.jitter * rng.gen::<f64>());
        let delay = scheduled.saturating_add(extra);
        Some(match retry_after {
            Some(asked) => delay.max(asked.min(self.retry_after_cap)),
            None => delay,
        })
    }
}

impl FromStr for RetryPolicy {
    type Err = RetryError;

    fn from_str(text: &str) -> Result<Self, RetryError> {
        Self::parse_schedule(text)
    }
}

/// Parses a `Retry-After` header value received at `now`: delta-seconds (`120`) or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past means "now" (zero);
/// anything else (negative numbers, obsolete date formats) is ignored with `None`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "very long"; the policy's cap applies anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let ahead_ms = date.timestamp_millis().saturating_sub(now.as_millis());
    Some(Duration::from_millis(u64::try_from(ahead_ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn minutes(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|m| MINUTE * (*m as u32)).collect()
    }

    #[test]
    fn voucherify_schedule_waits_double_then_fill_up_to_a_day() {
        let policy = RetryPolicy::voucherify();
        assert_eq!(
            policy.schedule(),
            minutes(&[1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 416])
        );
        assert_eq!(policy.jitter(), 0.1);
        assert_eq!(policy.retry_after_cap(), Duration::from_secs(3600));
    }

    #[test]
    fn schedules_parse_from_configuration_text() {
        let policy = RetryPolicy::parse_schedule(" 1m, 1m ,2m").expect("valid");
        assert_eq!(policy.schedule(), minutes(&[1, 1, 2]));
        let fast: RetryPolicy = "50ms,100ms".parse().expect("valid");
        assert_eq!(
            fast.schedule(),
            [Duration::from_millis(50), Duration::from_millis(100)]
        );
        assert_eq!(
            RetryPolicy::parse_schedule("NONE").map(|p| p.max_retries()),
            Ok(0)
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_the_offending_item() {
        assert_eq!(
            RetryPolicy::parse_schedule("  "),
            Err(RetryError::EmptySchedule)
        );
        let error = RetryPolicy::parse_schedule("1m,soon").expect_err("invalid");
        assert!(error.to_string().contains("#2 `soon`"), "{error}");
        assert!(matches!(
            RetryPolicy::parse_schedule("1m,,2m"),
            Err(RetryError::InvalidWait { position: 2, .. })
        ));
        assert_eq!(
            RetryPolicy::parse_schedule("1m,0s"),
            Err(RetryError::ZeroWait { position: 2 })
        );
        assert!(matches!(
            RetryPolicy::parse_schedule("31days"),
            Err(RetryError::WaitTooLong { position: 1, .. })
        ));
        assert!(RetryPolicy::voucherify().with_jitter(1.5).is_err());
        assert!(RetryPolicy::voucherify().with_jitter(f64::NAN).is_err());
    }

    #[test]
    fn first_attempt_is_immediate_and_the_last_retry_ends_it() {
        let policy = RetryPolicy::parse_schedule("1s,2s").expect("valid");
        let policy = policy.with_jitter(0.0).expect("valid");
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(policy.next_delay(0, None, &mut rng), Some(Duration::ZERO));
        assert_eq!(
            policy.next_delay(1, None, &mut rng),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            policy.next_delay(2, None, &mut rng),
            Some(Duration::from_secs(2))
        );
        assert_eq!(policy.next_delay(3, None, &mut rng), None);
        assert_eq!(policy.next_delay(u32::MAX, None, &mut rng), None);
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_the_cap() {
        let policy = RetryPolicy::parse_schedule("1s")
            .and_then(|p| p.with_jitter(0.0))
            .expect("valid")
            .with_retry_after_cap(Duration::from_secs(60));
        let mut rng = StdRng::seed_from_u64(7);
        let mut delay = |asked| policy.next_delay(1, Some(Duration::from_secs(asked)), &mut rng);
        assert_eq!(delay(0), Some(Duration::from_secs(1)));
        assert_eq!(delay(30), Some(Duration::from_secs(30)));
        assert_eq!(delay(86_400), Some(Duration::from_secs(60)));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = Timestamp::parse("2015-10-21T07:28:00Z").expect("valid");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:30 GMT", now),
            Some(Duration::from_secs(150))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for junk in ["", "-5", "1.5", "soon", "2015-10-21T07:30:30Z"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }
}
