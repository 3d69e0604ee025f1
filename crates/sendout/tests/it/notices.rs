//! Callout notices (issue 18): the mails sendout sends through a real SMTP server on loopback
//! (aiosmtpd, `helpers/smtp.rs`) when it disables a webhook, warns that one is failing, and
//! sees one re-enabled; each exactly once, with the right content, also across a kill -9 and
//! a restart (`notices/process.rs`); none without SMTP configured; bad SMTP settings refused at
//! start. Re-enabling in one step with what failed retried (`notices/recover.rs`).
#![allow(clippy::unwrap_used)]

mod mail;
pub(crate) mod process;
mod recover;
