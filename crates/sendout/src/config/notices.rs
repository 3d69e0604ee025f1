//! The settings of callout notices (issue 18): the SMTP server mails go through, the address
//! they come from, the links they carry, and the limits of the outbox and of the failing
//! warning. Parsed once at start: a bad value stops sendout before it touches the store.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::Tokio1Executor;

use super::{invalid, positive_duration, ConfigError, Secret};

/// Where mails go out, when email is configured.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS) or
    /// `smtps://user:pass@host:port` (TLS from the start); may hold a password.
    pub url: Secret,
    /// The `From` of every mail, e.g. `sendout <sendout@example.com>`.
    pub from: lettre::message::Mailbox,
}

/// How sendout tells people about its targets.
#[derive(Debug, Clone)]
pub struct Notices {
    /// `None`: email is off (notices are still shown in the dashboard).
    pub smtp: Option<Smtp>,
    /// Where the dashboard is reached, for the links in mails (no trailing slash).
    pub public_url: String,
    /// A target is warned about once its oldest open send out has made this many attempts
    /// (`notice_failing_share` of its retries, and the first attempt); `None` when the
    /// retry schedule has no retries to take a share of.
    pub failing_attempts: Option<u32>,
    /// Whether re-enabling a target is mailed too.
    pub mail_on_enable: bool,
    /// Attempts to send one mail before it is given up.
    pub mail_attempts: u32,
    /// How long a sender holds a claimed mail: longer than one SMTP exchange may take.
    pub mail_lease: Duration,
    /// The wait after a mail's first failed attempt; each later one doubles it, up to an hour.
    pub mail_retry: Duration,
    /// How often the outbox is drained and failing targets looked for.
    pub interval: Duration,
}

/// The raw values, as the layered configuration gives them.
pub(super) struct RawNotices<'a> {
    pub smtp_url: &'a str,
    pub smtp_from: &'a str,
    pub public_url: &'a str,
    pub failing_share: f64,
    pub mail_on_enable: bool,
    pub mail_attempts: u32,
    pub mail_lease: &'a str,
    pub mail_retry: &'a str,
    pub interval: &'a str,
}

pub(super) fn parse(
    raw: RawNotices<'_>,
    listen: SocketAddr,
    retries: usize,
) -> Result<Notices, ConfigError> {
    let smtp = smtp(raw.smtp_url.trim(), raw.smtp_from.trim())?;
    let public_url = match raw.public_url.trim().trim_end_matches('/') {
        "" => format!("http://{listen}"),
        text => {
            let parsed = url::Url::parse(text).map_err(|e| {
                invalid("public_url", "SENDOUT_PUBLIC_URL", format!("`{text}`: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    "public_url",
                    "SENDOUT_PUBLIC_URL",
                    format!("`{text}`: must be an http:// or https:// URL"),
                ));
            }
            text.to_owned()
        }
    };
    let share = raw.failing_share;
    if !(share > 0.0 && share <= 1.0) {
        return Err(invalid(
            "notice_failing_share",
            "SENDOUT_NOTICE_FAILING_SHARE",
            format!("`{share}`: must be more than 0 and at most 1"),
        ));
    }
    if raw.mail_attempts == 0 {
        return Err(invalid(
            "notice_mail_attempts",
            "SENDOUT_NOTICE_MAIL_ATTEMPTS",
            "must be at least 1",
        ));
    }
    Ok(Notices {
        smtp,
        public_url,
        failing_attempts: failing_attempts(share, retries),
        mail_on_enable: raw.mail_on_enable,
        mail_attempts: raw.mail_attempts,
        mail_lease: positive_duration(
            "notice_mail_lease",
            "SENDOUT_NOTICE_MAIL_LEASE",
            raw.mail_lease,
        )?,
        mail_retry: positive_duration(
            "notice_mail_retry",
            "SENDOUT_NOTICE_MAIL_RETRY",
            raw.mail_retry,
        )?,
        interval: positive_duration("notice_interval", "SENDOUT_NOTICE_INTERVAL", raw.interval)?,
    })
}

/// The attempts a send out has made once it has used `share` of `retries` retries (rounded
/// up, at least one retry), counting its first attempt.
fn failing_attempts(share: f64, retries: usize) -> Option<u32> {
    if retries == 0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let used = ((share * retries as f64).ceil() as usize).clamp(1, retries);
    u32::try_from(used + 1).ok()
}

fn smtp(url: &str, from: &str) -> Result<Option<Smtp>, ConfigError> {
    let bad_url = |message: String| invalid("smtp_url", "SENDOUT_SMTP_URL", message);
    if url.is_empty() {
        if !from.is_empty() {
            return Err(invalid(
                "smtp_from",
                "SENDOUT_SMTP_FROM",
                "is set but SENDOUT_SMTP_URL is not: set both, or neither to turn email off",
            ));
        }
        return Ok(None);
    }
    // The URL may hold a password: messages name its scheme and host, never the whole text.
    let parsed = url::Url::parse(url).map_err(|e| bad_url(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") {
        return Err(bad_url(format!(
            "scheme `{}`: expected smtp://host:port or smtps://user:pass@host",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad_url("has no host".into()));
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| bad_url(format!("cannot be used: {e}")))?;
    if from.is_empty() {
        return Err(invalid(
            "smtp_from",
            "SENDOUT_SMTP_FROM",
            "must be set with SENDOUT_SMTP_URL: the address mails come from",
        ));
    }
    let from = from.parse().map_err(|e| {
        invalid(
            "smtp_from",
            "SENDOUT_SMTP_FROM",
            format!("`{from}` is not an email address ({e})"),
        )
    })?;
    Ok(Some(Smtp {
        url: Secret::new(url),
        from,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_warning_comes_at_the_share_of_the_retries() {
        // Voucherify's 12 retries: half of them used after the 7th attempt.
        assert_eq!(failing_attempts(0.5, 12), Some(7));
        assert_eq!(failing_attempts(1.0, 12), Some(13));
        assert_eq!(failing_attempts(0.01, 12), Some(2));
        assert_eq!(failing_attempts(0.5, 0), None);
    }

    #[test]
    fn smtp_settings_are_checked_and_name_no_password() {
        assert!(smtp("", "").unwrap().is_none());
        assert!(smtp("smtp://127.0.0.1:2525", "sendout <s@example.com>")
            .unwrap()
            .is_some());
        assert!(smtp("smtps://u:p@mail.example.com", "s@example.com")
            .unwrap()
            .is_some());
        for (url, from, key) in [
            ("ftp://u:hunter2@host", "s@example.com", "smtp_url"),
            ("smtp://", "s@example.com", "smtp_url"),
            ("not a url hunter2", "s@example.com", "smtp_url"),
            ("smtp://127.0.0.1:2525", "", "smtp_from"),
            ("smtp://127.0.0.1:2525", "not an address", "smtp_from"),
            ("", "s@example.com", "smtp_from"),
        ] {
            let error = smtp(url, from).expect_err(url).to_string();
            assert!(error.contains(key), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
