//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod app;
pub mod harness;
pub mod receiver;
