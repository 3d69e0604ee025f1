//! What a notice's mail says: a subject and a plain-text body made from the notice as stored,
//! with no I/O, so every kind is tested here. A mail names the target, why and since when,
//! the last response, a link to the target's failed send outs, and how to turn it on again.

use chrono::{DateTime, Utc};
use sendout_store::notices::{Notice, NoticeKind};

/// A mail before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// Longest part of the last response body quoted in a mail.
const QUOTED_BODY_CHARS: usize = 500;

fn when(notice: &Notice) -> String {
    DateTime::<Utc>::from_timestamp_millis(notice.created_at.as_millis())
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn target(notice: &Notice) -> String {
    let url = notice.target_url.as_deref().unwrap_or("");
    match (notice.target_kind, notice.channel) {
        (sendout_store::SourceKind::Webhook, _) => format!("webhook {} ({url})", notice.target_id),
        (_, Some(channel)) => format!(
            "distribution {}, channel {channel} ({url})",
            notice.target_id
        ),
        _ => format!("distribution {}", notice.target_id),
    }
}

fn last_response(notice: &Notice) -> String {
    let body = notice.last_body.as_deref().map(|body| {
        let quoted: String = body.chars().take(QUOTED_BODY_CHARS).collect();
        if quoted.len() < body.len() {
            format!("{quoted}…")
        } else {
            quoted
        }
    });
    match (notice.last_status, &notice.last_error, body) {
        (Some(status), _, Some(body)) if !body.is_empty() => format!("HTTP {status}: {body}"),
        (Some(status), _, _) => format!("HTTP {status}"),
        (None, Some(error), _) => format!("no response: {error}"),
        _ => "none recorded".into(),
    }
}

/// The mail of `notice`, for the project named `project_name`; links start at `public_url`
/// (the dashboard's origin).
pub fn compose(notice: &Notice, project_name: &str, public_url: &str) -> Mail {
    let project = &notice.project_id;
    let base = format!("{public_url}/dashboard/projects/{project}");
    let failed = format!("{base}/audit-log?source={}&status=FAILED", notice.target_id);
    let target = target(notice);
    let since = when(notice);
    let reason = notice.reason.as_deref().unwrap_or("not recorded");
    let (subject, intro, how) = match notice.kind {
        NoticeKind::WebhookDisabled => (
            format!("sendout disabled a webhook of {project_name}"),
            format!("sendout gave up on the {target} and disabled it."),
            Some(format!(
                "To re-enable it and retry what failed: open {base}/webhooks/{}/edit and use \
                 \"Enable and retry what failed\", or call POST \
                 /management/v1/projects/{project}/webhooks/{}/recover (PUT with \
                 \"active\": true only re-enables it).",
                notice.target_id, notice.target_id
            )),
        ),
        NoticeKind::DistributionPaused => (
            format!("sendout paused a distribution of {project_name}"),
            format!("sendout gave up on the {target} and paused the distribution."),
            Some(format!(
                "To set it live again: open {base}/distributions/{}/edit, or call POST \
                 /v1/distributions/{}/live; retry what failed with POST \
                 /v1/webhook-sendouts/retry.",
                notice.target_id, notice.target_id
            )),
        ),
        // Exhausted send outs are never mailed (their notice has no recipients); were one
        // composed, it would read as a failing target's.
        NoticeKind::WebhookFailing
        | NoticeKind::DistributionFailing
        | NoticeKind::SendOutExhausted => (
            format!("A target of {project_name} is failing"),
            format!(
                "Deliveries to the {target} have been failing: its oldest open send out has \
                 used a large share of its retries. sendout will disable it if they run out."
            ),
            None,
        ),
        NoticeKind::WebhookEnabled => (
            format!("A webhook of {project_name} is enabled again"),
            format!("The {target} was turned on again and receives events."),
            None,
        ),
        NoticeKind::DistributionLive => (
            format!("A distribution of {project_name} is live again"),
            format!("The {target} was set live again and sends events."),
            None,
        ),
    };
    let mut body = format!("{intro}\n\nProject: {project_name} ({project})\nTarget: {target}\n");
    if !notice.kind.is_recovery() {
        if matches!(
            notice.kind,
            NoticeKind::WebhookDisabled | NoticeKind::DistributionPaused
        ) {
            body.push_str(&format!("Why: {reason}\n"));
        }
        body.push_str(&format!(
            "Since: {since}\nLast response: {}\n",
            last_response(notice)
        ));
        if let Some(send_out) = &notice.send_out_id {
            body.push_str(&format!("Send out: {base}/audit-log/{send_out}\n"));
        }
        body.push_str(&format!("Failed send outs: {failed}\n"));
    } else {
        body.push_str(&format!("At: {since}\n"));
    }
    if let Some(how) = how {
        body.push_str(&format!("\n{how}\n"));
    }
    body.push_str(&format!(
        "\nYou receive this because the project's webhooks_callout_notifications name you \
         (settings: {base}/settings).\n"
    ));
    Mail { subject, body }
}

#[cfg(test)]
mod tests {
    use sendout_core::time::Timestamp;

    use super::*;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            id: 1,
            project_id: "proj_x".into(),
            kind,
            target_kind: kind.target_kind(),
            target_id: "wh_1".into(),
            target_url: Some("https://shop.example/hook".into()),
            channel: None,
            send_out_id: Some("so_1".into()),
            reason: Some("retries exhausted".into()),
            last_status: Some(500),
            last_error: None,
            last_body: Some("x".repeat(600)),
            created_at: Timestamp::from_millis(1_700_000_000_000),
            in_app: true,
            read_at: None,
            mail_to: vec!["ops@example.com".into()],
            mail_state: None,
            mail_attempts: 0,
            mail_error: None,
            mail_sent_at: None,
        }
    }

    #[test]
    fn a_disabled_webhooks_mail_says_what_why_since_when_and_how_to_recover() {
        let mail = compose(
            &notice(NoticeKind::WebhookDisabled),
            "Shop",
            "https://sendout.example",
        );
        assert_eq!(mail.subject, "sendout disabled a webhook of Shop");
        for part in [
            "webhook wh_1 (https://shop.example/hook)",
            "Why: retries exhausted",
            "Since: 2023-11-14T22:13:20Z",
            "Last response: HTTP 500: xxx",
            "https://sendout.example/dashboard/projects/proj_x/audit-log?source=wh_1&status=FAILED",
            "/webhooks/wh_1/recover",
        ] {
            assert!(mail.body.contains(part), "{part} in {}", mail.body);
        }
        assert!(!mail.body.contains(&"x".repeat(501)), "the body is cut");
    }

    #[test]
    fn warnings_and_recoveries_say_so() {
        let failing = compose(&notice(NoticeKind::WebhookFailing), "Shop", "http://h");
        assert!(failing.subject.contains("failing"));
        assert!(failing.body.contains("Failed send outs:"));
        let enabled = compose(&notice(NoticeKind::WebhookEnabled), "Shop", "http://h");
        assert!(enabled.subject.contains("enabled again"));
        assert!(!enabled.body.contains("Why:"));
        let mut paused = notice(NoticeKind::DistributionPaused);
        paused.channel = Some(2);
        let paused = compose(&paused, "Shop", "http://h");
        assert!(paused.body.contains("distribution wh_1, channel 2"));
        assert!(paused.body.contains("/live"));
    }
}
