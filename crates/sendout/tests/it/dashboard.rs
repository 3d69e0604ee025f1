//! The dashboard end to end: the real app on port 0 with a fresh store per test, a real
//! loopback receiver, and for the pages a real headless Chromium (see `dashboard/browser.rs`;
//! `scripts/setup/browser.sh` installs it). Sign-in, sessions and CSRF are also checked over
//! plain HTTP (`dashboard/http.rs`), where cookies and statuses can be read directly.
//!
//! Audit-log tests run the app without background workers so that a send out stays where
//! the test put it: every attempt is then one the test asked for (a Retry), and its outcome is
//! on the page the moment the click returns.
#![allow(clippy::unwrap_used)]

mod browser;
mod designer;
mod distributions;
mod forms;
mod health;
mod http;
mod notices;
mod pages;
pub mod person;
mod redaction;
mod sendouts;
pub(crate) mod webhooks;
