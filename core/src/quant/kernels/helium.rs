//! Cortex-M55 twins (ARMv8.1-M with the M-profile Vector Extension, "Helium"): 128-bit vectors of
//! 16 int8 (or 8 int16) lanes, and `VMLADAVA`, which multiplies every lane pair and adds all the
//! products to one 32-bit general register. A 2 × 2 tile of the product (two rows of `a`, two of
//! `b`) loads four vectors per 16 values of `k` and reuses each twice:
//!
//! ```text
//!       wlstp.8  lr, k, 3f              ; lr = k; skip the loop when k = 0; tail-predicate by k
//!   2:  vldrb.u8 q0, [a0], #16           ; 16 int8 of row a0
//!       vldrb.u8 q1, [a1], #16
//!       vldrb.u8 q2, [b0], #16
//!       vmladava.s8 c00, q0, q2          ; c00 += Σ 16 products
//!       vmladava.s8 c10, q1, q2
//!       vldrb.u8 q3, [b1], #16
//!       vmladava.s8 c01, q0, q3
//!       vmladava.s8 c11, q1, q3
//!       letp     lr, 2b                  ; lr -= 16, loop while values remain
//!   3:
//! ```
//!
//! 9 instructions per 64 multiply-accumulates: 0.14 instructions per MAC in the loop, against
//! 2.0 for the `SMLAD` twin's loop ([`super::arm_dsp`]) and the 1/16 of a 16-lane MAC alone.
//! `wlstp`/`letp` run the last, partial step with only the lanes below `k` active (inactive lanes
//! are neither loaded nor added), so there is no scalar tail and nothing is read past a row.
//! `int16 × int8` (`P·V`) is the same loop on 8 lanes: `vldrh.u16` for `a`, the widening
//! `vldrb.s16` for `b`, `vmladava.s16`; 9 instructions per 32 MACs, 0.28 per MAC.
//!
//! With `electra_arm_mve` (core/build.rs: `ELECTRA_ARM_MVE=1` on `thumbv8m.main`, which
//! firmware-example's Cortex-M55 board sets with `target-cpu=cortex-m55`) the tiles are the real
//! instructions; elsewhere they are portable definitions of the same tiles, 16 (8) lanes at a time
//! with the last step predicated, so the host tests the same algorithm on the shared harness.

#[cfg(electra_arm_mve)]
pub const NAME: &str = "helium";
#[cfg(not(electra_arm_mve))]
pub const NAME: &str = "helium-portable";

/// Lanes of one 128-bit vector: 16 int8, or 8 int16 (the `P·V` product's lanes). The assembly
/// spells them as its `.8`/`.16` suffixes; the portable tiles step by them.
#[cfg(not(electra_arm_mve))]
const LANES_I8: usize = 16;
#[cfg(not(electra_arm_mve))]
const LANES_I16: usize = 8;

/// The two element types of `a`; `b` is always int8.
pub trait Lhs: Copy {
    /// `[a0·b0, a0·b1, a1·b0, a1·b1]` summed over the rows' `k` values (all four of length `k`).
    fn tile_2x2(a0: &[Self], a1: &[Self], b0: &[i8], b1: &[i8]) -> [i32; 4];
    /// `Σ a·b` over one row pair of equal length.
    fn dot(a: &[Self], b: &[i8]) -> i32;
}

#[cfg(electra_arm_mve)]
mod op {
    use super::Lhs;
    use core::arch::asm;

    impl Lhs for i8 {
        #[inline(always)]
        fn tile_2x2(a0: &[i8], a1: &[i8], b0: &[i8], b1: &[i8]) -> [i32; 4] {
            let k = a0.len();
            assert!(a1.len() == k && b0.len() == k && b1.len() == k, "helium tile rows");
            let (mut c00, mut c01, mut c10, mut c11) = (0i32, 0i32, 0i32, 0i32);
            // SAFETY: the loop reads exactly `k` bytes from each of the four rows (tail
            // predication turns off the lanes at and past `k`), which the slices hold (checked
            // above); it writes only the named registers. VMLADAVA takes an even accumulator
            // register, hence r0/r2/r4/r8; q0-q3 are s0-s15; LR is the loop counter.
            unsafe {
                asm!(
                    "wlstp.8 lr, {k}, 3f",
                    "2:",
                    "vldrb.u8 q0, [{a0}], #16",
                    "vldrb.u8 q1, [{a1}], #16",
                    "vldrb.u8 q2, [{b0}], #16",
                    "vmladava.s8 r0, q0, q2",
                    "vmladava.s8 r4, q1, q2",
                    "vldrb.u8 q3, [{b1}], #16",
                    "vmladava.s8 r2, q0, q3",
                    "vmladava.s8 r8, q1, q3",
                    "letp lr, 2b",
                    "3:",
                    k = in(reg) k,
                    a0 = inout(reg) a0.as_ptr() => _,
                    a1 = inout(reg) a1.as_ptr() => _,
                    b0 = inout(reg) b0.as_ptr() => _,
                    b1 = inout(reg) b1.as_ptr() => _,
                    inout("r0") c00,
                    inout("r2") c01,
                    inout("r4") c10,
                    inout("r8") c11,
                    out("lr") _,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                    out("s12") _, out("s13") _, out("s14") _, out("s15") _,
                    options(nostack, readonly),
                );
            }
            [c00, c01, c10, c11]
        }

        #[inline(always)]
        fn dot(a: &[i8], b: &[i8]) -> i32 {
            let k = a.len();
            assert!(b.len() == k, "helium dot rows");
            let mut acc = 0i32;
            // SAFETY: as in `tile_2x2`, for two rows.
            unsafe {
                asm!(
                    "wlstp.8 lr, {k}, 3f",
                    "2:",
                    "vldrb.u8 q0, [{a}], #16",
                    "vldrb.u8 q1, [{b}], #16",
                    "vmladava.s8 r0, q0, q1",
                    "letp lr, 2b",
                    "3:",
                    k = in(reg) k,
                    a = inout(reg) a.as_ptr() => _,
                    b = inout(reg) b.as_ptr() => _,
                    inout("r0") acc,
                    out("lr") _,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _,
                    options(nostack, readonly),
                );
            }
            acc
        }
    }

    impl Lhs for i16 {
        #[inline(always)]
        fn tile_2x2(a0: &[i16], a1: &[i16], b0: &[i8], b1: &[i8]) -> [i32; 4] {
            let k = a0.len();
            assert!(a1.len() == k && b0.len() == k && b1.len() == k, "helium tile rows");
            let (mut c00, mut c01, mut c10, mut c11) = (0i32, 0i32, 0i32, 0i32);
            // SAFETY: as for int8: `k` int16 from each row of `a` (16 bytes a step) and `k` bytes
            // from each row of `b` (8 bytes a step, sign-extended to 16-bit lanes by `vldrb.s16`,
            // whose base register must be one of r0-r7: hence r1 and r3).
            unsafe {
                asm!(
                    "wlstp.16 lr, {k}, 3f",
                    "2:",
                    "vldrh.u16 q0, [{a0}], #16",
                    "vldrh.u16 q1, [{a1}], #16",
                    "vldrb.s16 q2, [r1], #8",
                    "vmladava.s16 r0, q0, q2",
                    "vmladava.s16 r4, q1, q2",
                    "vldrb.s16 q3, [r3], #8",
                    "vmladava.s16 r2, q0, q3",
                    "vmladava.s16 r8, q1, q3",
                    "letp lr, 2b",
                    "3:",
                    k = in(reg) k,
                    a0 = inout(reg) a0.as_ptr() => _,
                    a1 = inout(reg) a1.as_ptr() => _,
                    inout("r1") b0.as_ptr() => _,
                    inout("r3") b1.as_ptr() => _,
                    inout("r0") c00,
                    inout("r2") c01,
                    inout("r4") c10,
                    inout("r8") c11,
                    out("lr") _,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                    out("s12") _, out("s13") _, out("s14") _, out("s15") _,
                    options(nostack, readonly),
                );
            }
            [c00, c01, c10, c11]
        }

        #[inline(always)]
        fn dot(a: &[i16], b: &[i8]) -> i32 {
            let k = a.len();
            assert!(b.len() == k, "helium dot rows");
            let mut acc = 0i32;
            // SAFETY: as in `tile_2x2`, for two rows.
            unsafe {
                asm!(
                    "wlstp.16 lr, {k}, 3f",
                    "2:",
                    "vldrh.u16 q0, [{a}], #16",
                    "vldrb.s16 q1, [r1], #8",
                    "vmladava.s16 r0, q0, q1",
                    "letp lr, 2b",
                    "3:",
                    k = in(reg) k,
                    a = inout(reg) a.as_ptr() => _,
                    inout("r1") b.as_ptr() => _,
                    inout("r0") acc,
                    out("lr") _,
                    out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                    out("s6") _, out("s7") _,
                    options(nostack, readonly),
                );
            }
            acc
        }
    }
}

#[cfg(not(electra_arm_mve))]
mod op {
    //! The tiles as the vector loop computes them: `LANES` values of `k` a step, the last step
    //! with only the lanes below `k` active (what `wlstp`/`letp` tail predication does), each
    //! step's products summed into the 32-bit accumulator, wrapping (`VMLADAVA`'s definition).
    use super::{Lhs, LANES_I16, LANES_I8};

    /// One `VMLADAVA` over the active lanes `p0..p1` of one step.
    #[inline(always)]
    fn vmladava<A: Copy + Into<i32>>(acc: i32, a: &[A], b: &[i8], p0: usize, p1: usize) -> i32 {
        let lanes = a[p0..p1].iter().zip(&b[p0..p1]);
        lanes.fold(acc, |s, (&x, &y)| s.wrapping_add(x.into() * i32::from(y)))
    }

    #[inline(always)]
    fn tile<A: Copy + Into<i32>>(lanes: usize, a0: &[A], a1: &[A], b0: &[i8], b1: &[i8]) -> [i32; 4] {
        let k = a0.len();
        assert!(a1.len() == k && b0.len() == k && b1.len() == k, "helium tile rows");
        let mut c = [0i32; 4];
        for p0 in (0..k).step_by(lanes) {
            let p1 = (p0 + lanes).min(k);
            c[0] = vmladava(c[0], a0, b0, p0, p1);
            c[2] = vmladava(c[2], a1, b0, p0, p1);
            c[1] = vmladava(c[1], a0, b1, p0, p1);
            c[3] = vmladava(c[3], a1, b1, p0, p1);
        }
        c
    }

    #[inline(always)]
    fn dot<A: Copy + Into<i32>>(lanes: usize, a: &[A], b: &[i8]) -> i32 {
        assert!(b.len() == a.len(), "helium dot rows");
        (0..a.len()).step_by(lanes).fold(0, |acc, p0| vmladava(acc, a, b, p0, (p0 + lanes).min(a.len())))
    }

    impl Lhs for i8 {
        fn tile_2x2(a0: &[i8], a1: &[i8], b0: &[i8], b1: &[i8]) -> [i32; 4] {
            tile(LANES_I8, a0, a1, b0, b1)
        }
        fn dot(a: &[i8], b: &[i8]) -> i32 {
            dot(LANES_I8, a, b)
        }
    }

    impl Lhs for i16 {
        fn tile_2x2(a0: &[i16], a1: &[i16], b0: &[i8], b1: &[i8]) -> [i32; 4] {
            tile(LANES_I16, a0, a1, b0, b1)
        }
        fn dot(a: &[i16], b: &[i8]) -> i32 {
            dot(LANES_I16, a, b)
        }
    }
}

/// `C[i, j] = Σ_p A[i, p] · B[j, p]` in 2 × 2 tiles; an odd last row or column by dot products.
#[inline(always)]
fn gemm<A: Lhs>(m: usize, n: usize, k: usize, a: &[A], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    let row_a = |i: usize| &a[i * lda..i * lda + k];
    let row_b = |j: usize| &b[j * ldb..j * ldb + k];
    let mut i = 0;
    while i + 2 <= m {
        let (a0, a1) = (row_a(i), row_a(i + 1));
        let mut j = 0;
        while j + 2 <= n {
            let [c00, c01, c10, c11] = A::tile_2x2(a0, a1, row_b(j), row_b(j + 1));
            c[i * ldc + j] = c00;
            c[i * ldc + j + 1] = c01;
            c[(i + 1) * ldc + j] = c10;
            c[(i + 1) * ldc + j + 1] = c11;
            j += 2;
        }
        if j < n {
            c[i * ldc + j] = A::dot(a0, row_b(j));
            c[(i + 1) * ldc + j] = A::dot(a1, row_b(j));
        }
        i += 2;
    }
    if i < m {
        let a0 = row_a(i);
        for j in 0..n {
            c[i * ldc + j] = A::dot(a0, row_b(j));
        }
    }
}

/// [`super::gemm_i8`] with Helium tiles.
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    gemm(m, n, k, a, lda, b, ldb, c, ldc)
}

/// [`super::gemm_i16_i8`] with Helium tiles.
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
    gemm(m, n, k, a, lda, b, ldb, c, ldc)
}
