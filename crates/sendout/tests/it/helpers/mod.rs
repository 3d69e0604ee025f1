//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

pub mod app;
pub mod counter;
pub mod harness;
#[path = "../../../../sendout-store/tests/story/pg.rs"]
pub mod pg;
pub mod process;
pub mod receiver;
pub mod smtp;
pub mod snapshot;

/// How long a test waits for a delivery before failing.
pub const DELIVERY: Duration = Duration::from_secs(10);
