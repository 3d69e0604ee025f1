//! Callout notices: what sendout tells a project's people about its targets (issue 18), and
//! the outbox their mails go out from.
//!
//! A notice is written in the transaction of the state change that causes it: the disabling
//! of a webhook and the pausing of a distribution in each backend's completion, their
//! re-enabling in the shared catalog and distribution SQL. Who is told is read from the
//! project's `callout_notifications` in that same transaction ([`Recipients::of`]), so a
//! notice records where it goes as the settings were when it happened. Warnings about a
//! failing target are derived from the queue by [`crate::Notices::record_failing`], once per
//! incident (a unique `dedupe_key`).
//!
//! **Operational webhooks.** Every notice is also the outbox of its operational event
//! (`operational_state` written `pending` with it); so is a `send_out.exhausted` notice,
//! written by the completion that gives a webhook's or channel's send out up, at most once
//! per target per window ([`EXHAUSTED`]'s dedupe key), never shown or mailed.
//! [`crate::Notices::emit_operational`] marks a notice emitted in the transaction that stores
//! its event's send outs, once.
//!
//! **The outbox.** A notice with recipients is a pending mail. A sender claims due mails with
//! a lease ([`crate::Notices::claim_mails`], `SKIP LOCKED` on PostgreSQL, so one node sends a
//! given mail), sends, and marks each sent or failed. A mail is sent again only if its
//! sender stopped between the SMTP server's acceptance and the mark (a crash in that window):
//! at least once, and exactly once outside it.

use sendout_core::operational::OperationalType;
use sendout_core::time::Timestamp;
use serde::Serialize;

use crate::model::{CalloutNotification, CalloutNotifications, SourceKind};
use crate::rows::{opt_ts, ts, Columns};
use crate::StoreResult;

/// What a notice says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NoticeKind {
    /// sendout disabled a webhook (its retries ran out, or `410 Gone`).
    WebhookDisabled,
    /// A webhook has failed for a configured share of its retries.
    WebhookFailing,
    /// A webhook sendout had disabled was turned on again.
    WebhookEnabled,
    /// sendout paused a distribution.
    DistributionPaused,
    /// A distribution's channel has failed for a configured share of its retries.
    DistributionFailing,
    /// A distribution sendout had paused was set live again.
    DistributionLive,
    /// A webhook's or channel's send out was given up, at most once per target per window:
    /// recorded only for operational webhooks (never shown in-app, never mailed).
    SendOutExhausted,
}

impl NoticeKind {
    pub const ALL: [Self; 7] = [
        Self::WebhookDisabled,
        Self::WebhookFailing,
        Self::WebhookEnabled,
        Self::DistributionPaused,
        Self::DistributionFailing,
        Self::DistributionLive,
        Self::SendOutExhausted,
    ];

    /// The name stored and shown (`webhook.disabled`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebhookDisabled => "webhook.disabled",
            Self::WebhookFailing => "webhook.failing",
            Self::WebhookEnabled => "webhook.enabled",
            Self::DistributionPaused => "distribution.paused",
            Self::DistributionFailing => "distribution.failing",
            Self::DistributionLive => "distribution.live",
            Self::SendOutExhausted => "send_out.exhausted",
        }
    }

    /// The operational event that reports it.
    pub fn operational(self) -> OperationalType {
        match self {
            Self::WebhookDisabled => OperationalType::WebhookDisabled,
            Self::WebhookFailing => OperationalType::WebhookFailing,
            Self::WebhookEnabled => OperationalType::WebhookEnabled,
            Self::DistributionPaused => OperationalType::DistributionPaused,
            Self::DistributionFailing => OperationalType::DistributionFailing,
            Self::DistributionLive => OperationalType::DistributionLive,
            Self::SendOutExhausted => OperationalType::SendOutExhausted,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The kind of target it is about (an exhausted send out's is in
    /// [`Notice::target_kind`]: either).
    pub fn target_kind(self) -> SourceKind {
        match self {
            Self::WebhookDisabled | Self::WebhookFailing | Self::WebhookEnabled => {
                SourceKind::Webhook
            }
            Self::SendOutExhausted => SourceKind::Webhook,
            _ => SourceKind::Distribution,
        }
    }

    /// The failing warning of a kind of target (operational endpoints get none).
    pub fn failing(target: SourceKind) -> Option<Self> {
        match target {
            SourceKind::Webhook => Some(Self::WebhookFailing),
            SourceKind::Distribution => Some(Self::DistributionFailing),
            SourceKind::Operational => None,
        }
    }

    /// Whether it says a target was turned on again.
    pub fn is_recovery(self) -> bool {
        matches!(self, Self::WebhookEnabled | Self::DistributionLive)
    }
}

/// Where a mail stands in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MailState {
    /// Waiting to be sent (or retried).
    Pending,
    Sent,
    /// Not sent by choice (the operator turned that kind of mail off).
    Skipped,
    /// Given up after its last attempt.
    Failed,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Skipped, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One notice as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub id: i64,
    pub project_id: String,
    pub kind: NoticeKind,
    /// A webhook or a distribution.
    pub target_kind: SourceKind,
    pub target_id: String,
    pub target_url: Option<String>,
    /// The distribution's channel, for a distribution's notice about one.
    pub channel: Option<u32>,
    /// The send out that caused it, if one did.
    pub send_out_id: Option<String>,
    pub reason: Option<String>,
    /// That send out's last attempt: its status, error and (truncated) body.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_body: Option<String>,
    pub created_at: Timestamp,
    /// Shown in the dashboard.
    pub in_app: bool,
    pub read_at: Option<Timestamp>,
    /// Who is mailed; empty: no mail.
    pub mail_to: Vec<String>,
    pub mail_state: Option<MailState>,
    pub mail_attempts: u32,
    pub mail_error: Option<String>,
    pub mail_sent_at: Option<Timestamp>,
}

/// A mail claimed from the outbox, to be sent and then marked under its lease.
#[derive(Debug, Clone)]
pub struct MailClaim {
    pub notice: Notice,
    pub lease_until: Timestamp,
}

/// How an attempt to send a claimed mail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The SMTP server accepted it.
    Sent { at: Timestamp },
    /// It failed and is tried again at `at`.
    Retry { at: Timestamp, error: String },
    /// It failed for the last time.
    Failed { error: String },
    /// Not sent, by the operator's choice (email off, or that kind of mail off).
    Skipped { reason: String },
}

/// What a notice's project asks for: shown in-app or not, and mailed to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recipients {
    pub in_app: bool,
    /// A JSON array of addresses, or `None` for no mail.
    pub mail_to: Option<String>,
}

impl Recipients {
    /// From the project's settings as stored (`None`: the defaults), for a notice about a
    /// target of `kind`.
    pub(crate) fn of(stored: Option<&str>, kind: SourceKind) -> Self {
        let settings: CalloutNotifications = stored
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        let CalloutNotification {
            email,
            emails,
            in_app,
        } = match kind {
            SourceKind::Webhook => settings.webhooks,
            SourceKind::Distribution => settings.distributions,
            SourceKind::Operational => CalloutNotification {
                email: false,
                emails: Vec::new(),
                in_app: false,
            },
        };
        let mail_to =
            (email && !emails.is_empty()).then(|| serde_json::Value::from(emails).to_string());
        Self { in_app, mail_to }
    }
}

/// The project's settings of the project a send out belongs to (`$1`: the send out).
pub(crate) const SETTINGS_OF_SEND_OUT: &str = "SELECT p.callout_notifications FROM projects p \
     JOIN send_outs s ON s.project_id = p.id WHERE s.id = $1";

/// A notice caused by a send out: the disabling of its target (or a warning about it), with
/// its last attempt. `$1` the send out, `$2` the kind, `$3` the reason, `$4` now, `$5`
/// in-app, `$6` the recipients, `$7` the dedupe key.
pub(crate) const FOR_SEND_OUT: &str = "INSERT INTO notices (project_id, kind, target_kind, \
     target_id, target_url, channel, send_out_id, reason, last_status, last_error, last_body, \
     dedupe_key, created_at, in_app, mail_to, mail_state, mail_next_at, operational_state) \
     SELECT s.project_id, $2, s.source_kind, s.source_id, s.target_url, s.channel, s.id, $3, \
     a.response_status, a.error, a.response_body, $7, $4, $5, $6, \
     CASE WHEN $6 IS NULL THEN NULL ELSE 'pending' END, $4, 'pending' \
     FROM send_outs s LEFT JOIN attempts a ON a.send_out_id = s.id AND a.number = s.attempts \
     WHERE s.id = $1 ON CONFLICT (dedupe_key) DO NOTHING";

/// A notice about a target that no send out caused (its re-enabling). `$1` the project, `$2`
/// the kind, `$3` the target's kind, `$4` the target, `$5` its URL, `$6` now, `$7` in-app,
/// `$8` the recipients.
pub(crate) const FOR_TARGET: &str = "INSERT INTO notices (project_id, kind, target_kind, \
     target_id, target_url, created_at, in_app, mail_to, mail_state, mail_next_at, \
     operational_state) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 IS NULL THEN NULL ELSE 'pending' END, \
     $6, 'pending')";

/// A webhook's or channel's send out given up, reported once per target per window: `$1`
/// the send out, `$2` now, `$3` the window ([`exhausted_window`]), `$4` false. Only a send
/// out that did end `FAILED` (a stale completion decides nothing), never a test's, never an
/// operational endpoint's (no operational event is about an operational delivery).
pub(crate) const EXHAUSTED: &str = "INSERT INTO notices (project_id, kind, target_kind, \
     target_id, target_url, channel, send_out_id, reason, last_status, last_error, last_body, \
     dedupe_key, created_at, in_app, operational_state) \
     SELECT s.project_id, 'send_out.exhausted', s.source_kind, s.source_id, s.target_url, \
     s.channel, s.id, s.failure_reason, a.response_status, a.error, a.response_body, \
     'exhausted:' || s.source_id || ':' || COALESCE(CAST(s.channel AS TEXT), '-') || ':' || $3, \
     $2, $4, 'pending' \
     FROM send_outs s LEFT JOIN attempts a ON a.send_out_id = s.id AND a.number = s.attempts \
     WHERE s.id = $1 AND s.status = 'FAILED' AND s.is_test = $4 \
     AND s.source_kind IN ('webhook', 'distribution') ON CONFLICT (dedupe_key) DO NOTHING";

/// The coalescing window `at` falls in, as the exhausted notice's key names it: the number
/// of whole `window`s since the epoch (a zero window is taken as one millisecond).
pub(crate) fn exhausted_window(at: Timestamp, window: std::time::Duration) -> String {
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
    (at.as_millis().div_euclid(window)).to_string()
}

/// A notice whose operational event is still to be made, with the URL its project names
/// for operational events now.
#[derive(Debug, Clone)]
pub struct PendingOperational {
    pub notice: Notice,
    pub project_url: Option<String>,
}

/// `sql` for rusqlite, which numbers its placeholders `?N`.
pub(crate) fn rusqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

pub(crate) fn notice(row: &impl Columns) -> StoreResult<Notice> {
    let kind: String = row.get("kind")?;
    let target_kind: String = row.get("target_kind")?;
    let mail_to: Option<String> = row.get("mail_to")?;
    let mail_state: Option<String> = row.get("mail_state")?;
    let last_status: Option<i64> = row.get("last_status")?;
    let channel: Option<i64> = row.get("channel")?;
    let attempts: i64 = row.get("mail_attempts")?;
    Ok(Notice {
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        kind: NoticeKind::parse(&kind).ok_or_else(|| crate::rows::corrupt("notice kind", &kind))?,
        target_kind: SourceKind::parse(&target_kind)
            .ok_or_else(|| crate::rows::corrupt("notice target kind", &target_kind))?,
        target_id: row.get("target_id")?,
        target_url: row.get("target_url")?,
        channel: channel.and_then(|c| u32::try_from(c).ok()),
        send_out_id: row.get("send_out_id")?,
        reason: row.get("reason")?,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.get("last_error")?,
        last_body: row.get("last_body")?,
        created_at: ts(row.get("created_at")?),
        in_app: row.get("in_app")?,
        read_at: opt_ts(row.get("read_at")?),
        mail_to: match mail_to {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| crate::rows::corrupt("notice recipients", e))?,
            None => Vec::new(),
        },
        mail_state: mail_state.as_deref().and_then(MailState::parse),
        mail_attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        mail_error: row.get("mail_error")?,
        mail_sent_at: opt_ts(row.get("mail_sent_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_follow_the_settings_of_the_targets_kind() {
        let defaults = Recipients::of(None, SourceKind::Webhook);
        assert_eq!(
            defaults,
            Recipients {
                in_app: true,
                mail_to: None
            }
        );
        let stored = r#"{"webhooks":{"email":true,"emails":["a@example.com"],"in_app":false},
            "distributions":{"email":false,"emails":["b@example.com"],"in_app":true}}"#;
        let webhooks = Recipients::of(Some(stored), SourceKind::Webhook);
        assert_eq!(webhooks.mail_to.as_deref(), Some(r#"["a@example.com"]"#));
        assert!(!webhooks.in_app);
        let distributions = Recipients::of(Some(stored), SourceKind::Distribution);
        assert_eq!(distributions.mail_to, None, "email is off for them");
        assert!(distributions.in_app);
    }

    #[test]
    fn kinds_read_back_as_written() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("webhook.exploded"), None);
    }

    #[test]
    fn exhausted_send_outs_of_one_window_share_its_key() {
        let hour = std::time::Duration::from_secs(3600);
        let at = |ms| Timestamp::from_millis(ms);
        assert_eq!(
            exhausted_window(at(3_600_000), hour),
            exhausted_window(at(7_199_999), hour)
        );
        assert_ne!(
            exhausted_window(at(7_199_999), hour),
            exhausted_window(at(7_200_000), hour)
        );
        assert_eq!(exhausted_window(at(5), std::time::Duration::ZERO), "5");
    }
}
