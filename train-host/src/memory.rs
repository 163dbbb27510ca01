//! Memory settings of the binaries, which run on mimalloc (`#[global_allocator]` in `src/main.rs`, the
//! benches and the examples).
//!
//! A training step allocates and frees the same few hundred MB of activations every step. By default
//! mimalloc hands freed pages back to the OS after 10 ms and the next step faults them in again, zeroed by
//! the kernel: ~15% of a step's CPU time in `clear_page` on ELECTRA-Small (perf, docs/BENCHMARKS.md).

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v3 `include/mimalloc.h`: the 16th option); the
/// `libmimalloc-sys` bindings do not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse instead of returning it to the OS (mimalloc's purge delay −1). Call at the
/// start of `main`; harmless when mimalloc is not the allocator.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an integer option; mimalloc reads it on later frees.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
