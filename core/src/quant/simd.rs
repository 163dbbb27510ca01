//! Float loops compiled twice on x86-64: for the baseline (SSE2) and for AVX2, picked at run time.
//!
//! The int8 kernels have hand-written twins; the float loops around them (LayerNorm, softmax,
//! GELU, quantization, epilogues) are plain Rust that LLVM vectorizes, and they vectorize twice as
//! wide with AVX2. Results are the same bits either way: every operation is element-wise IEEE
//! arithmetic in the same order (sums run in explicit eight-lane order, and Rust never fuses a
//! multiply and an add on its own). Elsewhere (Arm) there is one version.

/// Whether the AVX2 versions may run.
#[inline(always)]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::kernels::x86::has_avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `fn name(args) -> ret { body }` → the same function, whose body is compiled once for the
/// baseline and once with AVX2 enabled, the AVX2 copy used when the CPU has it. Helpers the body
/// calls must be `#[inline(always)]` to be compiled into the AVX2 copy.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::quant::simd::avx2() {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;
