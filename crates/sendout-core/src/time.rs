//! Timestamps as the API and the envelope write them: ISO-8601 UTC with exactly three
//! fractional digits (`2024-01-01T11:11:11.111Z`). Stored values keep millisecond precision
//! only, so a timestamp read back from the store compares equal to the one written.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with millisecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO-8601 timestamp such as 2024-01-01T11:11:11.111Z")]
pub struct TimestampError(String);

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// A timestamp from milliseconds since the Unix epoch.
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (the `webhook-timestamp` header).
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Parses RFC 3339 text with any offset and any precision; the result is UTC, truncated
    /// to milliseconds.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Self(t.timestamp_millis()))
            .map_err(|_| TimestampError(text.to_owned()))
    }

    /// This instant moved by a signed number of milliseconds.
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// This instant moved forward by `duration`, to the millisecond, saturating (a duration
    /// of centuries is as good as forever).
    pub fn plus(self, duration: std::time::Duration) -> Self {
        self.plus_millis(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
    }

    fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_moves_forward_by_whole_milliseconds_and_saturates() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(
            t.plus(std::time::Duration::from_micros(2_999)).as_millis(),
            1_002
        );
        assert_eq!(
            t.plus(std::time::Duration::MAX).as_millis(),
            i64::MAX,
            "saturates"
        );
    }

    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = Timestamp::parse("2024-01-01T11:11:11.111Z").expect("valid");
        assert_eq!(t.to_string(), "2024-01-01T11:11:11.111Z");
        assert_eq!(
            Timestamp::parse("2024-01-01T12:11:11+01:00")
                .expect("valid")
                .to_string(),
            "2024-01-01T11:11:11.000Z"
        );
        assert_eq!(t.as_secs(), 1_704_107_471);
    }

    #[test]
    fn refuses_text_that_is_not_a_timestamp() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2024-13-01T00:00:00Z").is_err());
    }
}
