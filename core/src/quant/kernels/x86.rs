//! x86-64 twins.
//!
//! Both compute tiles of `MR × NR` outputs, each a dot product of a row of `a` with a row of `b`
//! accumulated in one 256-bit vector of int32 lanes and summed across lanes at the end; the
//! `k % step` tail is loaded zero-padded (a zero on either side adds nothing).
//!
//! - `Avx2`: `vpmaddubsw` multiplies unsigned by signed bytes, so `|b| · (a·sign(b))` = `a·b`;
//!   with `|a| ≤ 127` a pair sum is at most `2·128·127 < 2^15` and never saturates, and `b = -128`
//!   works (`|b| = 128` as an unsigned byte). `vpmaddwd` by ones widens the pairs to int32.
//! - `Vnni` (AVX-512 VNNI on 256-bit vectors: same multiply rate as 512-bit on current cores and
//!   twice the registers of AVX2): `vpdpbusd` multiplies unsigned `a + 128` by signed `b` and adds
//!   four products per lane straight into int32; `128 · Σ_p b[j, p]`, computed once per column
//!   tile, is subtracted at the end. int16 × int8 uses `vpdpwssd`.

use super::Twin;
use core::arch::x86_64::*;

/// Walks column tiles of `NR` rows of `b` (outer, so a tile of `b` stays in L1 while every row
/// tile of `a` passes over it) and row tiles of `MR` rows of `a`; edge tiles get smaller `MR`/`NR`.
/// The first row tile of each column tile is told so (`FIRST`): the VNNI twin computes the column
/// sums it needs there, on the `b` vectors it loads anyway, and the later row tiles reuse them.
macro_rules! tiles {
    ($tile:ident, $m:expr, $n:expr, $k:expr, $a:expr, $lda:expr, $b:expr, $ldb:expr, $c:expr, $ldc:expr,
     $mr:literal, $nr:literal) => {{
        let (m, n, k, a, lda, b, ldb, c, ldc) = ($m, $n, $k, $a, $lda, $b, $ldb, $c, $ldc);
        // Blocks of K_BLOCK along k keep every row tile of `a` in L1 across the column tiles;
        // blocks after the first add to `c`.
        let mut k0 = 0;
        while k0 < k || (k == 0 && k0 == 0) {
            let kc = (k - k0).min(K_BLOCK);
            let accumulate = k0 > 0;
            let (a_k, b_k) = (&a[k0.min(a.len())..], &b[k0.min(b.len())..]);
            let mut j = 0;
            while j < n {
                let nr = (n - j).min($nr);
                let mut sums = [0i32; 4];
                let mut i = 0;
                while i < m {
                    let mr = (m - i).min($mr);
                    if i == 0 {
                        tiles!(@dispatch $tile, true, mr, nr, i, j, kc, a_k, lda, b_k, ldb, c, ldc, &mut sums, accumulate);
                    } else {
                        tiles!(@dispatch $tile, false, mr, nr, i, j, kc, a_k, lda, b_k, ldb, c, ldc, &mut sums, accumulate);
                    }
                    i += mr;
                }
                j += nr;
            }
            k0 += K_BLOCK;
        }
    }};
    (@dispatch $tile:ident, $first:literal, $mr:expr, $nr:expr, $($arg:expr),*) => {
        match ($mr, $nr) {
            (8, 4) => $tile::<8, 4, $first>($($arg),*),
            (8, 3) => $tile::<8, 3, $first>($($arg),*),
            (8, 2) => $tile::<8, 2, $first>($($arg),*),
            (8, _) => $tile::<8, 1, $first>($($arg),*),
            (7, 4) => $tile::<7, 4, $first>($($arg),*),
            (7, 3) => $tile::<7, 3, $first>($($arg),*),
            (7, 2) => $tile::<7, 2, $first>($($arg),*),
            (7, _) => $tile::<7, 1, $first>($($arg),*),
            (6, 4) => $tile::<6, 4, $first>($($arg),*),
            (6, 3) => $tile::<6, 3, $first>($($arg),*),
            (6, 2) => $tile::<6, 2, $first>($($arg),*),
            (6, _) => $tile::<6, 1, $first>($($arg),*),
            (5, 4) => $tile::<5, 4, $first>($($arg),*),
            (5, 3) => $tile::<5, 3, $first>($($arg),*),
            (5, 2) => $tile::<5, 2, $first>($($arg),*),
            (5, _) => $tile::<5, 1, $first>($($arg),*),
            (4, 4) => $tile::<4, 4, $first>($($arg),*),
            (4, 3) => $tile::<4, 3, $first>($($arg),*),
            (4, 2) => $tile::<4, 2, $first>($($arg),*),
            (4, _) => $tile::<4, 1, $first>($($arg),*),
            (3, 4) => $tile::<3, 4, $first>($($arg),*),
            (3, 3) => $tile::<3, 3, $first>($($arg),*),
            (3, 2) => $tile::<3, 2, $first>($($arg),*),
            (3, _) => $tile::<3, 1, $first>($($arg),*),
            (2, 4) => $tile::<2, 4, $first>($($arg),*),
            (2, 3) => $tile::<2, 3, $first>($($arg),*),
            (2, 2) => $tile::<2, 2, $first>($($arg),*),
            (2, _) => $tile::<2, 1, $first>($($arg),*),
            (_, 4) => $tile::<1, 4, $first>($($arg),*),
            (_, 3) => $tile::<1, 3, $first>($($arg),*),
            (_, 2) => $tile::<1, 2, $first>($($arg),*),
            (_, _) => $tile::<1, 1, $first>($($arg),*),
        }
    };
}

/// Columns of `a` and `b` per pass: 4 rows × 256 bytes of `a` per row tile, 32 rows in 8 KiB.
const K_BLOCK: usize = 256;

/// The AVX2 twin, if this CPU has AVX2.
pub fn avx2() -> Option<Twin> {
    has_avx2().then_some(Twin { name: "avx2", gemm_i8: avx2_gemm_i8, gemm_i16_i8: avx2_gemm_i16_i8 })
}

/// The AVX-512 VNNI twin, if this CPU has AVX-512 VNNI, BW and VL.
pub fn vnni() -> Option<Twin> {
    has_vnni().then_some(Twin { name: "avx512-vnni-256", gemm_i8: vnni_gemm_i8, gemm_i16_i8: vnni_gemm_i16_i8 })
}

#[cfg(feature = "std")]
pub(crate) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

#[cfg(not(feature = "std"))]
pub(crate) fn has_avx2() -> bool {
    cfg!(target_feature = "avx2")
}

#[cfg(feature = "std")]
fn has_vnni() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(feature = "std"))]
fn has_vnni() -> bool {
    cfg!(all(
        target_feature = "avx2",
        target_feature = "avx512bw",
        target_feature = "avx512vl",
        target_feature = "avx512vnni"
    ))
}

// The safe entry points below are only reachable through the `Twin`s above, which exist only when
// the CPU has the features.

fn avx2_gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: AVX2 is present (see `avx2()`); shapes checked above.
    unsafe { tiles!(avx2_tile_i8, m, n, k, a, lda, b, ldb, c, ldc, 4, 2) }
}

fn avx2_gemm_i16_i8(
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
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: as above.
    unsafe { tiles!(avx2_tile_i16, m, n, k, a, lda, b, ldb, c, ldc, 4, 2) }
}

pub(super) fn vnni_gemm_i8(
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
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: AVX-512 VNNI/BW/VL are present (see `vnni()`); shapes checked above.
    unsafe { tiles!(vnni_tile_i8, m, n, k, a, lda, b, ldb, c, ldc, 4, 4) }
}

pub(super) fn vnni_gemm_i16_i8(
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
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: as above.
    unsafe { tiles!(vnni_tile_i16, m, n, k, a, lda, b, ldb, c, ldc, 4, 4) }
}

/// Sum of the eight int32 lanes.
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// The lane sums of four accumulators: three `vphaddd` and one add.
#[target_feature(enable = "avx2")]
#[inline]
fn reduce4(v: &[__m256i; 4]) -> __m128i {
    let ab = _mm256_hadd_epi32(v[0], v[1]);
    let cd = _mm256_hadd_epi32(v[2], v[3]);
    let abcd = _mm256_hadd_epi32(ab, cd);
    _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256::<1>(abcd))
}

/// Writes (or with `accumulate`, adds) the lane sums of the `MR × NR` accumulators to `c`, minus
/// `correction[j]` in column `j`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_sums<const MR: usize, const NR: usize>(
    acc: &[[__m256i; NR]; MR],
    correction: &[i32; 4],
    i0: usize,
    j0: usize,
    c: &mut [i32],
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: `correction` is 16 bytes.
    let correction = unsafe { _mm_loadu_si128(correction.as_ptr() as *const __m128i) };
    for i in 0..MR {
        let mut row = [_mm256_setzero_si256(); 4];
        row[..NR].copy_from_slice(&acc[i]);
        let sums = _mm_sub_epi32(reduce4(&row), correction);
        let at = (i0 + i) * ldc + j0;
        let out = &mut c[at..at + NR];
        if NR == 4 {
            let ptr = out.as_mut_ptr() as *mut __m128i;
            // SAFETY: `out` is 4 int32.
            unsafe {
                let sums = if accumulate { _mm_add_epi32(sums, _mm_loadu_si128(ptr)) } else { sums };
                _mm_storeu_si128(ptr, sums)
            };
        } else {
            let mut four = [0i32; 4];
            // SAFETY: `four` is 16 bytes.
            unsafe { _mm_storeu_si128(four.as_mut_ptr() as *mut __m128i, sums) };
            for (o, v) in out.iter_mut().zip(four) {
                *o = if accumulate { o.wrapping_add(v) } else { v };
            }
        }
    }
}

/// 32 bytes at `s[at..]`, or the `len < 32` bytes there followed by zeros.
#[target_feature(enable = "avx2")]
unsafe fn load_i8(s: &[i8], at: usize, len: usize) -> __m256i {
    if len == 32 {
        // SAFETY: the caller guarantees `s[at..at + 32]` is in bounds.
        unsafe { _mm256_loadu_si256(s.as_ptr().add(at) as *const __m256i) }
    } else {
        let mut buf = [0i8; 32];
        buf[..len].copy_from_slice(&s[at..at + len]);
        // SAFETY: `buf` is 32 bytes.
        unsafe { _mm256_loadu_si256(buf.as_ptr() as *const __m256i) }
    }
}

/// 16 int16 at `s[at..]`, zero-padded past `len`.
#[target_feature(enable = "avx2")]
unsafe fn load_i16(s: &[i16], at: usize, len: usize) -> __m256i {
    if len == 16 {
        // SAFETY: the caller guarantees `s[at..at + 16]` is in bounds.
        unsafe { _mm256_loadu_si256(s.as_ptr().add(at) as *const __m256i) }
    } else {
        let mut buf = [0i16; 16];
        buf[..len].copy_from_slice(&s[at..at + len]);
        // SAFETY: `buf` is 32 bytes.
        unsafe { _mm256_loadu_si256(buf.as_ptr() as *const __m256i) }
    }
}

/// 16 int8 at `s[at..]` sign-extended to int16, zero-padded past `len`.
#[target_feature(enable = "avx2")]
unsafe fn load_i8_as_i16(s: &[i8], at: usize, len: usize) -> __m256i {
    if len == 16 {
        // SAFETY: the caller guarantees `s[at..at + 16]` is in bounds.
        unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(s.as_ptr().add(at) as *const __m128i)) }
    } else {
        let mut buf = [0i8; 16];
        buf[..len].copy_from_slice(&s[at..at + len]);
        // SAFETY: `buf` is 16 bytes.
        unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(buf.as_ptr() as *const __m128i)) }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn avx2_tile_i8<const MR: usize, const NR: usize, const FIRST: bool>(
    i0: usize,
    j0: usize,
    k: usize,
    a: &[i8],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
    _sums: &mut [i32; 4],
    accumulate: bool,
) {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_si256(); NR]; MR];
    let mut p = 0;
    while p < k {
        let len = (k - p).min(32);
        let mut b_abs = [_mm256_setzero_si256(); NR];
        let mut b_raw = [_mm256_setzero_si256(); NR];
        for j in 0..NR {
            // SAFETY: row j0 + j of b has k bytes from (j0 + j) * ldb.
            b_raw[j] = unsafe { load_i8(b, (j0 + j) * ldb + p, len) };
            b_abs[j] = _mm256_abs_epi8(b_raw[j]);
        }
        for i in 0..MR {
            // SAFETY: row i0 + i of a has k bytes from (i0 + i) * lda.
            let a_v = unsafe { load_i8(a, (i0 + i) * lda + p, len) };
            for j in 0..NR {
                let signed_a = _mm256_sign_epi8(a_v, b_raw[j]);
                let pairs = _mm256_maddubs_epi16(b_abs[j], signed_a);
                acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(pairs, ones));
            }
        }
        p += len;
    }
    store_sums(&acc, &[0; 4], i0, j0, c, ldc, accumulate);
}

#[target_feature(enable = "avx2")]
unsafe fn avx2_tile_i16<const MR: usize, const NR: usize, const FIRST: bool>(
    i0: usize,
    j0: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
    _sums: &mut [i32; 4],
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_si256(); NR]; MR];
    let mut p = 0;
    while p < k {
        let len = (k - p).min(16);
        let mut b_v = [_mm256_setzero_si256(); NR];
        for j in 0..NR {
            // SAFETY: row j0 + j of b has k values.
            b_v[j] = unsafe { load_i8_as_i16(b, (j0 + j) * ldb + p, len) };
        }
        for i in 0..MR {
            // SAFETY: row i0 + i of a has k values.
            let a_v = unsafe { load_i16(a, (i0 + i) * lda + p, len) };
            for j in 0..NR {
                acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(a_v, b_v[j]));
            }
        }
        p += len;
    }
    store_sums(&acc, &[0; 4], i0, j0, c, ldc, accumulate);
}

/// Lane mask of the first `len` (≤ 32) bytes.
#[inline(always)]
fn byte_mask(len: usize) -> __mmask32 {
    if len >= 32 {
        u32::MAX
    } else {
        (1u32 << len) - 1
    }
}

/// `FIRST`: also computes `column_sums[j] = 128 · Σ_p b[j0 + j, p]` (one more `vpdpbusd` per `b`
/// vector, against all-ones); the other row tiles of the column tile read them.
#[target_feature(enable = "avx2,avx512bw,avx512vl,avx512vnni")]
unsafe fn vnni_tile_i8<const MR: usize, const NR: usize, const FIRST: bool>(
    i0: usize,
    j0: usize,
    k: usize,
    a: &[i8],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
    column_sums: &mut [i32; 4],
    accumulate: bool,
) {
    let offset = _mm256_set1_epi8(-128);
    let ones = _mm256_set1_epi8(1);
    let mut acc = [[_mm256_setzero_si256(); NR]; MR];
    let mut b_sums = [_mm256_setzero_si256(); NR];
    // One step: 32 bytes of every row of the tile (`mask`: the first `len` only, for the tail).
    let mut step = |p: usize, mask: Option<__mmask32>| {
        let mut b_v = [_mm256_setzero_si256(); NR];
        for j in 0..NR {
            let ptr = b.as_ptr().wrapping_add((j0 + j) * ldb + p);
            // SAFETY: full steps read b[row][p..p + 32] with p + 32 ≤ k; the tail's mask covers
            // only the bytes before k.
            b_v[j] = unsafe {
                match mask {
                    None => _mm256_loadu_si256(ptr as *const __m256i),
                    Some(m) => _mm256_maskz_loadu_epi8(m, ptr),
                }
            };
            if FIRST {
                b_sums[j] = _mm256_dpbusd_epi32(b_sums[j], ones, b_v[j]);
            }
        }
        for i in 0..MR {
            let ptr = a.as_ptr().wrapping_add((i0 + i) * lda + p);
            // SAFETY: as above for row i0 + i of a. Masked-off lanes are 0, so 128 after the
            // offset, against b lanes that are 0 too.
            let a_v = unsafe {
                match mask {
                    None => _mm256_loadu_si256(ptr as *const __m256i),
                    Some(m) => _mm256_maskz_loadu_epi8(m, ptr),
                }
            };
            let a_u = _mm256_xor_si256(a_v, offset); // a + 128 as unsigned bytes
            for j in 0..NR {
                acc[i][j] = _mm256_dpbusd_epi32(acc[i][j], a_u, b_v[j]);
            }
        }
    };
    let full = k / 32 * 32;
    let mut p = 0;
    while p < full {
        step(p, None);
        p += 32;
    }
    if p < k {
        step(p, Some(byte_mask(k - p)));
    }
    if FIRST {
        for j in 0..NR {
            column_sums[j] = hsum(b_sums[j]).wrapping_mul(128);
        }
    }
    store_sums(&acc, column_sums, i0, j0, c, ldc, accumulate);
}

#[target_feature(enable = "avx2,avx512bw,avx512vl,avx512vnni")]
unsafe fn vnni_tile_i16<const MR: usize, const NR: usize, const FIRST: bool>(
    i0: usize,
    j0: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
    _sums: &mut [i32; 4],
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_si256(); NR]; MR];
    let mut p = 0;
    while p < k {
        let len = (k - p).min(16);
        let mask16: __mmask16 = if len >= 16 { u16::MAX } else { (1u16 << len) - 1 };
        let mut b_v = [_mm256_setzero_si256(); NR];
        for j in 0..NR {
            // SAFETY: the mask covers only the k values of row j0 + j.
            let bytes = unsafe { _mm_maskz_loadu_epi8(mask16, b.as_ptr().add((j0 + j) * ldb + p)) };
            b_v[j] = _mm256_cvtepi8_epi16(bytes);
        }
        for i in 0..MR {
            // SAFETY: as above for row i0 + i of a.
            let a_v = unsafe { _mm256_maskz_loadu_epi16(mask16, a.as_ptr().add((i0 + i) * lda + p)) };
            for j in 0..NR {
                acc[i][j] = _mm256_dpwssd_epi32(acc[i][j], a_v, b_v[j]);
            }
        }
        p += len;
    }
    store_sums(&acc, &[0; 4], i0, j0, c, ldc, accumulate);
}
