//! 64-bit Arm (aarch64) twins: Raspberry Pi 4/5, Jetson, i.MX 8, Graviton, Apple silicon.
//!
//! All three compute tiles of 4 rows of `a` × 4 rows of `b`, reading both along `k` in 16-byte
//! vectors; the `k % 16` tail is loaded zero-padded (a zero on either side adds nothing). Columns
//! past `n` repeat the last column and rows past `m` the last row (where a tile needs whole pairs);
//! those sums are computed and dropped.
//!
//! - `aarch64-neon` (every aarch64 core): `smull` + `smlal2` multiply 16 byte pairs into eight
//!   int16 lanes, two products per lane; with `|a| ≤ 127` a lane is at most `2·127·128 < 2^15` and
//!   never wraps, and `b = -128` works. `sadalp` widens the pairs into the int32 accumulator.
//! - `aarch64-sdot` (dotprod, Armv8.2: Cortex-A55/A75/A76 and later, Pi 5): `sdot` adds four byte
//!   products straight into each int32 lane, 16 multiply-accumulates per instruction (any int8 on
//!   either side). As above, each output is one accumulator summed across lanes at the end (`addp`).
//! - `aarch64-smmla` (i8mm, Armv8.6: Cortex-A510/A710/X2, Neoverse V1/N2 and later): `smmla`
//!   multiplies a 2 × 8 block of `a` (two rows, eight values each, one register) by an 8 × 2 block
//!   of `b` (two rows of `b`, likewise) into a 2 × 2 int32 block, 32 multiply-accumulates per
//!   instruction with no sum across lanes at the end. Two 16-byte row loads become the two
//!   registers of a row pair with `zip1`/`zip2` on 64-bit lanes.
//!
//! `sdot` and `smmla` are written with `asm!`: their intrinsics (`vdotq_s32`, `vmmlaq_s32`) are
//! not stable in Rust 1.95, the instructions are. The plain-NEON intrinsics are stable.
//!
//! int16 × int8 (`P·V`) has no dot-product instruction in NEON (`sdot` on halfwords is SVE only),
//! so all three twins share one: `sxtl` widens eight bytes of `b`, `smlal`/`smlal2` multiply-add
//! four halfword pairs each into int32 lanes.
//!
//! Every sum is an int32 sum, wrapping like the scalar twin's (modular addition does not depend on
//! the order), so the bits are the scalar twin's; [`super::check_twin`] checks it.
//!
//! The choice: with `std`, at run time (`is_aarch64_feature_detected!`); without it, from the
//! compile-time `target_feature`s (`-C target-cpu=cortex-a76` or `-C target-feature=+dotprod`).

use super::Twin;
use core::arch::aarch64::*;
use core::arch::asm;

/// Name of the plain-NEON twin.
pub const NEON: &str = "aarch64-neon";
/// Name of the `sdot` twin.
pub const SDOT: &str = "aarch64-sdot";
/// Name of the `smmla` twin.
pub const SMMLA: &str = "aarch64-smmla";

/// Rows of `b` (output columns) per tile; the reductions below are written for exactly four.
const NR: usize = 4;
/// Rows of `a` per full tile: 4 × 4 accumulators plus 4 + 4 operand vectors fit in the 32 vector
/// registers with room for the temporaries.
const MR: usize = 4;
/// Values of `k` per step (one 128-bit vector of bytes).
const STEP_I8: usize = 16;
/// Values of `k` per step of the int16 × int8 product (one 128-bit vector of halfwords).
const STEP_I16: usize = 8;

/// The plain-NEON twin, if this CPU has NEON (every aarch64 Linux CPU does).
pub fn neon() -> Option<Twin> {
    has_neon().then_some(Twin { name: NEON, gemm_i8: neon_gemm_i8, gemm_i16_i8: neon_gemm_i16_i8 })
}

/// The `sdot` twin, if this CPU has the dot-product extension.
pub fn dotprod() -> Option<Twin> {
    (has_neon() && has_dotprod()).then_some(Twin { name: SDOT, gemm_i8: sdot_gemm_i8, gemm_i16_i8: neon_gemm_i16_i8 })
}

/// The `smmla` twin, if this CPU has the int8 matrix-multiply extension.
pub fn i8mm() -> Option<Twin> {
    (has_neon() && has_i8mm()).then_some(Twin { name: SMMLA, gemm_i8: smmla_gemm_i8, gemm_i16_i8: neon_gemm_i16_i8 })
}

/// The fastest of the three this CPU runs.
pub fn best() -> Option<Twin> {
    i8mm().or_else(dotprod).or_else(neon)
}

#[cfg(feature = "std")]
fn has_neon() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}

#[cfg(not(feature = "std"))]
fn has_neon() -> bool {
    cfg!(target_feature = "neon")
}

#[cfg(feature = "std")]
fn has_dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

#[cfg(not(feature = "std"))]
fn has_dotprod() -> bool {
    cfg!(target_feature = "dotprod")
}

#[cfg(feature = "std")]
fn has_i8mm() -> bool {
    std::arch::is_aarch64_feature_detected!("i8mm")
}

#[cfg(not(feature = "std"))]
fn has_i8mm() -> bool {
    cfg!(target_feature = "i8mm")
}

// The safe entry points below are only reachable through the `Twin`s above, which exist only when
// the CPU has the features.

fn neon_gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: NEON is present (see `neon()`); shapes checked above.
    unsafe { neon_gemm_i8_impl(m, n, k, a, lda, b, ldb, c, ldc) }
}

fn sdot_gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: NEON and dotprod are present (see `dotprod()`); shapes checked above.
    unsafe { sdot_gemm_i8_impl(m, n, k, a, lda, b, ldb, c, ldc) }
}

fn smmla_gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    super::check_shapes(m, n, k, a, lda, b, ldb, c, ldc);
    // SAFETY: NEON and i8mm are present (see `i8mm()`); shapes checked above.
    unsafe { smmla_gemm_i8_impl(m, n, k, a, lda, b, ldb, c, ldc) }
}

fn neon_gemm_i16_i8(
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
    // SAFETY: NEON is present (every twin that names this function checks it); shapes checked above.
    unsafe { neon_gemm_i16_i8_impl(m, n, k, a, lda, b, ldb, c, ldc) }
}

/// Pointers to `R` consecutive rows of `x` from row `first`, each row past `last` replaced by
/// row `last` (whose sums are dropped).
#[inline(always)]
fn rows<T, const R: usize>(x: &[T], ld: usize, first: usize, last: usize) -> [*const T; R] {
    core::array::from_fn(|r| x[(first + r).min(last) * ld..].as_ptr())
}

/// Writes the first `mr` rows and `nr` columns of a tile at row `i`, column `j` of `c`.
#[inline(always)]
fn store<const R: usize>(out: &[[i32; NR]; R], mr: usize, nr: usize, i: usize, j: usize, c: &mut [i32], ldc: usize) {
    for (r, row) in out.iter().enumerate().take(mr) {
        c[(i + r) * ldc + j..(i + r) * ldc + j + nr].copy_from_slice(&row[..nr]);
    }
}

/// Walks column tiles of [`NR`] rows of `b` (outer: the tile of `b` stays in L1 while every row
/// tile of `a` passes over it), then row tiles of `$full` rows of `a`; the last `m % $full` rows
/// go `$edge` at a time (rows past `m` repeat row `m - 1`). `$tile::<R>(k, a_rows, b_rows)`
/// returns the `R × NR` sums.
macro_rules! tiles {
    ($tile:ident, $full:expr, $edge:literal, $m:expr, $n:expr, $k:expr, $a:expr, $lda:expr, $b:expr, $ldb:expr,
     $c:expr, $ldc:expr) => {{
        let (m, n, k, a, lda, b, ldb, c, ldc) = ($m, $n, $k, $a, $lda, $b, $ldb, $c, $ldc);
        let mut j = 0;
        while j < n {
            let nr = (n - j).min(NR);
            let bp: [*const i8; NR] = rows(b, ldb, j, n - 1);
            let mut i = 0;
            while i + $full <= m {
                // SAFETY: every row pointer starts a row of at least `k` values (`check_shapes`).
                let out = unsafe { $tile::<{ $full }>(k, rows(a, lda, i, m - 1), bp) };
                store(&out, $full, nr, i, j, c, ldc);
                i += $full;
            }
            while i < m {
                let mr = (m - i).min($edge);
                // SAFETY: as above.
                let out = unsafe { $tile::<$edge>(k, rows(a, lda, i, m - 1), bp) };
                store(&out, mr, nr, i, j, c, ldc);
                i += mr;
            }
            j += nr;
        }
    }};
}

#[target_feature(enable = "neon")]
fn neon_gemm_i8_impl(
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
    tiles!(neon_tile_i8, MR, 1, m, n, k, a, lda, b, ldb, c, ldc)
}

#[target_feature(enable = "neon,dotprod")]
fn sdot_gemm_i8_impl(
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
    tiles!(sdot_tile_i8, MR, 1, m, n, k, a, lda, b, ldb, c, ldc)
}

#[target_feature(enable = "neon,i8mm")]
fn smmla_gemm_i8_impl(
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
    // Rows go in pairs: the last odd row is paired with itself.
    tiles!(smmla_tile_i8, MR, 2, m, n, k, a, lda, b, ldb, c, ldc)
}

#[target_feature(enable = "neon")]
fn neon_gemm_i16_i8_impl(
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
    tiles!(neon_tile_i16, MR, 1, m, n, k, a, lda, b, ldb, c, ldc)
}

/// Runs `$body` over `k` in steps of `$step` values, with `$p` the first value of the step and
/// `$rem` the values left (`$step` or, once at the end, fewer: the loads then pad with zeros).
/// Whole steps run with `$rem` the constant `$step`, so the loads' tail tests fold away: one test
/// per load in the inner loop cost 8 % more instructions with `sdot`, 19 % with `smmla` (counted under qemu).
macro_rules! k_steps {
    ($k:expr, $step:expr, |$p:ident, $rem:ident| $body:block) => {{
        let k = $k;
        let mut $p = 0;
        while $p + $step <= k {
            let $rem = $step;
            $body
            $p += $step;
        }
        if $p < k {
            let $rem = k - $p;
            $body
        }
    }};
}

/// 16 bytes at `p`, or the `rem < 16` bytes there followed by zeros (`rem == 16`: a plain load).
#[inline(always)]
unsafe fn load_i8(p: *const i8, rem: usize) -> int8x16_t {
    // SAFETY (caller): `p` starts `min(rem, 16)` readable values; NEON is present.
    unsafe {
        if rem >= STEP_I8 {
            vld1q_s8(p)
        } else {
            let mut buf = [0i8; STEP_I8];
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), rem);
            vld1q_s8(buf.as_ptr())
        }
    }
}

/// Eight halfwords at `p`, or the `rem < 8` there followed by zeros.
#[inline(always)]
unsafe fn load_i16(p: *const i16, rem: usize) -> int16x8_t {
    // SAFETY (caller): `p` starts `min(rem, 8)` readable values; NEON is present.
    unsafe {
        if rem >= STEP_I16 {
            vld1q_s16(p)
        } else {
            let mut buf = [0i16; STEP_I16];
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), rem);
            vld1q_s16(buf.as_ptr())
        }
    }
}

/// Eight bytes at `p`, sign-extended to halfwords, or the `rem < 8` there followed by zeros.
#[inline(always)]
unsafe fn load_i8_wide(p: *const i8, rem: usize) -> int16x8_t {
    // SAFETY (caller): `p` starts `min(rem, 8)` readable values; NEON is present.
    unsafe {
        if rem >= STEP_I16 {
            vmovl_s8(vld1_s8(p))
        } else {
            let mut buf = [0i8; STEP_I16];
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), rem);
            vmovl_s8(vld1_s8(buf.as_ptr()))
        }
    }
}

/// The lane sums of four accumulators, in order: `[Σ v0, Σ v1, Σ v2, Σ v3]` (two levels of `addp`).
#[target_feature(enable = "neon")]
#[inline]
fn reduce4(v: &[int32x4_t; NR]) -> [i32; NR] {
    let s = vpaddq_s32(vpaddq_s32(v[0], v[1]), vpaddq_s32(v[2], v[3]));
    let mut out = [0i32; NR];
    // SAFETY: `out` holds four int32.
    unsafe { vst1q_s32(out.as_mut_ptr(), s) };
    out
}

/// `R` rows of `a` against [`NR`] rows of `b`, `k` values each, plain NEON.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn neon_tile_i8<const R: usize>(k: usize, ap: [*const i8; R], bp: [*const i8; NR]) -> [[i32; NR]; R] {
    let mut acc = [[vdupq_n_s32(0); NR]; R];
    k_steps!(k, STEP_I8, |p, rem| {
        // SAFETY (caller): every row holds `k` values from its pointer on.
        let va: [int8x16_t; R] = core::array::from_fn(|r| unsafe { load_i8(ap[r].add(p), rem) });
        let vb: [int8x16_t; NR] = core::array::from_fn(|q| unsafe { load_i8(bp[q].add(p), rem) });
        for r in 0..R {
            for q in 0..NR {
                // |a| ≤ 127, |b| ≤ 128: each int16 lane holds two products, at most 32512.
                let pairs = vmlal_high_s8(vmull_s8(vget_low_s8(va[r]), vget_low_s8(vb[q])), va[r], vb[q]);
                acc[r][q] = vpadalq_s16(acc[r][q], pairs);
            }
        }
    });
    core::array::from_fn(|r| reduce4(&acc[r]))
}

/// `acc + ` the four 4-byte dot products of `a` and `b`, lane by lane (`SDOT Vd.4S, Vn.16B, Vm.16B`).
// The feature on this function itself, not only on its callers: the assembler checks the features
// of the function the `asm!` ends up in, and this one may be emitted out of line (the test does).
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY (caller): dotprod is present. Register-only.
    unsafe {
        asm!("sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b", acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b,
             options(pure, nomem, nostack, preserves_flags))
    };
    acc
}

/// `R` rows of `a` against [`NR`] rows of `b` with `sdot`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot_tile_i8<const R: usize>(k: usize, ap: [*const i8; R], bp: [*const i8; NR]) -> [[i32; NR]; R] {
    let mut acc = [[vdupq_n_s32(0); NR]; R];
    k_steps!(k, STEP_I8, |p, rem| {
        // SAFETY (caller): every row holds `k` values from its pointer on.
        let va: [int8x16_t; R] = core::array::from_fn(|r| unsafe { load_i8(ap[r].add(p), rem) });
        let vb: [int8x16_t; NR] = core::array::from_fn(|q| unsafe { load_i8(bp[q].add(p), rem) });
        for r in 0..R {
            for q in 0..NR {
                // SAFETY: dotprod is enabled here.
                acc[r][q] = unsafe { sdot(acc[r][q], va[r], vb[q]) };
            }
        }
    });
    core::array::from_fn(|r| reduce4(&acc[r]))
}

/// `acc + x · yᵀ` for the 2 × 8 int8 blocks `x` and `y` (one row per 64-bit half), as a 2 × 2
/// int32 block in lanes `[00, 01, 10, 11]` (`SMMLA Vd.4S, Vn.16B, Vm.16B`).
// The feature on this function itself, not only on its callers: the assembler checks the features
// of the function the `asm!` ends up in, and this one may be emitted out of line (the test does).
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn smmla(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY (caller): i8mm is present. Register-only.
    unsafe {
        asm!("smmla {acc:v}.4s, {x:v}.16b, {y:v}.16b", acc = inout(vreg) acc, x = in(vreg) x, y = in(vreg) y,
             options(pure, nomem, nostack, preserves_flags))
    };
    acc
}

/// The two `smmla` operands of rows `u` and `v` (16 values each): values 0..8 of both, then
/// values 8..16 of both.
#[target_feature(enable = "neon")]
#[inline]
fn pair(u: int8x16_t, v: int8x16_t) -> (int8x16_t, int8x16_t) {
    let (u, v) = (vreinterpretq_s64_s8(u), vreinterpretq_s64_s8(v));
    (vreinterpretq_s8_s64(vzip1q_s64(u, v)), vreinterpretq_s8_s64(vzip2q_s64(u, v)))
}

/// `R` (even) rows of `a` against [`NR`] rows of `b` with `smmla`, on 2 × 2 blocks.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn smmla_tile_i8<const R: usize>(k: usize, ap: [*const i8; R], bp: [*const i8; NR]) -> [[i32; NR]; R] {
    // Accumulator [r / 2][q / 2] holds the 2 × 2 block of rows r, r + 1 and columns q, q + 1; a
    // fixed-size array of R (not R / 2, which stable const generics cannot name) of which the
    // first R / 2 are used.
    let mut acc = [[vdupq_n_s32(0); NR / 2]; R];
    k_steps!(k, STEP_I8, |p, rem| {
        let mut vb = [(vdupq_n_s8(0), vdupq_n_s8(0)); NR / 2];
        for (q, v) in vb.iter_mut().enumerate() {
            // SAFETY (caller): every row holds `k` values from its pointer on.
            *v = unsafe { pair(load_i8(bp[2 * q].add(p), rem), load_i8(bp[2 * q + 1].add(p), rem)) };
        }
        for r in 0..R / 2 {
            // SAFETY: as above.
            let (lo, hi) = unsafe { pair(load_i8(ap[2 * r].add(p), rem), load_i8(ap[2 * r + 1].add(p), rem)) };
            for q in 0..NR / 2 {
                // SAFETY: i8mm is enabled here.
                acc[r][q] = unsafe { smmla(smmla(acc[r][q], lo, vb[q].0), hi, vb[q].1) };
            }
        }
    });
    let mut out = [[0i32; NR]; R];
    for r in 0..R / 2 {
        for q in 0..NR / 2 {
            let mut block = [0i32; 4];
            // SAFETY: `block` holds four int32.
            unsafe { vst1q_s32(block.as_mut_ptr(), acc[r][q]) };
            out[2 * r][2 * q..2 * q + 2].copy_from_slice(&block[..2]);
            out[2 * r + 1][2 * q..2 * q + 2].copy_from_slice(&block[2..]);
        }
    }
    out
}

/// `R` rows of int16 `a` against [`NR`] rows of int8 `b`: `smlal`/`smlal2` on halfwords.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn neon_tile_i16<const R: usize>(k: usize, ap: [*const i16; R], bp: [*const i8; NR]) -> [[i32; NR]; R] {
    let mut acc = [[vdupq_n_s32(0); NR]; R];
    k_steps!(k, STEP_I16, |p, rem| {
        // SAFETY (caller): every row holds `k` values from its pointer on.
        let va: [int16x8_t; R] = core::array::from_fn(|r| unsafe { load_i16(ap[r].add(p), rem) });
        let vb: [int16x8_t; NR] = core::array::from_fn(|q| unsafe { load_i8_wide(bp[q].add(p), rem) });
        for r in 0..R {
            for q in 0..NR {
                acc[r][q] =
                    vmlal_high_s16(vmlal_s16(acc[r][q], vget_low_s16(va[r]), vget_low_s16(vb[q])), va[r], vb[q]);
            }
        }
    });
    core::array::from_fn(|r| reduce4(&acc[r]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two instructions on hand-made operands, against their definitions in the Arm ARM, where
    /// this CPU has them (the harness in `super::super` checks the kernels built on them).
    #[test]
    fn instructions_do_what_the_manual_says() {
        // Both signs, the int8 extremes and every byte position distinct.
        let a: [i8; 16] = core::array::from_fn(|i| if i == 3 { -128 } else { (i as i32 * 17 - 127) as i8 });
        let b: [i8; 16] = core::array::from_fn(|i| if i == 5 { -128 } else { (127 - i as i32 * 13) as i8 });
        let acc = [1i32, -2, 3, -4];
        let run = |f: unsafe fn(int32x4_t, int8x16_t, int8x16_t) -> int32x4_t| {
            let mut out = [0i32; 4];
            // SAFETY: called only where the instruction exists (checked below).
            unsafe {
                vst1q_s32(out.as_mut_ptr(), f(vld1q_s32(acc.as_ptr()), vld1q_s8(a.as_ptr()), vld1q_s8(b.as_ptr())))
            };
            out
        };
        if has_dotprod() {
            let want: [i32; 4] = core::array::from_fn(|l| {
                acc[l] + (0..4).map(|t| a[4 * l + t] as i32 * b[4 * l + t] as i32).sum::<i32>()
            });
            assert_eq!(run(sdot), want);
        }
        if has_i8mm() {
            let want: [i32; 4] = core::array::from_fn(|l| {
                let (i, j) = (l / 2, l % 2);
                acc[l] + (0..8).map(|t| a[8 * i + t] as i32 * b[8 * j + t] as i32).sum::<i32>()
            });
            assert_eq!(run(smmla), want);
        }
        std::println!("instructions checked: sdot {}, smmla {}", has_dotprod(), has_i8mm());
    }
}
