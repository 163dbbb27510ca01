//! The one SIMD dispatch of the project: float loops compiled three times on x86-64, for the baseline
//! (SSE2), for AVX2 and for AVX-512, the widest copy the CPU runs picked at run time ([`multiversion!`]).
//! The float encoder, the int8 encoder and the trainer (`electra-train`'s kernels) all use it.
//!
//! The int8 kernels have hand-written twins; the float loops around them (LayerNorm, softmax,
//! GELU, quantization, epilogues) are plain Rust that LLVM vectorizes, and they vectorize two and
//! four times as wide with AVX2 and AVX-512. Results are the same bits in every copy: every
//! operation is element-wise IEEE arithmetic in the same order (sums run in explicit eight-lane
//! order, maxima are exact in any order, and Rust never fuses a multiply and an add on its own);
//! `core/tests/int8_accuracy.rs` runs a model with each copy ([`force_tier`]) and compares the
//! bits. Elsewhere (Arm) there is one version.

/// The widest copy this CPU runs, found once: 0 not yet known, 1 baseline, 2 AVX2, 3 AVX-512 (one
/// relaxed load per call afterwards instead of several feature tests).
static TIER: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

#[inline(always)]
fn tier() -> u8 {
    use core::sync::atomic::Ordering::Relaxed;
    match TIER.load(Relaxed) {
        0 => {
            #[cfg(target_arch = "x86_64")]
            let tier = if crate::quant::kernels::x86_vnni::has_avx512() {
                3
            } else if crate::quant::kernels::x86::has_avx2() {
                2
            } else {
                1
            };
            #[cfg(not(target_arch = "x86_64"))]
            let tier = 1;
            TIER.store(tier, Relaxed);
            tier
        }
        tier => tier,
    }
}

/// Runs the float loops' `tier` copy from now on (1 baseline, 2 AVX2, 3 AVX-512), capped at what
/// this CPU runs; 0 goes back to the widest. For the test that every copy gives the same bits.
#[doc(hidden)]
pub fn force_tier(tier: u8) {
    use core::sync::atomic::Ordering::Relaxed;
    TIER.store(0, Relaxed);
    let widest = self::tier();
    TIER.store(if tier == 0 { widest } else { tier.min(widest) }, Relaxed);
}

/// Whether the AVX2 versions may run.
#[inline(always)]
pub fn avx2() -> bool {
    tier() >= 2
}

/// Whether the AVX-512 (F, BW, VL, DQ) versions may run.
#[inline(always)]
pub fn avx512() -> bool {
    tier() >= 3
}

/// `fn name(args) -> ret { body }` → the same function, whose body is compiled once for the
/// baseline, once with AVX2 and once with AVX-512 enabled, the widest copy the CPU runs used. Helpers the body
/// calls must be `#[inline(always)]` to be compiled into the AVX2 copy.
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::simd::avx512() {
                    // SAFETY: the CPU has AVX-512 F/BW/VL/DQ (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::simd::avx2() {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
/// The same macro under this module's path (`#[macro_export]` puts it at the crate root).
pub use crate::multiversion;
