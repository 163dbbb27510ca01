//! Integer matrix products, the only hot loops of the int8 encoder.
//!
//! Two products, both "rows of A against rows of B" (every operand is read along contiguous rows,
//! which is how HF stores `Linear.weight` `[out, in]`):
//!
//! - [`gemm_i8`]: `C[i, j] = Σ_p A[i, p] · B[j, p]` with int8 `A` (activations, in `[-127, 127]`)
//!   and int8 `B` (weights, any value), int32 `C`. Every linear layer and `Q·Kᵀ`.
//! - [`gemm_i16_i8`]: the same with int16 `A` (attention probabilities, `|A| ≤ 32767`): `P·V`.
//!
//! Each has an obviously correct scalar twin ([`scalar`]) and SIMD twins:
//! - x86-64: AVX2 ([`x86`] `Avx2`), AVX-512 VNNI on 256-bit vectors in dot-product form ([`x86`]
//!   `Vnni`), and AVX-512 VNNI on 512-bit vectors in broadcast form with a packed panel of `b`
//!   ([`x86_vnni`], the fastest from about 20 rows; its `avx512-vnni` twin picks one of the two by
//!   the number of rows), picked at run time with `std` (at compile time from `target_feature`
//!   without it);
//! - Arm Cortex-M4/M7 (`thumbv7em`): [`arm_dsp`], dual 16-bit MACs (`SMLAD`) on sign-extended byte
//!   pairs (`SXTB16`), picked at compile time (see `build.rs`);
//! - 64-bit Arm (`aarch64`): `aarch64.rs`, plain NEON, `sdot` (dotprod) and `smmla` (i8mm), picked at
//!   run time with `std` (at compile time from `target_feature` without it).
//!
//! Integer sums are exact, so every twin must give the same bits as the scalar one; [`check_twin`]
//! is the one harness that checks it, used by the tests on the host and by [`selftest`] on the
//! device (the firmware calls it in QEMU, where the Arm twin runs for real; on the host the Arm twin
//! runs with portable stand-ins for its two instructions).

// BLAS-style argument lists (shape, operand, stride) and index loops over fixed tiles read best here.
#![allow(clippy::too_many_arguments, clippy::needless_range_loop)]

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod arm_dsp;
pub mod helium;
pub mod int4;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "x86_64")]
pub mod x86_vnni;

/// Signature shared by the int8 × int8 twins: `(m, n, k, a, lda, b, ldb, c, ldc)`.
pub type GemmI8 = fn(usize, usize, usize, &[i8], usize, &[i8], usize, &mut [i32], usize);
/// Signature shared by the int16 × int8 twins.
pub type GemmI16I8 = fn(usize, usize, usize, &[i16], usize, &[i8], usize, &mut [i32], usize);

/// One implementation of both products.
#[derive(Clone, Copy)]
pub struct Twin {
    name: &'static str,
    gemm_i8: GemmI8,
    gemm_i16_i8: GemmI16I8,
}

impl Twin {
    /// Which implementation this is (`scalar`, `avx2`, `avx512-vnni-256`, `avx512-vnni-packed`,
    /// `avx512-vnni` (one of the previous two by the number of rows), `arm-dsp`, `arm-dsp-portable`,
    /// `aarch64-neon`, `aarch64-sdot`, `aarch64-smmla`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// This twin's int8 × int8 product (no shape checks beyond its own).
    pub fn gemm_i8_fn(&self) -> GemmI8 {
        self.gemm_i8
    }

    /// This twin's int16 × int8 product.
    pub fn gemm_i16_i8_fn(&self) -> GemmI16I8 {
        self.gemm_i16_i8
    }
}

/// Panics unless the operands hold the rows the shape names: a bug in the caller (every shape in
/// the encoder comes from the plan), never a property of the model or the input.
#[inline]
fn check_shapes<A>(m: usize, n: usize, k: usize, a: &[A], lda: usize, b: &[i8], ldb: usize, c: &[i32], ldc: usize) {
    let need = |rows: usize, ld: usize, cols: usize| if rows == 0 { 0 } else { (rows - 1) * ld + cols };
    assert!(lda >= k && ldb >= k && ldc >= n, "gemm strides");
    assert!(a.len() >= need(m, lda, k) && b.len() >= need(n, ldb, k) && c.len() >= need(m, ldc, n), "gemm operands");
}

/// `c[i·ldc + j] = Σ_{p<k} a[i·lda + p] · b[j·ldb + p]` for `i < m`, `j < n`, int32, with the fastest
/// twin this machine has. `a` must lie in `[-127, 127]`; `b` may be any int8.
#[inline]
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    (best().gemm_i8)(m, n, k, a, lda, b, ldb, c, ldc)
}

/// [`gemm_i8`] with int16 `a` (`|a| ≤ 32767`); callers keep `k · 127 · max|a| < 2^31`.
#[inline]
pub fn gemm_i16_i8(
    m: usize,
    n: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) {
    check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    (best().gemm_i16_i8)(m, n, k, a, lda, b, ldb, c, ldc)
}

/// A view of a weight matrix `[n_full, k_full]` packed once ahead of time (see
/// [`crate::quant::prepack`]): columns `j0..` and values `k0..` of it stand for the `b` of one
/// product, so the packed kernel skips packing. Empty `words` where this CPU has no packed kernel.
#[derive(Clone, Copy, Debug)]
pub struct PackedB<'p> {
    pub words: &'p [i32],
    pub n_full: usize,
    pub k_full: usize,
    pub j0: usize,
    pub k0: usize,
}

impl<'p> PackedB<'p> {
    /// The view from output column `start` on (one attention head's rows of a projection).
    pub fn columns_from(self, start: usize) -> Self {
        Self { j0: self.j0 + start, ..self }
    }

    /// The view from input value `start` on (one head's block of the attention output).
    pub fn values_from(self, start: usize) -> Self {
        Self { k0: self.k0 + start, ..self }
    }
}

/// [`gemm_i8`] where `b` (`[n, k]` at stride `ldb`) may also be given pre-packed: the packed
/// kernel then reads `packed` instead of packing `b`. Same bits either way (exact integer sums;
/// the tests check it); with `packed` `None`, unusable, or too few rows for the packed kernel,
/// this is [`gemm_i8`].
#[inline]
pub fn gemm_i8_packed(
    m: usize,
    n: usize,
    k: usize,
    a: &[i8],
    lda: usize,
    b: &[i8],
    ldb: usize,
    packed: Option<&PackedB>,
    c: &mut [i32],
    ldc: usize,
) {
    check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = packed {
        if m >= x86_vnni::MIN_PACKED_ROWS
            && x86_vnni::gemm_i8_prepacked(m, n, k, a, lda, p.words, (p.n_full, p.k_full, p.j0, p.k0), c, ldc)
        {
            return;
        }
    }
    let _ = packed;
    (best().gemm_i8)(m, n, k, a, lda, b, ldb, c, ldc)
}

/// The scalar reference.
pub const SCALAR: Twin = Twin { name: "scalar", gemm_i8: scalar::gemm_i8, gemm_i16_i8: scalar::gemm_i16_i8 };

/// The Arm DSP twin's algorithm with portable stand-ins for `SMLAD`/`SXTB16`/`PKHBT`/`PKHTB`, so
/// the host tests it too (on Arm the real instructions run).
pub const ARM_DSP: Twin = Twin { name: arm_dsp::NAME, gemm_i8: arm_dsp::gemm_i8, gemm_i16_i8: arm_dsp::gemm_i16_i8 };

/// The Cortex-M55 Helium twin ([`helium`]: 16-lane `VMLADAVA` tiles, tail-predicated loops);
/// portable definitions of the same tiles where MVE is absent, so the host tests it too.
pub const HELIUM: Twin = Twin { name: helium::NAME, gemm_i8: helium::gemm_i8, gemm_i16_i8: helium::gemm_i16_i8 };

/// The twin [`gemm_i8`] and [`gemm_i16_i8`] use on this machine.
#[inline]
pub fn best() -> Twin {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(t) = x86_vnni::twin() {
            return t;
        }
        if let Some(t) = x86_vnni::packed_twin() {
            return t;
        }
        if let Some(t) = x86::vnni() {
            return t;
        }
        if let Some(t) = x86::avx2() {
            return t;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(t) = aarch64::best() {
        return t;
    }
    #[cfg(electra_arm_mve)]
    {
        return HELIUM;
    }
    #[cfg(all(electra_arm_dsp, not(electra_arm_mve)))]
    {
        return ARM_DSP;
    }
    #[allow(unreachable_code)]
    SCALAR
}

/// Every twin that can run here, scalar first.
pub fn available() -> heapless::Vec<Twin, 8> {
    let mut twins = heapless::Vec::new();
    let _ = twins.push(SCALAR);
    let _ = twins.push(ARM_DSP);
    let _ = twins.push(HELIUM);
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(t) = x86::avx2() {
            let _ = twins.push(t);
        }
        if let Some(t) = x86::vnni() {
            let _ = twins.push(t);
        }
        if let Some(t) = x86_vnni::packed_twin() {
            let _ = twins.push(t);
        }
        if let Some(t) = x86_vnni::twin() {
            let _ = twins.push(t);
        }
    }
    #[cfg(target_arch = "aarch64")]
    for t in [aarch64::neon(), aarch64::dotprod(), aarch64::i8mm()].into_iter().flatten() {
        let _ = twins.push(t);
    }
    twins
}

/// A small, fixed pseudo-random generator for the harness (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The first shape and operand on which a twin disagreed with the scalar one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub twin: &'static str,
    pub product: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub i: usize,
    pub j: usize,
    pub expected: i32,
    pub found: i32,
}

/// Buffers for [`check_twin`]: `a8`, `a16` ≥ `m_max · (k_max + 2)`, `b` ≥ `n_max · (k_max + 3)`,
/// `c_ref`, `c_twin` ≥ `m_max · (n_max + 1)`.
pub struct Scratch<'s> {
    pub a8: &'s mut [i8],
    pub a16: &'s mut [i16],
    pub b: &'s mut [i8],
    pub c_ref: &'s mut [i32],
    pub c_twin: &'s mut [i32],
}

/// THE harness: for every `m ∈ ms`, `n ∈ ns`, `k ∈ ks`, random operands with padded strides
/// (extreme values included: `a = ±127`, `b = -128`, `a16 = ±32767`), compares the twin with the
/// scalar product bit for bit, including that it leaves the stride padding of `c` alone.
pub fn check_twin(
    twin: &Twin,
    ms: &[usize],
    ns: &[usize],
    ks: &[usize],
    seed: u64,
    s: &mut Scratch,
) -> Result<(), Mismatch> {
    let mut rng = Rng(seed | 1);
    for &k in ks {
        for &m in ms {
            for &n in ns {
                let (lda, ldb, ldc) = (k + (m % 3), k + (n % 4), n + 1);
                for v in s.a8[..m * lda].iter_mut() {
                    *v = match rng.next() % 16 {
                        0 => 127,
                        1 => -127,
                        _ => ((rng.next() % 255) as i32 - 127) as i8,
                    }
                    .clamp(-127, 127);
                }
                for v in s.a16[..m * lda].iter_mut() {
                    *v = match rng.next() % 16 {
                        0 => 32767,
                        1 => -32767,
                        _ => (rng.next() % 65535) as i16,
                    }
                    .clamp(-32767, 32767);
                }
                for v in s.b[..n * ldb].iter_mut() {
                    *v = if rng.next().is_multiple_of(16) { -128 } else { rng.next() as i8 };
                }
                for (name, run_i16) in [("gemm_i8", false), ("gemm_i16_i8", true)] {
                    let sentinel = 0x5a5a_5a5a;
                    s.c_ref[..m * ldc].fill(sentinel);
                    s.c_twin[..m * ldc].fill(sentinel);
                    if run_i16 {
                        scalar::gemm_i16_i8(m, n, k, s.a16, lda, s.b, ldb, s.c_ref, ldc);
                        (twin.gemm_i16_i8)(m, n, k, s.a16, lda, s.b, ldb, s.c_twin, ldc);
                    } else {
                        scalar::gemm_i8(m, n, k, s.a8, lda, s.b, ldb, s.c_ref, ldc);
                        (twin.gemm_i8)(m, n, k, s.a8, lda, s.b, ldb, s.c_twin, ldc);
                    }
                    for i in 0..m {
                        for j in 0..ldc {
                            let (expected, found) = (s.c_ref[i * ldc + j], s.c_twin[i * ldc + j]);
                            if expected != found {
                                let (twin, product) = (twin.name, name);
                                return Err(Mismatch { twin, product, m, n, k, i, j, expected, found });
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Device self-test: the twin [`best`] picks, against the scalar one, on shapes that exercise
/// every tile and tail path of every twin (`m, n ≤ 9`; `k` from 1 to 130), then the same twin
/// behind the int4 unpacking ([`int4::check_i4_twin`]) against the int4 definition. Uses about
/// 12 KiB of stack and no heap. Returns the first disagreement.
pub fn selftest() -> Result<(), Mismatch> {
    const ROWS: usize = 9;
    const SIZES: [usize; ROWS] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const KS: [usize; 14] = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 130];
    const LD: usize = 130 + 3;
    let mut a8 = [0i8; ROWS * LD];
    let mut a16 = [0i16; ROWS * LD];
    let mut b = [0i8; ROWS * LD];
    // The int4 harness keeps the scales after the outputs: ROWS · 128 / 2 f32 words at most, then
    // as many f16 ones (half as many words).
    let mut c_ref = [0i32; ROWS * (ROWS + 1) + ROWS * 96];
    let mut c_twin = [0i32; ROWS * (ROWS + 1)];
    let mut scratch = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
    check_twin(&best(), &SIZES, &SIZES, &KS, 0x00e1_ec7a, &mut scratch)?;
    const I4_KS: [usize; 6] = [2, 8, 32, 64, 96, 128];
    int4::check_i4_twin(&best(), &SIZES, &SIZES, &I4_KS, &[2, 8, 32], 0x0004_b175, &mut scratch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn every_twin_matches_scalar() {
        // Every small shape, for every tile and tail path...
        let small: vec::Vec<usize> = (1..=14).collect();
        let small_ks = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 256, 300];
        // Under Miri (scripts/reliability/miri.sh) only the scalar twin runs (no SIMD detected) and the shapes
        // below take hours interpreted: a few small ones, with k on either side of 4 and 16, still reach every
        // index the scalar loops compute.
        let (small, small_ks): (vec::Vec<usize>, &[usize]) =
            if cfg!(miri) { (vec![1, 2, 3, 5], &[1, 3, 4, 5, 17]) } else { (small, &small_ks) };
        // ...and shapes past every blocking: more rows than a micro-tile and a row chunk, more
        // columns than a panel, k past a block of `k` (odd sizes on either side of each).
        let large_ms = [1, 7, 13, 19, 20, 64, 130, 260];
        let large_ns = [1, 17, 64, 65, 129];
        let large_ks = [1, 31, 33, 64, 256, 257, 1024, 1100];
        let (rows, ld) = (260, 1100 + 3);
        let (mut a8, mut a16, mut b) = (vec![0i8; rows * ld], vec![0i16; rows * ld], vec![0i8; rows * ld]);
        let (mut c_ref, mut c_twin) = (vec![0i32; rows * (rows + 1)], vec![0i32; rows * (rows + 1)]);
        let twins = available();
        #[cfg(target_arch = "x86_64")]
        {
            let names: vec::Vec<_> = twins.iter().map(|t| t.name()).collect();
            if std::is_x86_feature_detected!("avx2") {
                assert!(names.contains(&"avx2"), "AVX2 twin not tested: build the tests with feature `std`");
            }
            if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl") {
                assert!(names.contains(&"avx512-vnni-256"), "256-bit VNNI twin not tested");
                assert!(names.contains(&"avx512-vnni-packed"), "512-bit VNNI twin not tested");
                assert!(names.contains(&"avx512-vnni"), "VNNI twin by rows not tested");
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let names: vec::Vec<_> = twins.iter().map(|t| t.name()).collect();
            assert!(names.contains(&aarch64::NEON), "NEON twin not tested");
            if std::arch::is_aarch64_feature_detected!("dotprod") {
                assert!(names.contains(&aarch64::SDOT), "sdot twin not tested: build the tests with feature `std`");
            }
            if std::arch::is_aarch64_feature_detected!("i8mm") {
                assert!(names.contains(&aarch64::SMMLA), "smmla twin not tested: build the tests with feature `std`");
            }
        }
        // scripts/test.d/52-aarch64.sh names the twin each emulated CPU must pick, so that a run
        // that silently fell back to a slower twin fails instead of passing on it.
        if let Ok(expected) = std::env::var("ELECTRA_EXPECT_KERNEL") {
            assert_eq!(best().name(), expected, "kernel picked on this CPU");
        }
        std::println!("kernel picked on this machine: {}", best().name());
        std::println!("kernel twins on this machine: {:?}", twins.iter().map(|t| t.name()).collect::<vec::Vec<_>>());
        for twin in &twins {
            let mut scratch = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
            assert_eq!(check_twin(twin, &small, &small, small_ks, 7, &mut scratch), Ok(()));
            if !cfg!(miri) {
                assert_eq!(check_twin(twin, &large_ms, &large_ns, &large_ks, 11, &mut scratch), Ok(()));
            }
        }
        // With selftest (9x9 shapes, k up to 130) this test had not finished after 75 s interpreted; natively
        // it runs here and in the firmware's boot check.
        if !cfg!(miri) {
            assert_eq!(selftest(), Ok(()));
        }
    }

    /// The pre-packed kernel against the scalar product on views of one packed matrix: column
    /// offsets by 16, value offsets by 4, partial blocks and panels, and a view it must refuse.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn prepacked_matches_scalar() {
        if !x86_vnni::can_prepack() {
            std::println!("no AVX-512 VNNI: pre-packed kernel not tested here");
            return;
        }
        let mut rng = Rng(0x9e37_79b9);
        for (n_full, k_full) in [(64, 256), (256, 1024), (100, 300), (17, 5), (130, 513)] {
            let b: vec::Vec<i8> = (0..n_full * k_full)
                .map(|_| if rng.next().is_multiple_of(16) { -128 } else { rng.next() as i8 })
                .collect();
            let mut storage = vec![0i32; x86_vnni::prepacked_words(n_full, k_full) + 16];
            let skip = storage.as_ptr().align_offset(64);
            let words = &mut storage[skip..];
            assert!(x86_vnni::prepack_i8(&b, n_full, k_full, words));
            let words = &*words;
            let views =
                [(0, n_full, 0, k_full), (16, n_full - 16, 4, k_full - 4), (0, n_full.min(64), 64, k_full - 64)];
            for (j0, n, k0, k) in views {
                if j0 >= n_full || k0 >= k_full || n == 0 || k == 0 || j0 + n > n_full || k0 + k > k_full {
                    continue;
                }
                for m in [1, 6, 7, 20, 33, 260] {
                    let lda = k + 3;
                    let a: vec::Vec<i8> = (0..m * lda).map(|_| ((rng.next() % 255) as i32 - 127) as i8).collect();
                    let (ldc, sentinel) = (n + 1, 0x5a5a_5a5a);
                    let mut c_ref = vec![sentinel; m * ldc];
                    let mut c_packed = vec![sentinel; m * ldc];
                    let b_view = &b[j0 * k_full + k0..];
                    scalar::gemm_i8(m, n, k, &a, lda, b_view, k_full, &mut c_ref, ldc);
                    let view = PackedB { words, n_full, k_full, j0, k0 };
                    gemm_i8_packed(m, n, k, &a, lda, b_view, k_full, Some(&view), &mut c_packed, ldc);
                    assert_eq!(c_ref, c_packed, "n_full {n_full} k_full {k_full} view {j0} {n} {k0} {k} m {m}");
                    // Direct call: the packed kernel itself ran (not the fallback).
                    let mut c_direct = vec![sentinel; m * ldc];
                    let shape = (n_full, k_full, j0, k0);
                    assert!(x86_vnni::gemm_i8_prepacked(m, n, k, &a, lda, words, shape, &mut c_direct, ldc));
                    assert_eq!(c_ref, c_direct, "direct: n_full {n_full} k_full {k_full} view {j0} {n} {k0} {k} m {m}");
                }
            }
            // Misaligned views are refused, so the caller falls back.
            let mut c = vec![0i32; 64 * 64];
            let a = vec![1i8; 64 * k_full];
            if n_full > 8 {
                assert!(!x86_vnni::gemm_i8_prepacked(20, 1, 1, &a, k_full, words, (n_full, k_full, 8, 0), &mut c, 64));
            }
            assert!(!x86_vnni::gemm_i8_prepacked(20, 1, 1, &a, k_full, words, (n_full, k_full, 0, 2), &mut c, 64));
        }
    }

    #[test]
    fn harness_catches_a_wrong_twin() {
        fn off_by_one(
            m: usize,
            n: usize,
            k: usize,
            a: &[i8],
            lda: usize,
            b: &[i8],
            ldb: usize,
            c: &mut [i32],
            ldc: usize,
        ) {
            scalar::gemm_i8(m, n, k, a, lda, b, ldb, c, ldc);
            if m == 3 && n == 2 && k == 16 {
                c[ldc + 1] += 1;
            }
        }
        let broken = Twin { name: "broken", gemm_i8: off_by_one, gemm_i16_i8: scalar::gemm_i16_i8 };
        let ld = 20;
        let (mut a8, mut a16, mut b) = (vec![0i8; 4 * ld], vec![0i16; 4 * ld], vec![0i8; 4 * ld]);
        let (mut c_ref, mut c_twin) = (vec![0i32; 20], vec![0i32; 20]);
        let mut scratch = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
        let err = check_twin(&broken, &[1, 2, 3, 4], &[1, 2, 3, 4], &[16], 1, &mut scratch).unwrap_err();
        assert_eq!((err.m, err.n, err.k, err.i, err.j), (3, 2, 16, 1, 1));
    }
}
