//! The HTTP API end to end: the real app on port 0 with a fresh SQLite store per test, and a
//! real recording receiver on loopback. Waiting is on the receiver's notifications, never on
//! sleeps; where an outcome must be read back from the store, the test drives the attempt
//! itself (a manual retry, a test webhook) or runs the app without workers.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

#[path = "api/errors.rs"]
mod errors;
#[path = "api/ingest.rs"]
mod ingest;
#[path = "api/management.rs"]
mod management;
#[path = "api/operations.rs"]
mod operations;
#[path = "api/sendouts.rs"]
mod sendouts;

use std::time::Duration;

/// How long a test waits for a delivery before failing.
pub const DELIVERY: Duration = Duration::from_secs(10);
