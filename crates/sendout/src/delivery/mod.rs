//! Delivery: where an attempt is made. [`worker`] claims due send outs from the store and runs
//! attempts with bounded concurrency (overall and per host); [`client`] makes one signed HTTP
//! POST and classifies its outcome; [`ssrf`] refuses targets that resolve to addresses an
//! operator did not allow, at connect time.
//! [`outcome`] decides, as plain functions, what follows an attempt (success, a retry, giving
//! up); `hosts` keeps the worker's per-host queues.

pub mod client;
mod hosts;
pub mod outcome;
pub mod ssrf;
pub mod worker;

pub use client::{http_client, Deliverer, DeliveryError, MAX_RESPONSE_BODY_BYTES, USER_AGENT};
pub use hosts::ResolvedNames;
pub use outcome::{BodyEnd, Verdict};
