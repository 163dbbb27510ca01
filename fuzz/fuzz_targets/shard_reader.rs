//! Fuzz target `shard_reader`: see `harness::shard_reader` (fuzz/harness.rs) for what it feeds and what must hold.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(
    // libfuzzer-sys's panic hook aborts before unwinding, which would also end the process on a panic inside the
    // parquet crate that the reader turns into a typed error (electra_pipeline::parquet_guard, the issue 17
    // finding in fuzz/regressions/shard_reader/). This hook prints and lets the panic unwind: one caught by the
    // guard is the reader's error, and any other still reaches libfuzzer-sys's catch_unwind, which aborts: a crash.
    init: std::panic::set_hook(Box::new(|info| eprintln!("{info}"))),
    |data: &[u8]| harness::shard_reader(data)
);
