//! The HTTP API end to end: the real app on port 0 with a fresh SQLite store per test, and a
//! real recording receiver on loopback. Waiting is on the receiver's notifications, never on
//! sleeps; where an outcome must be read back from the store, the test drives the attempt
//! itself (a manual retry, a test webhook) or runs the app without workers.
#![allow(clippy::unwrap_used)]

mod auth_limit;
mod document;
pub(crate) mod errors;
mod health;
mod idempotency;
mod ingest;
mod management;
mod operations;
pub(crate) mod redaction;
mod sendouts;
