//! Fuzz target: see `sendout_fuzz::ingest_body` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sendout_fuzz::ingest_body(data));
