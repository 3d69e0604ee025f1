//! Fuzz target: see `sendout_fuzz::management_body` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sendout_fuzz::management_body(data));
