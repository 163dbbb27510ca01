//! The AVX-512 VNNI twin: 512-bit vectors, broadcast form, one panel of `b` packed per pass.
//!
//! `C[i, j] = Σ_p A[i, p] · B[j, p]` in blocks of `4` bytes of `k` (a "group": 4 int8, or 2 int16
//! for `A` int16):
//!
//! - a panel of [`NC`] rows of `b` (output columns) × [`KC`] groups is packed once, transposed at
//!   group granularity: `packed[g][j]` = the group `g` of row `j` (4 bytes), so one 64-byte load
//!   is group `g` of 16 columns (a 16 × 16 transpose of 4-byte words does it);
//! - the micro-tile keeps `MR × NV` accumulators of 16 int32 columns each (24 of the 32 zmm
//!   registers): per group it loads `NV` packed vectors, broadcasts the group of each of its `MR`
//!   rows of `a` (read in place, 4 bytes) and issues `MR · NV` `vpdpbusd`. The sums land in the
//!   lanes of their columns: the tile is stored row by row, with no reduction and no transpose.
//!
//! int8 × int8: `vpdpbusd` multiplies unsigned by signed bytes, so the panel holds `b + 128`
//! (unsigned) and `a` is the signed side; `Σ_p (b + 128) · a = Σ_p a · b + 128 · Σ_p a`, and the
//! accumulators start at `-128 · Σ_p a[i, p]` (per row, per block of `k`). Padding bytes of the
//! panel (past `k`, past `n`) are 0, so whatever `a` holds beyond `k` adds nothing. int16 × int8:
//! `vpdpwssd` on `a` pairs against `b` pairs sign-extended to int16 when packed; no correction.
//! The int32 additions wrap, and the exact sum fits in int32, so the result is exact.

use super::Twin;
use core::arch::x86_64::*;

/// int32 lanes per vector.
const LANES: usize = 16;
/// Rows of `a` per micro-tile.
const MR: usize = 6;
/// Vectors of 16 columns per micro-tile.
const NV: usize = 4;
/// Columns per packed panel.
const NC: usize = NV * LANES;
/// Groups (4 bytes of `k`) per block: a packed panel is `KC · NC · 4` bytes = 16 KiB, half of L1.
const KC: usize = 64;
/// Rows whose `Σ a` corrections are computed together (the panel is packed once per `MC` rows).
const MC: usize = 256;

/// Fewer rows than this go to the 256-bit dot-product twin ([`super::x86`] `Vnni`): packing a
/// panel costs about as much as multiplying 16 rows by it, and that twin packs nothing (measured
/// with `core/examples/gemm_bench.rs` on Zen 4: it wins up to 16 rows, loses from 24).
pub(crate) const MIN_PACKED_ROWS: usize = 20;

/// The twin the encoder uses on AVX-512 VNNI CPUs: this packed kernel from [`MIN_PACKED_ROWS`]
/// rows, the 256-bit dot-product one below.
pub fn twin() -> Option<Twin> {
    (has_vnni512() && super::x86::vnni().is_some()).then_some(Twin {
        name: "avx512-vnni",
        gemm_i8: by_rows_i8,
        gemm_i16_i8: by_rows_i16_i8,
    })
}

/// This packed kernel for every shape (so the harness checks it on small shapes too).
pub fn packed_twin() -> Option<Twin> {
    has_vnni512().then_some(Twin { name: "avx512-vnni-packed", gemm_i8, gemm_i16_i8 })
}

fn by_rows_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    if m < MIN_PACKED_ROWS {
        super::x86::vnni_gemm_i8(m, n, k, a, lda, b, ldb, c, ldc)
    } else {
        gemm_i8(m, n, k, a, lda, b, ldb, c, ldc)
    }
}

fn by_rows_i16_i8(
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
    if m < MIN_PACKED_ROWS {
        super::x86::vnni_gemm_i16_i8(m, n, k, a, lda, b, ldb, c, ldc)
    } else {
        gemm_i16_i8(m, n, k, a, lda, b, ldb, c, ldc)
    }
}

#[cfg(feature = "std")]
fn has_vnni512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(feature = "std"))]
fn has_vnni512() -> bool {
    cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vl",
        target_feature = "avx512vnni"
    ))
}

/// AVX-512 F, BW, VL and DQ: what the float loops' AVX-512 copies use (`crate::simd`).
#[cfg(feature = "std")]
pub(crate) fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512dq")
}

#[cfg(not(feature = "std"))]
pub(crate) fn has_avx512() -> bool {
    cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vl",
        target_feature = "avx512dq"
    ))
}

fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: the CPU has the features (`twin()` and `packed_twin()` are the only ways here); the
    // shapes are checked, and `gemm` reads `a` only inside its `m` rows of `k` values.
    unsafe { gemm::<false>(m, n, k, a.as_ptr() as *const u8, lda, b, ldb, c, ldc) }
}

fn gemm_i16_i8(m: usize, n: usize, k: usize, a: &[i16], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: as above, with 2-byte elements of `a`.
    unsafe { gemm::<true>(m, n, k, a.as_ptr() as *const u8, 2 * lda, b, ldb, c, ldc) }
}

/// A 64-byte aligned packed panel.
#[repr(C, align(64))]
struct Panel([i32; KC * NC]);

/// `WIDE`: `a` is int16 (`vpdpwssd`), else int8 (`vpdpbusd`). `a` points at row 0, column 0;
/// `lda_bytes` is its row stride in bytes.
///
/// # Safety
/// AVX-512 F/BW/VNNI present; `a` holds `m` rows of `k` elements at stride `lda_bytes`; `b`, `c`
/// as checked by `check_shapes`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn gemm<const WIDE: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: *const u8,
    lda_bytes: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            c[i * ldc..i * ldc + n].fill(0);
        }
        return;
    }
    // Elements of `k` per 4-byte group.
    let per_group = if WIDE { 2 } else { 4 };
    let elem_bytes = 4 / per_group;
    // Never read before written: `pack_*` writes every group and vector that `tile` reads.
    let mut panel = core::mem::MaybeUninit::<Panel>::uninit();
    let panel = panel.as_mut_ptr() as *mut i32;
    let mut row_sums = [0i32; MC];
    let c_ptr = c.as_mut_ptr();
    // The panel packed next: its rows of `b` are prefetched while the current one is used.
    let mut prefetched = false;
    let mut k0 = 0;
    while k0 < k {
        let kc = (k - k0).min(KC * per_group);
        let accumulate = k0 > 0;
        let mut i0 = 0;
        while i0 < m {
            let mc = (m - i0).min(MC);
            // SAFETY: rows i0..i0 + mc of `a` hold k0 + kc ≤ k elements each.
            let a_block = unsafe { a.add(i0 * lda_bytes + k0 * elem_bytes) };
            if !WIDE {
                for (i, s) in row_sums[..mc].iter_mut().enumerate() {
                    // SAFETY: as above.
                    *s = unsafe { row_sum_i8(a_block.add(i * lda_bytes) as *const i8, kc) }.wrapping_mul(128);
                }
            }
            let mut j0 = 0;
            while j0 < n {
                let nc = (n - j0).min(NC);
                // SAFETY: rows j0..j0 + nc of `b` hold k elements from k0.
                let b_block = unsafe { b.as_ptr().add(j0 * ldb + k0) };
                if !prefetched {
                    // Every line at once: the loads of the packing then wait for one miss, not 16.
                    Prefetch::new(b_block, ldb, nc, kc).issue(usize::MAX);
                }
                // SAFETY: as above; the panel has room for KC groups of NC columns.
                unsafe {
                    if WIDE {
                        pack_i16(b_block, ldb, nc, kc, panel);
                    } else {
                        pack_i8(b_block, ldb, nc, kc, panel);
                    }
                }
                // The next panel: the next columns, or the first ones of the next block of `k`
                // once every row chunk has used this block.
                let next = if j0 + nc < n {
                    Some((j0 + nc, k0, kc))
                } else if i0 + mc >= m && k0 + kc < k {
                    Some((0, k0 + kc, (k - k0 - kc).min(KC * per_group)))
                } else {
                    None
                };
                prefetched = next.is_some();
                let mut prefetch = match next {
                    Some((j, k_at, k_len)) => {
                        // SAFETY: that panel's rows of `b` exist (j < n, k_at < k), so the offset stays in `b`.
                        let panel = unsafe { b.as_ptr().add(j * ldb + k_at) };
                        Prefetch::new(panel, ldb, (n - j).min(NC), k_len)
                    }
                    None => Prefetch::new(b.as_ptr(), ldb, 0, 0),
                };
                // Spread over every group of every row tile: a burst would wait for the misses
                // the cache can have in flight.
                let groups = (kc / per_group).max(1);
                let lines_per_group = prefetch.total().div_ceil(mc.div_ceil(MR) * groups);
                let vectors = nc.div_ceil(LANES);
                let last = nc - (vectors - 1) * LANES;
                let last_mask: __mmask16 = if last == LANES { 0xffff } else { (1u16 << last) - 1 };
                let mut i = 0;
                while i < mc {
                    let mr = (mc - i).min(MR);
                    let mut t = Tile {
                        full_groups: kc / per_group,
                        tail_bytes: (kc % per_group) * elem_bytes,
                        // SAFETY: row i0 + i of `a`, inside the block.
                        a: unsafe { a_block.add(i * lda_bytes) },
                        lda_bytes,
                        packed: panel,
                        row_sums: row_sums[i..].as_ptr(),
                        // SAFETY: (i0 + i, j0) is inside `c` (checked shapes).
                        c: unsafe { c_ptr.add((i0 + i) * ldc + j0) },
                        ldc,
                        last_mask,
                        accumulate,
                        prefetch: &mut prefetch,
                        prefetch_per_group: lines_per_group,
                    };
                    // SAFETY: the tile reads `mr` rows of `a`, `vectors` packed vectors per group,
                    // and writes `mr` rows of `nc` values of `c`.
                    unsafe { dispatch::<WIDE>(mr, vectors, &mut t) };
                    i += mr;
                }
                j0 += nc;
            }
            i0 += mc;
        }
        k0 += kc;
    }
}

/// Software prefetch of the cache lines of `rows` rows of `len` bytes of `b`, a few at a time.
struct Prefetch {
    base: *const i8,
    ldb: usize,
    len: usize,
    rows: usize,
    /// Lines per row, one more than `len` spans at 64-byte alignment (the last one may straddle).
    per_row: usize,
    /// The next line: `line` of row `row`.
    row: usize,
    line: usize,
}

impl Prefetch {
    fn new(base: *const i8, ldb: usize, rows: usize, len: usize) -> Self {
        let per_row = if len == 0 { 0 } else { len.div_ceil(64) + 1 };
        let rows = if len == 0 { 0 } else { rows };
        Self { base, ldb, len, rows, per_row, row: 0, line: 0 }
    }

    fn total(&self) -> usize {
        self.rows * self.per_row
    }

    /// Prefetches the next `count` lines into L1.
    #[inline(always)]
    fn issue(&mut self, count: usize) {
        for _ in 0..count {
            if self.row >= self.rows {
                return;
            }
            let at = self.row * self.ldb + (self.line * 64).min(self.len - 1);
            // SAFETY: byte `at` is inside row `row` of the panel, which exists; a prefetch
            // never faults anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(self.base.add(at)) };
            self.line += 1;
            if self.line == self.per_row {
                self.line = 0;
                self.row += 1;
            }
        }
    }
}

/// One micro-tile's operands.
struct Tile<'p> {
    /// Groups of `k` read as whole 4-byte words.
    full_groups: usize,
    /// Bytes of `a` in a last, partial group (0 to 3).
    tail_bytes: usize,
    a: *const u8,
    lda_bytes: usize,
    packed: *const i32,
    /// `128 · Σ a` of each row (int8 only).
    row_sums: *const i32,
    c: *mut i32,
    ldc: usize,
    /// Columns of the last vector.
    last_mask: __mmask16,
    /// Add to `c` (later blocks of `k`) instead of writing it.
    accumulate: bool,
    /// The next panel's lines, `prefetch_per_group` after each group.
    prefetch: &'p mut Prefetch,
    prefetch_per_group: usize,
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dispatch<const WIDE: bool>(mr: usize, nv: usize, t: &mut Tile) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (mr, nv) {
            (6, 4) => tile::<WIDE, 6, 4>(t),
            (6, 3) => tile::<WIDE, 6, 3>(t),
            (6, 2) => tile::<WIDE, 6, 2>(t),
            (6, _) => tile::<WIDE, 6, 1>(t),
            (5, 4) => tile::<WIDE, 5, 4>(t),
            (5, 3) => tile::<WIDE, 5, 3>(t),
            (5, 2) => tile::<WIDE, 5, 2>(t),
            (5, _) => tile::<WIDE, 5, 1>(t),
            (4, 4) => tile::<WIDE, 4, 4>(t),
            (4, 3) => tile::<WIDE, 4, 3>(t),
            (4, 2) => tile::<WIDE, 4, 2>(t),
            (4, _) => tile::<WIDE, 4, 1>(t),
            (3, 4) => tile::<WIDE, 3, 4>(t),
            (3, 3) => tile::<WIDE, 3, 3>(t),
            (3, 2) => tile::<WIDE, 3, 2>(t),
            (3, _) => tile::<WIDE, 3, 1>(t),
            (2, 4) => tile::<WIDE, 2, 4>(t),
            (2, 3) => tile::<WIDE, 2, 3>(t),
            (2, 2) => tile::<WIDE, 2, 2>(t),
            (2, _) => tile::<WIDE, 2, 1>(t),
            (_, 4) => tile::<WIDE, 1, 4>(t),
            (_, 3) => tile::<WIDE, 1, 3>(t),
            (_, 2) => tile::<WIDE, 1, 2>(t),
            (_, _) => tile::<WIDE, 1, 1>(t),
        }
    }
}

/// `R` rows × `V` vectors of columns over one block of `k`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn tile<const WIDE: bool, const R: usize, const V: usize>(t: &mut Tile) {
    let mut acc = [[_mm512_setzero_si512(); V]; R];
    if !WIDE {
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: `row_sums` has a value for each of the R rows.
            let start = _mm512_set1_epi32(unsafe { *t.row_sums.add(i) }.wrapping_neg());
            row.fill(start);
        }
    }
    // One group: the packed vectors at `$b`, row `i`'s 4 bytes as `$word(i)`.
    macro_rules! step {
        ($b:expr, $word:expr) => {{
            let b: *const i32 = $b;
            let mut b_v = [_mm512_setzero_si512(); V];
            for (v, b_v) in b_v.iter_mut().enumerate() {
                // SAFETY: the panel holds V vectors per group, 64-byte aligned.
                *b_v = unsafe { _mm512_load_si512(b.add(v * LANES) as *const _) };
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let a_v = _mm512_set1_epi32($word(i));
                for (acc, &b_v) in row.iter_mut().zip(&b_v) {
                    *acc = if WIDE { dpwssd(*acc, a_v, b_v) } else { _mm512_dpbusd_epi32(*acc, b_v, a_v) };
                }
            }
        }};
    }
    let mut g = 0;
    while g < t.full_groups {
        // SAFETY: group g of each row lies inside its k values.
        let word = |i: usize| unsafe { core::ptr::read_unaligned(t.a.add(i * t.lda_bytes + 4 * g) as *const i32) };
        // SAFETY: group g < full_groups ≤ KC of the panel.
        step!(unsafe { t.packed.add(g * NC) }, word);
        t.prefetch.issue(t.prefetch_per_group);
        g += 1;
    }
    if t.tail_bytes > 0 {
        let mask = ((1u32 << t.tail_bytes) - 1) as __mmask16;
        // SAFETY: the mask reads only the tail bytes of each row.
        let word = |i: usize| unsafe {
            let bytes = _mm_maskz_loadu_epi8(mask, t.a.add(i * t.lda_bytes + 4 * g) as *const i8);
            _mm_cvtsi128_si32(bytes)
        };
        // SAFETY: the tail group is packed after the full ones.
        step!(unsafe { t.packed.add(g * NC) }, word);
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, &sums) in row.iter().enumerate() {
            // SAFETY: row i of the tile has the tile's columns in `c`; the last vector is masked.
            unsafe {
                let ptr = t.c.add(i * t.ldc + v * LANES);
                let mask = if v + 1 == V { t.last_mask } else { 0xffff };
                let sums =
                    if t.accumulate { _mm512_add_epi32(sums, _mm512_maskz_loadu_epi32(mask, ptr)) } else { sums };
                _mm512_mask_storeu_epi32(ptr, mask, sums);
            }
        }
    }
}

/// `vpdpwssd`, written out: LLVM's generic x86-64 tuning splits `_mm512_dpwssd_epi32` into
/// `vpmaddwd` + `vpaddd`, twice the instructions on CPUs that have the fused one.
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
fn dpwssd(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let mut acc = acc;
    // SAFETY: the instruction exists (target features above); registers only.
    unsafe {
        core::arch::asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        )
    };
    acc
}

/// `Σ_{p < k} a[p]` of one int8 row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn row_sum_i8(a: *const i8, k: usize) -> i32 {
    let ones = _mm512_set1_epi8(1);
    let mut acc = _mm512_setzero_si512();
    let mut p = 0;
    while p < k {
        let len = (k - p).min(64);
        // SAFETY: the mask covers the row's bytes p..p + len.
        let v = unsafe { _mm512_maskz_loadu_epi8(byte_mask64(len), a.add(p)) };
        acc = _mm512_dpbusd_epi32(acc, ones, v);
        p += len;
    }
    _mm512_reduce_add_epi32(acc)
}

/// Lane mask of the first `len` (≤ 64) bytes.
#[inline(always)]
fn byte_mask64(len: usize) -> __mmask64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

/// Packs `nc ≤ NC` rows of int8 `b` (`kc` bytes each, stride `ldb`) as `b + 128` into
/// `panel[g · NC + j]`; bytes past `kc` are 0, rows past `nc` are not written (never stored).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn pack_i8(b: *const i8, ldb: usize, nc: usize, kc: usize, panel: *mut i32) {
    let offset = _mm512_set1_epi8(-128);
    let groups = kc.div_ceil(4);
    let mut j0 = 0;
    while j0 < nc {
        let rows = (nc - j0).min(LANES);
        let mut g0 = 0;
        while g0 < groups {
            let len = (kc - 4 * g0).min(64);
            let mask = byte_mask64(len);
            let mut r = [_mm512_setzero_si512(); LANES];
            for (j, r) in r.iter_mut().enumerate().take(rows) {
                // SAFETY: the mask covers bytes 4·g0 .. 4·g0 + len < kc of row j0 + j.
                let v = unsafe { _mm512_maskz_loadu_epi8(mask, b.add((j0 + j) * ldb + 4 * g0)) };
                *r = _mm512_maskz_mov_epi8(mask, _mm512_xor_si512(v, offset));
            }
            transpose16(&mut r);
            // SAFETY: groups g0.. < KC, columns j0..j0 + 16 ≤ NC.
            unsafe { store_groups(&r, panel, g0, (groups - g0).min(LANES), j0) };
            g0 += LANES;
        }
        j0 += LANES;
    }
}

/// Packs `nc ≤ NC` rows of int8 `b` (`kc` values each) as int16 pairs: group `g` of row `j` is
/// `(b[j, 2g], b[j, 2g + 1])`, a missing last value 0.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn pack_i16(b: *const i8, ldb: usize, nc: usize, kc: usize, panel: *mut i32) {
    let groups = kc.div_ceil(2);
    let mut j0 = 0;
    while j0 < nc {
        let rows = (nc - j0).min(LANES);
        let mut g0 = 0;
        while g0 < groups {
            let len = (kc - 2 * g0).min(32);
            let mask = byte_mask64(len) as __mmask32;
            let mut r = [_mm512_setzero_si512(); LANES];
            for (j, r) in r.iter_mut().enumerate().take(rows) {
                // SAFETY: the mask covers values 2·g0 .. 2·g0 + len < kc of row j0 + j.
                let v = unsafe { _mm256_maskz_loadu_epi8(mask, b.add((j0 + j) * ldb + 2 * g0)) };
                *r = _mm512_cvtepi8_epi16(v);
            }
            transpose16(&mut r);
            // SAFETY: groups g0.. < KC, columns j0..j0 + 16 ≤ NC.
            unsafe { store_groups(&r, panel, g0, (groups - g0).min(LANES), j0) };
            g0 += LANES;
        }
        j0 += LANES;
    }
}

/// `panel[(g0 + g) · NC + j0 ..][..16] = r[g]` for `g < count`.
///
/// # Safety
/// `panel` holds `KC · NC` int32, 64-byte aligned; `g0 + count ≤ KC`, `j0 + 16 ≤ NC`, `j0 % 16 == 0`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_groups(r: &[__m512i; LANES], panel: *mut i32, g0: usize, count: usize, j0: usize) {
    for (g, r) in r.iter().enumerate().take(count) {
        // SAFETY: see above.
        unsafe { _mm512_store_si512(panel.add((g0 + g) * NC + j0) as *mut _, *r) };
    }
}

/// Transposes 16 × 16 int32: `r[i][j] ← r[j][i]`.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose16(r: &mut [__m512i; LANES]) {
    // Within each 128-bit lane L, pairs then quads of rows: afterwards s[4q + e] holds, in lane L,
    // rows 4q..4q + 4 of column 4L + e.
    let mut t = [_mm512_setzero_si512(); LANES];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    let mut s = [_mm512_setzero_si512(); LANES];
    for q in 0..4 {
        s[4 * q] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        s[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        s[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        s[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    // Column 4L + e gathers lane L of s[e], s[4 + e], s[8 + e], s[12 + e].
    for e in 0..4 {
        let (x0, x1, x2, x3) = (s[e], s[4 + e], s[8 + e], s[12 + e]);
        let u0 = _mm512_shuffle_i32x4::<0x88>(x0, x1); // x0.L0 x0.L2 x1.L0 x1.L2
        let u1 = _mm512_shuffle_i32x4::<0xdd>(x0, x1); // x0.L1 x0.L3 x1.L1 x1.L3
        let u2 = _mm512_shuffle_i32x4::<0x88>(x2, x3);
        let u3 = _mm512_shuffle_i32x4::<0xdd>(x2, x3);
        r[e] = _mm512_shuffle_i32x4::<0x88>(u0, u2);
        r[8 + e] = _mm512_shuffle_i32x4::<0xdd>(u0, u2);
        r[4 + e] = _mm512_shuffle_i32x4::<0x88>(u1, u3);
        r[12 + e] = _mm512_shuffle_i32x4::<0xdd>(u1, u3);
    }
}

/// Pre-packed int8 weights: the panels [`gemm_i8`] packs on every call, packed once for a whole
/// `[n, k]` matrix so that [`gemm_i8_prepacked`] only multiplies.
///
/// Layout (int32 words): for each block `kb` of `KC · 4` bytes of `k`, for each panel `jp` of
/// [`NC`] columns, the panel's groups of that block as [`pack_i8`] writes them
/// (`groups(kb) · NC` words). Offset of `(kb, jp)`: `kb · KC · NC · panels + jp · groups(kb) · NC`.
pub fn prepacked_words(n: usize, k: usize) -> usize {
    k.div_ceil(4) * NC * n.div_ceil(NC)
}

/// Whether [`prepack_i8`] and [`gemm_i8_prepacked`] can run on this CPU.
pub fn can_prepack() -> bool {
    has_vnni512()
}

/// Packs int8 `b` (`[n, k]`, dense rows) into `out` (at least [`prepacked_words`]`(n, k)` words,
/// 64-byte aligned). Returns false (and writes nothing) without AVX-512 VNNI or with a bad `out`.
pub fn prepack_i8(b: &[i8], n: usize, k: usize, out: &mut [i32]) -> bool {
    if !has_vnni512()
        || b.len() < n * k
        || out.len() < prepacked_words(n, k)
        || !(out.as_ptr() as usize).is_multiple_of(64)
    {
        return false;
    }
    let panels = n.div_ceil(NC);
    let mut k0 = 0;
    while k0 < k {
        let kc = (k - k0).min(KC * 4);
        let kb = k0 / (KC * 4);
        for jp in 0..panels {
            let j0 = jp * NC;
            let nc = (n - j0).min(NC);
            let at = kb * KC * NC * panels + jp * kc.div_ceil(4) * NC;
            // SAFETY: the CPU has the features; rows j0..j0 + nc of `b` hold k0 + kc ≤ k bytes; the
            // panel's `groups · NC` words from `at` lie inside `out` (prepacked_words), and `at` is
            // a multiple of 16 words, so 64-byte aligned.
            unsafe { pack_i8(b.as_ptr().add(j0 * k + k0), k, nc, kc, out.as_mut_ptr().add(at)) };
        }
        k0 += kc;
    }
    true
}

/// [`gemm_i8`] with `b` = columns `j0..j0 + n` and `k` values `k0..k0 + k` of a matrix of
/// `n_full × k_full` packed by [`prepack_i8`] into `packed`. Returns false (and computes
/// nothing) when the view cannot be used (no AVX-512 VNNI, `j0 % 16 != 0`, `k0 % 4 != 0`, out of
/// range, `packed` too short or misaligned): the caller then runs the unpacked product.
pub fn gemm_i8_prepacked(
    m: usize,
    n: usize,
    k: usize,
    a: &[i8],
    lda: usize,
    packed: &[i32],
    (n_full, k_full, j0, k0): (usize, usize, usize, usize),
    c: &mut [i32],
    ldc: usize,
) -> bool {
    let usable = has_vnni512()
        && j0.is_multiple_of(LANES)
        && k0.is_multiple_of(4)
        && j0 + n <= n_full
        && k0 + k <= k_full
        && packed.len() >= prepacked_words(n_full, k_full)
        && (packed.as_ptr() as usize).is_multiple_of(64);
    if !usable {
        return false;
    }
    let need = |rows: usize, ld: usize, cols: usize| if rows == 0 { 0 } else { (rows - 1) * ld + cols };
    assert!(lda >= k && ldc >= n && a.len() >= need(m, lda, k) && c.len() >= need(m, ldc, n), "gemm operands");
    // SAFETY: the CPU has the features; the shapes and the packed view are checked above.
    unsafe { gemm_packed_view(m, n, k, a.as_ptr(), lda, packed.as_ptr(), (n_full, k_full, j0, k0), c, ldc) };
    true
}

/// The loops of [`gemm`] over pre-packed panels (no packing, no prefetch of `b`: each panel is
/// read in order, which the hardware prefetcher follows).
///
/// # Safety
/// As [`gemm_i8_prepacked`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn gemm_packed_view(
    m: usize,
    n: usize,
    k: usize,
    a: *const i8,
    lda: usize,
    packed: *const i32,
    (n_full, k_full, j0, k0): (usize, usize, usize, usize),
    c: &mut [i32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            c[i * ldc..i * ldc + n].fill(0);
        }
        return;
    }
    let panels = n_full.div_ceil(NC);
    let block_bytes = KC * 4;
    let mut row_sums = [0i32; MC];
    let c_ptr = c.as_mut_ptr();
    let mut no_prefetch = Prefetch::new(packed as *const i8, 0, 0, 0);
    // `p`: offset into the request's `k`; `k0 + p`: into the packed matrix's.
    let mut p = 0;
    while p < k {
        let (kb, within) = ((k0 + p) / block_bytes, (k0 + p) % block_bytes);
        let kc = (block_bytes - within).min(k - p);
        // Groups of block `kb` in the packed matrix (the last block may be shorter).
        let block_groups = (k_full - kb * block_bytes).min(block_bytes).div_ceil(4);
        let accumulate = p > 0;
        let mut i0 = 0;
        while i0 < m {
            let mc = (m - i0).min(MC);
            // SAFETY: rows i0..i0 + mc of `a` hold p + kc ≤ k values.
            let a_block = unsafe { a.add(i0 * lda + p) };
            for (i, s) in row_sums[..mc].iter_mut().enumerate() {
                // SAFETY: as above.
                *s = unsafe { row_sum_i8(a_block.add(i * lda), kc) }.wrapping_mul(128);
            }
            let mut j = 0;
            while j < n {
                let (jp, col) = ((j0 + j) / NC, (j0 + j) % NC);
                let nc = (NC - col).min(n - j);
                let at = kb * KC * NC * panels + jp * block_groups * NC + (within / 4) * NC + col;
                let vectors = nc.div_ceil(LANES);
                let last = nc - (vectors - 1) * LANES;
                let last_mask: __mmask16 = if last == LANES { 0xffff } else { (1u16 << last) - 1 };
                let mut i = 0;
                while i < mc {
                    let mr = (mc - i).min(MR);
                    let mut t = Tile {
                        full_groups: kc / 4,
                        tail_bytes: kc % 4,
                        // SAFETY: row i0 + i of `a`, inside the block.
                        a: unsafe { a_block.add(i * lda) } as *const u8,
                        lda_bytes: lda,
                        // SAFETY: group within/4 of columns j0 + j.. of panel (kb, jp): inside the
                        // packed matrix; `col` is a multiple of 16 (j0 is), so 64-byte aligned.
                        packed: unsafe { packed.add(at) },
                        row_sums: row_sums[i..].as_ptr(),
                        // SAFETY: (i0 + i, j) is inside `c` (checked shapes).
                        c: unsafe { c_ptr.add((i0 + i) * ldc + j) },
                        ldc,
                        last_mask,
                        accumulate,
                        prefetch: &mut no_prefetch,
                        prefetch_per_group: 0,
                    };
                    // SAFETY: the tile reads `mr` rows of `a`, `vectors` packed vectors of the
                    // `kc.div_ceil(4)` groups from `at` (inside the block's groups), writes `mr`
                    // rows of `nc` values of `c`.
                    unsafe { dispatch::<false>(mr, vectors, &mut t) };
                    i += mr;
                }
                j += nc;
            }
            i0 += mc;
        }
        p += kc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose16_transposes() {
        if !has_vnni512() {
            return;
        }
        let mut m = [[0i32; 16]; 16];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (i * 16 + j) as i32;
            }
        }
        // SAFETY: AVX-512 F is present; each row is 64 bytes.
        unsafe {
            let mut r = [_mm512_setzero_si512(); 16];
            for (r, row) in r.iter_mut().zip(&m) {
                *r = _mm512_loadu_si512(row.as_ptr() as *const _);
            }
            transpose16(&mut r);
            for (i, r) in r.iter().enumerate() {
                let mut out = [0i32; 16];
                _mm512_storeu_si512(out.as_mut_ptr() as *mut _, *r);
                for (j, &v) in out.iter().enumerate() {
                    assert_eq!(v, (j * 16 + i) as i32, "({i}, {j})");
                }
            }
        }
    }
}
