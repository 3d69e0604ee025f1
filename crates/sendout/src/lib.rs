//! The sendout binary's library: configuration, the HTTP API and dashboard, the delivery
//! workers and the command line. `main` only parses arguments and calls [`cli::run`].
//!
//! Data flows one way: [`http`] parses requests into core types and hands them to the store
//! (ingest commits an event with all its send outs); [`delivery`] workers claim due send outs
//! from the store, make the HTTP attempts and write the outcomes back.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod delivery;
pub mod http;
pub mod metrics;
pub mod ops;
pub mod telemetry;
