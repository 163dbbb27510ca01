//! Fuzz target `model_file`: see `harness::model_file` (fuzz/harness.rs) for what it feeds and what must hold.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::model_file(data));
