//! `sendout-bench`: how fast this machine delivers webhooks with sendout, beside how fast it
//! can make the same HTTP requests at all (PRODUCT §8). Users run it as `sendout bench`; it
//! is its own crate so the service binary carries none of it.
//!
//! Scenarios (see [`scenarios`]): `bare` (the delivery client and receiver with no engine
//! between them), `throughput` (single and batched ingest, fan-out to 1 and 4), `latency`
//! (a fixed offered rate), `backlog` (a million pending send outs: peak memory and drain rate)
//! and `retry` (a share of attempts failing with 500). Every scenario runs on loopback only,
//! with its own receiver process (this binary as `sendout-bench receiver`) and its own
//! `sendout serve` on a fresh temporary data directory, unless `--server` names a running one
//! (then the scenarios that need to configure or restart the engine are skipped).
//!
//! Sizes are flags; the defaults take a few minutes on two cores, `--quick` a few seconds
//! (a smoke run: the counts are checked, the speeds mean little).
//!
//! The modules stand on each other one way: [`cli`] on [`scenarios`], which drive [`load`],
//! [`bare`] and [`process`] and fill in [`report`]; everything measures with [`measure`].
#![forbid(unsafe_code)]

pub mod bare;
pub mod cli;
pub mod engine;
pub mod load;
pub mod measure;
pub mod process;
pub mod receiver;
pub mod report;
pub mod scenarios;
