//! The real `sendout` binary run as an operator runs it: `sendout migrate` on a fresh SQLite
//! data directory and on a fresh PostgreSQL database (twice, the second run changing nothing),
//! `--database-url` beating `SENDOUT_DATABASE_URL`, and what `sendout serve` prints on its
//! first and later starts.
//!
//! The PostgreSQL test needs a server (`SENDOUT_TEST_DATABASE_URL`, see
//! `sendout-store/tests/story/pg.rs`); it fails, never skips, without one.
#![allow(clippy::unwrap_used)]

mod backup;
mod emit;
mod migrate;
mod serve;
