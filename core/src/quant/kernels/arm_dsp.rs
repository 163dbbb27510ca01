//! Cortex-M4/M7 twins: the DSP extension's `SMLAD` multiplies two pairs of signed 16-bit halves
//! and adds both products to a 32-bit accumulator in one cycle. Bytes become 16-bit halves with
//! `SXTB16` (bytes 0 and 2 of a word; with `ROR #8`, bytes 1 and 3), so four int8 products cost two
//! `SXTB16` per operand and two `SMLAD`:
//!
//! ```text
//! a = [a0 a1 a2 a3]   SXTB16 a → [a0, a2]   SXTB16 a, ROR #8 → [a1, a3]   (same for b)
//! acc = SMLAD([a0,a2], [b0,b2], acc);  acc = SMLAD([a1,a3], [b1,b3], acc)
//! ```
//!
//! int16 × int8 (`P·V`) packs the int16 operand's pairs to match with `PKHBT`/`PKHTB`.
//! Tiles of 2 rows × 2 columns reuse each unpacked word twice. On `thumbv7em` (`electra_arm_dsp`)
//! the primitives are the real instructions; elsewhere they are the portable definitions below,
//! bit for bit the architecture manual's, so the host tests the same algorithm.

#[cfg(electra_arm_dsp)]
pub const NAME: &str = "arm-dsp";
#[cfg(not(electra_arm_dsp))]
pub const NAME: &str = "arm-dsp-portable";

#[cfg(electra_arm_dsp)]
mod op {
    use core::arch::asm;

    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: a register-only DSP instruction, present on every thumbv7em core.
        unsafe { asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack)) };
        r
    }

    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: as above.
        unsafe { asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack)) };
        r
    }

    #[inline(always)]
    pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: as above.
        unsafe {
            asm!("smlad {r}, {x}, {y}, {acc}", r = lateout(reg) r, x = in(reg) x, y = in(reg) y, acc = in(reg) acc,
                 options(pure, nomem, nostack))
        };
        r
    }

    #[inline(always)]
    pub fn pkhbt(low: u32, high: u32) -> u32 {
        let r: u32;
        // SAFETY: as above.
        unsafe {
            asm!("pkhbt {r}, {l}, {h}, lsl #16", r = lateout(reg) r, l = in(reg) low, h = in(reg) high,
                 options(pure, nomem, nostack))
        };
        r
    }

    #[inline(always)]
    pub fn pkhtb(high: u32, low: u32) -> u32 {
        let r: u32;
        // SAFETY: as above.
        unsafe {
            asm!("pkhtb {r}, {h}, {l}, asr #16", r = lateout(reg) r, h = in(reg) high, l = in(reg) low,
                 options(pure, nomem, nostack))
        };
        r
    }
}

#[cfg(not(electra_arm_dsp))]
mod op {
    //! The instructions' definitions from the ARMv7-M Architecture Reference Manual.

    /// `SXTB16 Rd, Rm`: bytes 0 and 2, sign-extended to the low and high halfwords.
    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let lo = (x as u8 as i8 as i16) as u16 as u32;
        let hi = ((x >> 16) as u8 as i8 as i16) as u16 as u32;
        lo | (hi << 16)
    }

    /// `SXTB16 Rd, Rm, ROR #8`: bytes 1 and 3.
    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        sxtb16(x.rotate_right(8))
    }

    /// `SMLAD Rd, Rn, Rm, Ra`: `Ra + Rn.lo·Rm.lo + Rn.hi·Rm.hi`, signed halves, wrapping.
    #[inline(always)]
    pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
        let (x_lo, x_hi) = (x as u16 as i16 as i32, (x >> 16) as u16 as i16 as i32);
        let (y_lo, y_hi) = (y as u16 as i16 as i32, (y >> 16) as u16 as i16 as i32);
        acc.wrapping_add(x_lo * y_lo).wrapping_add(x_hi * y_hi)
    }

    /// `PKHBT Rd, Rn, Rm, LSL #16`: low half of `low`, low half of `high` on top.
    #[inline(always)]
    pub fn pkhbt(low: u32, high: u32) -> u32 {
        (low & 0xffff) | (high << 16)
    }

    /// `PKHTB Rd, Rn, Rm, ASR #16`: high half of `high` on top, high half of `low` below.
    #[inline(always)]
    pub fn pkhtb(high: u32, low: u32) -> u32 {
        (high & 0xffff_0000) | (low >> 16)
    }
}

use op::*;

/// Four int8 at `row[p..p + 4]` as one little-endian word: a single `LDR` (Cortex-M4/M7 load
/// unaligned words), where assembling bytes costs four `LDRB` and three `ORR`.
#[inline(always)]
fn word_i8(row: &[i8], p: usize) -> u32 {
    assert!(p + 4 <= row.len());
    // SAFETY: the four bytes are in `row` (checked above; the check folds away in the loops, where
    // `p + 4 ≤ k4 ≤ row.len()`); `read_unaligned` has no alignment requirement.
    u32::from_le(unsafe { core::ptr::read_unaligned(row.as_ptr().add(p) as *const u32) })
}

/// Two int16 at `row[p..p + 2]` as one word, the first in the low half.
#[inline(always)]
fn word_i16(row: &[i16], p: usize) -> u32 {
    assert!(p + 2 <= row.len());
    // SAFETY: as in `word_i8`.
    u32::from_le(unsafe { core::ptr::read_unaligned(row.as_ptr().add(p) as *const u32) })
}

/// Rows `first..first + N` of a row-major operand, each cut to its first `k` values (one bounds
/// check per row, none in the inner loop).
#[inline(always)]
fn rows<T, const N: usize>(m: &[T], first: usize, ld: usize, k: usize) -> [&[T]; N] {
    core::array::from_fn(|r| &m[(first + r) * ld..(first + r) * ld + k])
}

/// `MR × NR` outputs of the int8 product, starting at rows `i0` of `a` and `j0` of `b`.
#[inline(always)]
fn tile_i8<const MR: usize, const NR: usize>(
    i0: usize,
    j0: usize,
    k: usize,
    a: &[i8],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) {
    let a_rows: [&[i8]; MR] = rows(a, i0, lda, k);
    let b_rows: [&[i8]; NR] = rows(b, j0, ldb, k);
    let mut acc = [[0i32; NR]; MR];
    let k4 = k / 4 * 4;
    let mut p = 0;
    while p < k4 {
        let mut b02 = [0u32; NR];
        let mut b13 = [0u32; NR];
        for j in 0..NR {
            let w = word_i8(b_rows[j], p);
            b02[j] = sxtb16(w);
            b13[j] = sxtb16_ror8(w);
        }
        for i in 0..MR {
            let w = word_i8(a_rows[i], p);
            let (a02, a13) = (sxtb16(w), sxtb16_ror8(w));
            for j in 0..NR {
                acc[i][j] = smlad(a13, b13[j], smlad(a02, b02[j], acc[i][j]));
            }
        }
        p += 4;
    }
    for i in 0..MR {
        for j in 0..NR {
            let tail = a_rows[i][k4..].iter().zip(&b_rows[j][k4..]).map(|(&x, &y)| x as i32 * y as i32);
            c[(i0 + i) * ldc + j0 + j] = acc[i][j] + tail.sum::<i32>();
        }
    }
}

/// `MR × NR` outputs of the int16 × int8 product.
#[inline(always)]
fn tile_i16<const MR: usize, const NR: usize>(
    i0: usize,
    j0: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) {
    let a_rows: [&[i16]; MR] = rows(a, i0, lda, k);
    let b_rows: [&[i8]; NR] = rows(b, j0, ldb, k);
    let mut acc = [[0i32; NR]; MR];
    let k4 = k / 4 * 4;
    let mut p = 0;
    while p < k4 {
        let mut b02 = [0u32; NR];
        let mut b13 = [0u32; NR];
        for j in 0..NR {
            let w = word_i8(b_rows[j], p);
            b02[j] = sxtb16(w);
            b13[j] = sxtb16_ror8(w);
        }
        for i in 0..MR {
            let (a01, a23) = (word_i16(a_rows[i], p), word_i16(a_rows[i], p + 2));
            let (a02, a13) = (pkhbt(a01, a23), pkhtb(a23, a01));
            for j in 0..NR {
                acc[i][j] = smlad(a13, b13[j], smlad(a02, b02[j], acc[i][j]));
            }
        }
        p += 4;
    }
    for i in 0..MR {
        for j in 0..NR {
            let tail = a_rows[i][k4..].iter().zip(&b_rows[j][k4..]).map(|(&x, &y)| x as i32 * y as i32);
            c[(i0 + i) * ldc + j0 + j] = acc[i][j] + tail.sum::<i32>();
        }
    }
}

macro_rules! tiled {
    ($name:ident, $tile:ident, $a:ty) => {
        /// See the module docs; same contract as the scalar twin.
        pub fn $name(
            m: usize,
            n: usize,
            k: usize,
            a: &[$a],
            lda: usize,
            b: &[i8],
            ldb: usize,
            c: &mut [i32],
            ldc: usize,
        ) {
            let (m2, n2) = (m / 2 * 2, n / 2 * 2);
            let mut j = 0;
            while j < n2 {
                let mut i = 0;
                while i < m2 {
                    $tile::<2, 2>(i, j, k, a, lda, b, ldb, c, ldc);
                    i += 2;
                }
                if m2 < m {
                    $tile::<1, 2>(m2, j, k, a, lda, b, ldb, c, ldc);
                }
                j += 2;
            }
            if n2 < n {
                let mut i = 0;
                while i < m2 {
                    $tile::<2, 1>(i, n2, k, a, lda, b, ldb, c, ldc);
                    i += 2;
                }
                if m2 < m {
                    $tile::<1, 1>(m2, n2, k, a, lda, b, ldb, c, ldc);
                }
            }
        }
    };
}

tiled!(gemm_i8, tile_i8, i8);
tiled!(gemm_i16_i8, tile_i16, i16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_follow_the_manual() {
        // bytes (LE): 0x80 = -128, 0x7f = 127, 0xff = -1, 0x01 = 1
        let x = u32::from_le_bytes([0x80, 0x7f, 0xff, 0x01]);
        assert_eq!(sxtb16(x), 0xffff_ff80); // [-128, -1]
        assert_eq!(sxtb16_ror8(x), 0x0001_007f); // [127, 1]
        assert_eq!(smlad(sxtb16(x), sxtb16(x), 5), 5 + 128 * 128 + 1);
        assert_eq!(pkhbt(0x1111_2222, 0x3333_4444), 0x4444_2222);
        assert_eq!(pkhtb(0x1111_2222, 0x3333_4444), 0x1111_3333);
    }
}
