//! The f32 FMA peak of this machine's cores: the denominator of "fraction of peak" in docs/BENCHMARKS.md
//! ("Pre-training step") and in `scripts/bench-pretrain.sh`, which runs this before the steps it compares.
//!
//! Each thread runs a loop of independent fused multiply-adds on `ACCUMULATORS` vector registers. An FMA
//! has a latency of 4-5 cycles and a core issues up to 2 a cycle, so at least 10 chains must be in flight
//! to keep both units busy; 12 leaves room. The loop touches no memory, so what it measures is what the FMA
//! units can do, the ceiling no product reaches. It runs the widest vectors this CPU offers (AVX-512 `zmm`
//! when present, else AVX2 `ymm`), on 1 thread and then on every thread at once (`RAYON_NUM_THREADS` or all
//! cores), best of `ROUNDS`.
//!
//! Run: `cargo run --release -p electra-train --example fma_peak [-- THREADS]`

use std::hint::black_box;
use std::time::Instant;

/// Independent accumulator registers per loop (see the module doc).
const ACCUMULATORS: usize = 12;
/// Loop trips of one timed call: ~1 G FMAs a call on `ymm`, a few tenths of a second.
const TRIPS: u64 = 10_000_000;
/// Timed calls per thread; the best one counts (the first ones may run before the clock ramps up).
const ROUNDS: usize = 5;

/// One timed run of the widest kernel this CPU has: (GFLOP/s, the kernel's name).
fn run_kernel() -> (f64, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return (unsafe { x86::fma_zmm(TRIPS) }, "AVX-512 zmm FMA");
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return (unsafe { x86::fma_ymm(TRIPS) }, "AVX2 ymm FMA");
        }
    }
    (portable_fma(TRIPS), "scalar mul_add")
}

/// Fallback for CPUs without the vector kernels: what the compiler makes of 12 scalar `mul_add` chains.
fn portable_fma(trips: u64) -> f64 {
    let mut acc = [1.0f32; ACCUMULATORS];
    let (a, b) = (black_box(0.999_999f32), black_box(1e-7f32));
    let start = Instant::now();
    for _ in 0..trips {
        for x in acc.iter_mut() {
            *x = x.mul_add(a, b);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(acc);
    (trips * ACCUMULATORS as u64 * 2) as f64 / secs / 1e9
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{black_box, Instant, ACCUMULATORS};
    use std::arch::x86_64::*;

    /// Defines one kernel: `ACCUMULATORS` chains of `acc ← acc·a + b` on `$lanes`-float registers, `trips`
    /// times; returns GFLOP/s (2 per lane per FMA). `a` slightly below 1 and `b` tiny keep every value finite and
    /// normal for any trip count.
    macro_rules! fma_kernel {
        ($(#[$doc:meta])* $name:ident, $feature:literal, $set1:ident, $fmadd:ident, $lanes:literal) => {
            $(#[$doc])*
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(trips: u64) -> f64 {
                let a = $set1(black_box(0.999_999));
                let b = $set1(black_box(1e-7));
                let mut acc = [$set1(1.0); ACCUMULATORS];
                let start = Instant::now();
                for _ in 0..trips {
                    for x in acc.iter_mut() {
                        *x = $fmadd(*x, a, b);
                    }
                }
                let secs = start.elapsed().as_secs_f64();
                black_box(acc);
                (trips * ACCUMULATORS as u64 * $lanes * 2) as f64 / secs / 1e9
            }
        };
    }

    fma_kernel!(
        /// 8-float `ymm` registers (AVX2 + FMA).
        fma_ymm, "avx2,fma", _mm256_set1_ps, _mm256_fmadd_ps, 8
    );
    fma_kernel!(
        /// 16-float `zmm` registers (AVX-512F).
        fma_zmm, "avx512f", _mm512_set1_ps, _mm512_fmadd_ps, 16
    );
}

/// Best of `ROUNDS` on each of `threads` threads running at once: (per-thread bests, kernel name).
fn peak_on(threads: usize) -> (Vec<f64>, &'static str) {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut best = (0.0f64, "");
                    for _ in 0..ROUNDS {
                        let (gflops, name) = run_kernel();
                        best = (best.0.max(gflops), name);
                    }
                    best
                })
            })
            .collect();
        let results: Vec<(f64, &'static str)> =
            workers.into_iter().map(|w| w.join().unwrap_or((f64::NAN, "a thread panicked"))).collect();
        let name = results.first().map_or("", |r| r.1);
        (results.into_iter().map(|r| r.0).collect(), name)
    })
}

fn main() {
    let all = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .or_else(|| std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (one, name) = peak_on(1);
    println!("fma peak: {:.1} GFLOP/s on 1 thread ({name}, {ACCUMULATORS} chains)", one[0]);
    if all > 1 {
        let each = peak_on(all).0;
        let total: f64 = each.iter().sum();
        let list: Vec<String> = each.iter().map(|g| format!("{g:.1}")).collect();
        println!(
            "fma peak: {total:.1} GFLOP/s on {all} threads at once ({:.1} a thread: {})",
            total / all as f64,
            list.join(", ")
        );
    }
}
