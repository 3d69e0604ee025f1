//! The settings of operational webhooks (issue 18 item 4): the operator's URL, which gets
//! every project's operational events, the secret they are signed with, their own retry
//! schedule, and the window `sendout.send_out.exhausted` is coalesced over. Parsed once at
//! start: a bad value stops sendout before it touches the store.

use std::time::Duration;

use ipnet::IpNet;
use sendout_core::input::TargetUrl;
use sendout_core::retry::RetryPolicy;

use super::{invalid, positive_duration, ConfigError, Secret};
use crate::delivery::ssrf::TargetPolicy;

/// Fewest characters of the operator's signing secret.
pub const MIN_SECRET_CHARS: usize = 24;

/// The operator's endpoint, when one is configured.
#[derive(Debug, Clone)]
pub struct OperatorEndpoint {
    pub url: TargetUrl,
    /// Signs its deliveries in both schemes, as a project's `webhook_token` signs the
    /// project's (`whsec_` + base64 of it for Standard Webhooks).
    pub secret: Secret,
}

/// How operational events are delivered.
#[derive(Debug, Clone)]
pub struct Operational {
    /// `None`: only projects that set their own URL get operational events.
    pub operator: Option<OperatorEndpoint>,
    /// The retries of operational send outs, apart from the webhooks' schedule.
    pub retry: RetryPolicy,
    /// At most one `sendout.send_out.exhausted` per target per this window.
    pub exhausted_window: Duration,
}

/// The raw values, as the layered configuration gives them.
pub(super) struct RawOperational<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub retry_schedule: &'a str,
    pub retry_jitter: f64,
    pub exhausted_window: &'a str,
}

pub(super) fn parse(
    raw: RawOperational<'_>,
    allowed: &[IpNet],
) -> Result<Operational, ConfigError> {
    let (url, secret) = (raw.url.trim(), raw.secret.trim());
    let operator = match (url.is_empty(), secret.is_empty()) {
        (true, true) => None,
        (true, false) => {
            return Err(invalid(
                "operational_webhook_secret",
                "SENDOUT_OPERATIONAL_WEBHOOK_SECRET",
                "is set but SENDOUT_OPERATIONAL_WEBHOOK_URL is not: set both, or neither",
            ))
        }
        (false, true) => {
            return Err(invalid(
                "operational_webhook_secret",
                "SENDOUT_OPERATIONAL_WEBHOOK_SECRET",
                "must be set with SENDOUT_OPERATIONAL_WEBHOOK_URL: the secret its deliveries \
                 are signed with (a random one: `openssl rand -hex 24`)",
            ))
        }
        (false, false) => {
            let bad_url = |message: String| {
                invalid(
                    "operational_webhook_url",
                    "SENDOUT_OPERATIONAL_WEBHOOK_URL",
                    message,
                )
            };
            let url = TargetUrl::parse(url).map_err(|e| bad_url(e.to_string()))?;
            safe_target(&url, allowed).map_err(bad_url)?;
            if secret.chars().count() < MIN_SECRET_CHARS {
                return Err(invalid(
                    "operational_webhook_secret",
                    "SENDOUT_OPERATIONAL_WEBHOOK_SECRET",
                    format!(
                        "is {} characters long; use at least {MIN_SECRET_CHARS} (a random \
                         one: `openssl rand -hex 24`)",
                        secret.chars().count()
                    ),
                ));
            }
            Some(OperatorEndpoint {
                url,
                secret: Secret::new(secret),
            })
        }
    };
    let retry = match raw.retry_schedule.trim() {
        "voucherify" => RetryPolicy::voucherify(),
        text => RetryPolicy::parse_schedule(text).map_err(|e| {
            invalid(
                "operational_retry_schedule",
                "SENDOUT_OPERATIONAL_RETRY_SCHEDULE",
                e,
            )
        })?,
    }
    .with_jitter(raw.retry_jitter)
    .map_err(|e| invalid("retry_jitter", "SENDOUT_RETRY_JITTER", e))?;
    Ok(Operational {
        operator,
        retry,
        exhausted_window: positive_duration(
            "operational_exhausted_window",
            "SENDOUT_OPERATIONAL_EXHAUSTED_WINDOW",
            raw.exhausted_window,
        )?,
    })
}

/// Refuses a URL whose host is an address that targets may not reach (private, loopback,
/// link-local, metadata, unless `allowed`): the rule every delivery meets at connect time,
/// applied when the URL is given so that a setting that could never be delivered to is not
/// taken. A name is checked when its deliveries connect, on every address it resolves to.
pub fn safe_target(url: &TargetUrl, allowed: &[IpNet]) -> Result<(), String> {
    let parsed = url::Url::parse(&url.to_string()).map_err(|e| e.to_string())?;
    TargetPolicy::new(allowed)
        .check_url(&parsed)
        .map_err(|refused| format!("`{url}` is not a safe target: {refused}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw<'a>(url: &'a str, secret: &'a str) -> RawOperational<'a> {
        RawOperational {
            url,
            secret,
            retry_schedule: "1m,5m",
            retry_jitter: 0.1,
            exhausted_window: "1h",
        }
    }

    #[test]
    fn the_operator_endpoint_needs_a_safe_url_and_a_long_secret() {
        let secret = "0123456789abcdef01234567";
        assert!(parse(raw("", ""), &[]).unwrap().operator.is_none());
        let set = parse(raw("https://ops.example/hooks", secret), &[]).unwrap();
        assert_eq!(
            set.operator.unwrap().url.to_string(),
            "https://ops.example/hooks"
        );
        for (url, secret, says) in [
            ("", secret, "set both"),
            ("https://ops.example/hooks", "", "must be set"),
            ("https://ops.example/hooks", "short", "characters long"),
            ("ftp://ops.example/", secret, "operational_webhook_url"),
            ("http://169.254.169.254/latest", secret, "not a safe target"),
            ("http://127.0.0.1:9/", secret, "not a safe target"),
        ] {
            let error = parse(raw(url, secret), &[]).expect_err(url).to_string();
            assert!(error.contains(says), "{url}: {error}");
            assert!(!error.contains(secret) || secret.is_empty(), "{error}");
        }
        let loopback: IpNet = "127.0.0.0/8".parse().unwrap();
        assert!(parse(raw("http://127.0.0.1:9/", secret), &[loopback])
            .unwrap()
            .operator
            .is_some());
    }
}
