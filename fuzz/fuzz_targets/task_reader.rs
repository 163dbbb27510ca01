//! Fuzz target `task_reader`: see `harness::task_reader` (fuzz/harness.rs) for what it feeds and what must hold.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::task_reader(data));
