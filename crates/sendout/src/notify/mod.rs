//! Callout notices at run time: a background task, beside the delivery workers and never in
//! their way, that every `notice_interval` records warnings about failing targets, makes the
//! operational events of new notices ([`operational`]) and drains the mail outbox over SMTP.
//!
//! The notices themselves are written by the store in the transactions that disable, pause or
//! re-enable a target (see `sendout_store::notices`); this task only reads the queue for
//! warnings and sends what the outbox holds. Each mail is claimed with a lease, sent, then
//! marked sent: a crash before the SMTP server accepted it leaves it to be sent after the
//! lease; a crash between the acceptance and the mark sends it again (the one window of
//! at-least-once, docs/OPERATIONS.md). The SMTP exchange is cut off at half the lease, so a
//! slow server cannot make two nodes send the same mail.

pub mod mail;
mod operational;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sendout_core::ids::ProjectId;
use sendout_core::time::Timestamp;
use sendout_store::notices::{MailClaim, MailOutcome};
use sendout_store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Notices, Operational, Smtp};

/// Most mails claimed in one pass.
const MAILS_PER_PASS: u32 = 20;
/// The longest wait between two attempts at one mail.
const MAX_MAIL_RETRY: Duration = Duration::from_secs(3600);

/// What sends mails: the configured SMTP server, or nothing when email is off.
struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Sender {
    fn new(smtp: &Smtp, exchange_timeout: Duration) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp.url.expose())
            .map_err(|e| e.to_string())?
            .timeout(Some(exchange_timeout))
            .build();
        Ok(Self {
            transport,
            from: smtp.from.clone(),
        })
    }

    async fn send(&self, to: &[String], mail: &mail::Mail) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|e| format!("`{address}` is not an address: {e}"))?;
            message = message.to(mailbox);
        }
        let message = message.body(mail.body.clone()).map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Starts the notice task; it ends when `cancel` fires (a mail being sent is finished first).
pub fn spawn(
    store: Arc<dyn Store>,
    settings: Notices,
    operational: Operational,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let sender = settings.smtp.as_ref().and_then(|smtp| {
            Sender::new(smtp, settings.mail_lease / 2)
                .map_err(|e| tracing::error!(error = %e, "SMTP could not be set up; email is off"))
                .ok()
        });
        loop {
            pass(store.as_ref(), &settings, sender.as_ref()).await;
            match operational::emit(store.as_ref(), &operational, &settings.public_url).await {
                Ok(0) => {}
                Ok(made) => tracing::info!(made, "operational events made"),
                Err(e) => tracing::warn!(error = %e, "operational events could not be made"),
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(settings.interval) => {}
            }
        }
    })
}

/// One round: warnings first (so a warning recorded now is mailed in this round), then the
/// outbox. A failing store is logged and tried again next round.
async fn pass(store: &dyn Store, settings: &Notices, sender: Option<&Sender>) {
    if let Some(attempts) = settings.failing_attempts {
        match store.record_failing(attempts, Timestamp::now()).await {
            Ok(0) => {}
            Ok(warned) => tracing::info!(warned, "failing targets warned about"),
            Err(e) => tracing::warn!(error = %e, "failing targets could not be looked for"),
        }
    }
    loop {
        let claims = match store
            .claim_mails(Timestamp::now(), MAILS_PER_PASS, settings.mail_lease)
            .await
        {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = %e, "the mail outbox could not be read");
                return;
            }
        };
        let full = claims.len() == MAILS_PER_PASS as usize;
        for claim in claims {
            let outcome = send_one(store, settings, sender, &claim).await;
            let written = store.finish_mail(&claim, outcome.clone()).await;
            log(&claim, &outcome, written);
        }
        if !full {
            return;
        }
    }
}

async fn send_one(
    store: &dyn Store,
    settings: &Notices,
    sender: Option<&Sender>,
    claim: &MailClaim,
) -> MailOutcome {
    let notice = &claim.notice;
    let Some(sender) = sender else {
        return MailOutcome::Skipped {
            reason: "email is off (SENDOUT_SMTP_URL is not set)".into(),
        };
    };
    if notice.kind.is_recovery() && !settings.mail_on_enable {
        return MailOutcome::Skipped {
            reason: "mails on re-enabling are off (notice_mail_on_enable)".into(),
        };
    }
    let project_name = match ProjectId::parse(&notice.project_id) {
        Ok(id) => store
            .get_project(&id)
            .await
            .map(|p| p.name)
            .unwrap_or_else(|_| notice.project_id.clone()),
        Err(_) => notice.project_id.clone(),
    };
    let mail = mail::compose(notice, &project_name, &settings.public_url);
    match sender.send(&notice.mail_to, &mail).await {
        Ok(()) => MailOutcome::Sent {
            at: Timestamp::now(),
        },
        Err(error) if notice.mail_attempts >= settings.mail_attempts => {
            MailOutcome::Failed { error }
        }
        Err(error) => MailOutcome::Retry {
            at: Timestamp::now().plus(retry_wait(settings.mail_retry, notice.mail_attempts)),
            error,
        },
    }
}

/// One line per mail, once its outcome is written (so "mailed" means it will not be sent
/// again).
fn log(claim: &MailClaim, outcome: &MailOutcome, written: sendout_store::StoreResult<()>) {
    let (id, kind) = (claim.notice.id, claim.notice.kind.as_str());
    if let Err(e) = written {
        tracing::warn!(notice.id = id, error = %e, "a mail's outcome could not be written");
        return;
    }
    match outcome {
        MailOutcome::Sent { .. } => tracing::info!(notice.id = id, kind, "notice mailed"),
        MailOutcome::Retry { at, error } => {
            tracing::info!(notice.id = id, kind, %error, retry_at = %at, "a notice's mail failed; it is tried again");
        }
        MailOutcome::Failed { error } => {
            tracing::warn!(notice.id = id, kind, %error, "a notice's mail failed for the last time");
        }
        MailOutcome::Skipped { reason } => {
            tracing::info!(notice.id = id, kind, reason = %reason, "notice not mailed");
        }
    }
}

/// The wait after the `attempts`-th failed attempt: `first`, doubled each time, at most an
/// hour.
fn retry_wait(first: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    first
        .saturating_mul(1 << doublings)
        .min(MAX_MAIL_RETRY.max(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_retries_double_up_to_an_hour() {
        let first = Duration::from_secs(30);
        assert_eq!(retry_wait(first, 1), first);
        assert_eq!(retry_wait(first, 2), Duration::from_secs(60));
        assert_eq!(retry_wait(first, 30), MAX_MAIL_RETRY);
    }
}
