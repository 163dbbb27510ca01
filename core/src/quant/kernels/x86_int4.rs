//! x86 AVX2 int8 × int4 kernel: the same bits as [`super::gemm_i8_i4_scalar`], without unpacking to
//! int8 and without the int8 twin's horizontal reduction per output and group (which made the
//! unpack-then-int8 path slower than int8 weights).
//!
//! Eight output rows share a vector, one 32-bit lane each. A lane of the weight tile holds eight
//! consecutive nibbles of its row (four bytes), xor-ed with `0x88` so each nibble reads as the
//! unsigned `w + 8 ∈ [0, 15]`: `and 0x0f` gives inputs `0, 2, 4, 6`, `shift 4, and 0x0f` inputs
//! `1, 3, 5, 7`. The eight int8 activations are broadcast and split the same way (`pshufb`), so
//! `vpmaddubsw` (unsigned weight × signed activation, at most `15 · 127 · 2` per pair: no
//! saturation) and `vpmaddwd` give per-lane int32 sums of `(w + 8) · a`; subtracting `8 · Σ a` over
//! the group (per row, computed once per block of rows) leaves the exact int32 group sum. Each
//! group's sum is converted to f32 once and added as `acc + scale · sum` (a multiply then an add,
//! never fused, in increasing group order): exactly the definition's rounding, lane by lane.
//!
//! Views the layout does not cover (a group or view start or length not a multiple of 8, or more
//! inputs or groups than the stack buffers hold) go through [`super::gemm_i8_i4_via`].

use super::{check_i4_shapes, gemm_i8_i4_via, I4Weights};
use core::arch::x86_64::*;

/// Output rows per vector (one 32-bit lane each).
const NR: usize = 8;
/// Rows of `a` whose per-group activation sums are kept at once (`MB · SEG_MAX` int32 on the stack).
const MB: usize = 64;
/// Most inputs of a view on the fast path: the weight tile is `K_MAX / 8 · NR` words (16 KiB).
const K_MAX: usize = 4096;
/// Most groups a view may touch on the fast path (scales `SEG_MAX · NR`, sums `MB · SEG_MAX`).
const SEG_MAX: usize = 128;

/// The AVX2 int4 kernel, if this CPU has AVX2.
pub fn avx2() -> Option<super::GemmI8I4> {
    super::super::x86::has_avx2().then_some(gemm_i8_i4_avx2 as super::GemmI8I4)
}

/// Whether the nibble-lane layout covers this view.
fn fits(k: usize, b: &I4Weights) -> bool {
    let groups_touched = if k == 0 { 0 } else { (b.k0 + k).div_ceil(b.group) - b.k0 / b.group };
    b.group.is_multiple_of(8)
        && b.k0.is_multiple_of(8)
        && k.is_multiple_of(8)
        && k <= K_MAX
        && groups_touched <= SEG_MAX
}

/// Reachable only through [`avx2`], which exists only when the CPU has AVX2.
fn gemm_i8_i4_avx2(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    check_i4_shapes(m, n, k, a, lda, b, c, ldc);
    if !fits(k, b) || !super::super::x86::has_avx2() {
        return gemm_i8_i4_via(super::super::best().gemm_i8_fn(), m, n, k, a, lda, b, c, ldc);
    }
    // SAFETY: AVX2 is present (checked above); every load stays inside the operands, whose
    // lengths check_i4_shapes verified (see the comments at each load).
    unsafe { avx2_body(m, n, k, a, lda, b, c, ldc) }
}

/// The input range `[start, end)` of the view (relative to `k0`) that falls in segment `s` (group
/// `k0 / group + s`).
#[inline(always)]
fn segment(s: usize, k: usize, b: &I4Weights) -> (usize, usize) {
    let g = b.k0 / b.group + s;
    ((g * b.group).saturating_sub(b.k0), ((g + 1) * b.group - b.k0).min(k))
}

#[target_feature(enable = "avx2")]
unsafe fn avx2_body(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    // SAFETY: see the caller; AVX2 is enabled for this function.
    unsafe {
        let (bytes, groups) = (b.n_in / 2, b.n_in / b.group);
        let g0 = b.k0 / b.group;
        let nseg = if k == 0 { 0 } else { (b.k0 + k).div_ceil(b.group) - g0 };
        let octets = k / 8;
        let mut w_tile = [0u32; K_MAX / 8 * NR];
        let mut scales = [0f32; SEG_MAX * NR];
        let mut asum = [0i32; MB * SEG_MAX];
        for i0 in (0..m).step_by(MB) {
            let mb = MB.min(m - i0);
            for ii in 0..mb {
                let row = &a[(i0 + ii) * lda..(i0 + ii) * lda + k];
                for s in 0..nseg {
                    let (start, end) = segment(s, k, b);
                    asum[ii * SEG_MAX + s] = row[start..end].iter().map(|&v| v as i32).sum();
                }
            }
            for j0 in (0..n).step_by(NR) {
                let nb = NR.min(n - j0);
                for jj in 0..NR {
                    if jj < nb {
                        let row = &b.nibbles[(j0 + jj) * bytes..(j0 + jj + 1) * bytes];
                        for o in 0..octets {
                            // k0 + k <= n_in, so these four bytes lie inside the row.
                            let p = (b.k0 + 8 * o) / 2;
                            let word = u32::from_le_bytes([row[p], row[p + 1], row[p + 2], row[p + 3]]);
                            w_tile[o * NR + jj] = word ^ 0x8888_8888;
                        }
                        for s in 0..nseg {
                            scales[s * NR + jj] = b.scales.get((j0 + jj) * groups + g0 + s);
                        }
                    } else {
                        // Lanes past n: computed, never stored.
                        for o in 0..octets {
                            w_tile[o * NR + jj] = 0;
                        }
                        for s in 0..nseg {
                            scales[s * NR + jj] = 0.0;
                        }
                    }
                }
                let mut ii = 0;
                while ii < mb {
                    let mut out = [[0f32; NR]; 4];
                    let r = if mb - ii >= 4 {
                        rows::<4>(a, lda, i0 + ii, k, b, nseg, &w_tile, &scales, &asum[ii * SEG_MAX..], &mut out);
                        4
                    } else {
                        rows::<1>(a, lda, i0 + ii, k, b, nseg, &w_tile, &scales, &asum[ii * SEG_MAX..], &mut out);
                        1
                    };
                    for (rr, o) in out.iter().enumerate().take(r) {
                        let at = (i0 + ii + rr) * ldc + j0;
                        c[at..at + nb].copy_from_slice(&o[..nb]);
                    }
                    ii += r;
                }
            }
        }
    }
}

/// `R` rows of `a` from row `i` against the packed tile: `out[r][jj]` for output `j0 + jj`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rows<const R: usize>(
    a: &[i8],
    lda: usize,
    i: usize,
    k: usize,
    b: &I4Weights,
    nseg: usize,
    w_tile: &[u32],
    scales: &[f32],
    asum: &[i32],
    out: &mut [[f32; NR]; 4],
) {
    // SAFETY: see the caller; AVX2 is enabled for this function.
    unsafe {
        let low = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        // Within each 128-bit half the broadcast holds the 8 activations twice; every 32-bit lane
        // gets the even ones (inputs 0, 2, 4, 6) or the odd ones.
        let even = _mm256_setr_epi8(
            0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6,
        );
        let odd = _mm256_setr_epi8(
            1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7,
        );
        let mut acc = [_mm256_setzero_ps(); R];
        for s in 0..nseg {
            let (start, end) = segment(s, k, b);
            let mut sums = [_mm256_setzero_si256(); R];
            for o in start / 8..end / 8 {
                // o < k / 8 and w_tile holds K_MAX / 8 · NR words.
                let w = _mm256_loadu_si256(w_tile.as_ptr().add(o * NR) as *const __m256i);
                let w_even = _mm256_and_si256(w, low);
                let w_odd = _mm256_and_si256(_mm256_srli_epi32(w, 4), low);
                for r in 0..R {
                    // Row i + r < m and 8 · o + 8 <= k <= lda: inside a (check_i4_shapes).
                    let eight = (a.as_ptr().add((i + r) * lda + 8 * o) as *const i64).read_unaligned();
                    let av = _mm256_set1_epi64x(eight);
                    let pairs = _mm256_add_epi16(
                        _mm256_maddubs_epi16(w_even, _mm256_shuffle_epi8(av, even)),
                        _mm256_maddubs_epi16(w_odd, _mm256_shuffle_epi8(av, odd)),
                    );
                    sums[r] = _mm256_add_epi32(sums[r], _mm256_madd_epi16(pairs, ones));
                }
            }
            let scale = _mm256_loadu_ps(scales.as_ptr().add(s * NR));
            for r in 0..R {
                // Σ (w + 8) · a − 8 · Σ a = Σ w · a, exact in int32.
                let bias = _mm256_set1_epi32(8 * asum[r * SEG_MAX + s]);
                let sum = _mm256_cvtepi32_ps(_mm256_sub_epi32(sums[r], bias));
                acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(scale, sum));
            }
        }
        for r in 0..R {
            _mm256_storeu_ps(out[r].as_mut_ptr(), acc[r]);
        }
    }
}
