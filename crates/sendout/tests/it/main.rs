//! sendout's integration tests, one binary (zero2prod's `tests/api/main.rs` shape): each
//! module below is one area, run against the real app, store, binary and receivers;
//! `helpers` is the one harness they share (the app on port 0, the recording receiver, the
//! retry harness, the real binary as a child process, PostgreSQL test databases, store
//! snapshots).
//!
//! `cargo nextest run -p sendout` runs every test in a process of its own (as CI does);
//! `cargo nextest run -p sendout -E 'test(/^api::/)'` runs one area. Tests that need
//! PostgreSQL, Chromium or the Voucherify SDK fail, never skip, without them (see the README).
//! `GET /metrics` has its own binary (`tests/metrics.rs`): its counters are the process's.

mod helpers;

mod api;
mod cli;
mod crash;
mod dashboard;
mod delivery;
mod disk_full;
mod distributions;
mod first_start;
mod hostile_input;
mod hostile_receivers;
mod limits;
mod listener;
mod multinode;
mod notices;
mod operational;
mod secrets_in_logs;
mod shutdown;
mod tenants;
mod voucherify_clients;
