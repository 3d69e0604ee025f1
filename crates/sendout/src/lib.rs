//! The sendout binary's library: configuration, the application layer, its two front ends
//! (the HTTP API and the dashboard), the delivery workers and the command line. `main` only
//! parses arguments and calls [`cli::run`].
//!
//! Data flows one way: [`http`] and [`dashboard`] parse requests into typed inputs and call
//! [`ops`], which applies the rules and calls the store (ingest, the API's alone, commits an
//! event with all its send outs); [`delivery`] workers claim due send outs from the store,
//! make the HTTP attempts and write the outcomes back; [`notify`] mails the notices the store
//! records when a target is turned off or on. [`app`] composes the two front ends.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod delivery;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod peer;
pub mod telemetry;
