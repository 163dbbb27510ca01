//! Cortex-M4/M7/M33 twins: the DSP extension's `SMLAD` multiplies two pairs of signed 16-bit halves
//! and adds both products to a 32-bit accumulator in one instruction. Bytes become 16-bit halves with
//! `SXTB16` (bytes 0 and 2 of a word; with `ROR #8`, bytes 1 and 3):
//!
//! ```text
//! b = [b0 b1 b2 b3]   SXTB16 b → [b0, b2]   SXTB16 b, ROR #8 → [b1, b3]
//! acc = SMLAD([a0,a2], [b0,b2], acc);  acc = SMLAD([a1,a3], [b1,b3], acc)
//! ```
//!
//! Every product here has few rows of activations `a` (a block of token rows: 2 at the smallest
//! arena) and many rows of weights `b` (the output channels), so, as CMSIS-NN's
//! `arm_nn_mat_mult_kernel_s8_s16` does, the activations are widened **once** per group of rows
//! and block of `k` into a panel on the stack (2 KiB), already in the `[a0,a2] [a1,a3]` order
//! `SMLAD` wants (int8 with `SXTB16`, int16 with `PKHBT`/`PKHTB`), and reused against every weight
//! row. Only the weights are widened in the inner loop, each weight word once for 2 or 4 rows.
//! Per step of 4 values of `k`:
//!
//! - 4 activation rows × 1 weight row (16 MACs; used while 4 rows remain): `LDR` + 2 `SXTB16` for
//!   the weight word, 2 `LDM` for the panel, 8 `SMLAD`: 13 instructions; four steps a loop turn
//!   plus `CMP`/`BNE`, 54 per 64 MACs, **0.84 per MAC**;
//! - 2 activation rows × 2 weight rows (16 MACs; the smallest arena's 2-row blocks): one `LDM`,
//!   2 × (`LDR` + 2 `SXTB16`), 8 `SMLAD`: 15; four steps a turn plus `CMP`/`BNE`, 62 per 64
//!   MACs, **0.97 per MAC**.
//!
//! The loop over the tiles of a row group is `asm!` too, keeping its state in memory (the inner
//! loop needs 14 registers): about 40 instructions per tile, 4 % at `k` = 256. For comparison:
//! the 2 × 2 tile that widened both operands in the loop, before: 2.0; CMSIS-NN's int8 × int8
//! `arm_nn_mat_mult_nt_t_s8`: about 1.25; the `SMLAD` ideal: 0.5. No zero-point terms to fold:
//! activations and weights are symmetric int8. Measured per kernel and per inference by the
//! firmware (`docs/BOARDS.md`).
//!
//! On `thumbv7em` and DSP-enabled `thumbv8m.main` (`electra_arm_dsp`) the loop is `asm!` and the
//! primitives are the real instructions; elsewhere the same tiles run in Rust on the portable
//! definitions below (bit for bit the architecture manual's), so the host tests the packing, the
//! blocking and every tail; the `asm!` loop itself is checked against the scalar twin by the
//! firmware's boot self-test in QEMU.

#[cfg(electra_arm_dsp)]
pub const NAME: &str = "arm-dsp";
#[cfg(not(electra_arm_dsp))]
pub const NAME: &str = "arm-dsp-portable";

#[cfg(electra_arm_dsp)]
pub(super) mod op {
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
pub(super) mod op {
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

/// Values of `k` widened per block: the panel holds 2 rows × `K_BLOCK` int16 = 2 KiB of stack, and
/// a longer `k` (the FFN's 1024) runs in blocks, adding into `c`. A multiple of 16 (so is
/// `K_BLOCK4`), so only the last block has a partial loop turn.
const K_BLOCK: usize = 512;

/// Panel words per step of 4 values of `k`: `[a0,a2] [a1,a3]` of row 0, then of row 1.
const STEP_WORDS: usize = 4;

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

/// An activation type the panel can widen: int8 (every linear layer, `Q·Kᵀ`) or int16 (`P·V`).
trait Activation: Copy {
    /// Values `p..p + 4` of `row` as `([a0,a2], [a1,a3])`, signed 16-bit halves.
    fn pairs(row: &[Self], p: usize) -> (u32, u32);
    fn widen(self) -> i32;
}

impl Activation for i8 {
    #[inline(always)]
    fn pairs(row: &[i8], p: usize) -> (u32, u32) {
        let w = word_i8(row, p);
        (sxtb16(w), sxtb16_ror8(w))
    }
    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }
}

impl Activation for i16 {
    #[inline(always)]
    fn pairs(row: &[i16], p: usize) -> (u32, u32) {
        let (a01, a23) = (word_i16(row, p), word_i16(row, p + 2));
        (pkhbt(a01, a23), pkhtb(a23, a01))
    }
    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }
}

/// Widens `steps` steps of 4 values of rows `a0` and `a1` (`None`: a zero row, when `m` is odd) from
/// value `p0` on into `panel`, in the order the tiles read it.
#[inline(always)]
fn pack<A: Activation>(a0: &[A], a1: Option<&[A]>, p0: usize, steps: usize, panel: &mut [u32]) {
    for (s, words) in panel.chunks_exact_mut(STEP_WORDS).take(steps).enumerate() {
        let p = p0 + 4 * s;
        let (x02, x13) = A::pairs(a0, p);
        let (y02, y13) = match a1 {
            Some(a1) => A::pairs(a1, p),
            None => (0, 0),
        };
        words.copy_from_slice(&[x02, x13, y02, y13]);
    }
}

/// One step of 4 values for one weight word `w` against the panel's 4 words `x`: both rows' sums.
#[inline(always)]
fn step(x: &[u32], w: u32, acc0: i32, acc1: i32) -> (i32, i32) {
    let (w02, w13) = (sxtb16(w), sxtb16_ror8(w));
    (smlad(x[1], w13, smlad(x[0], w02, acc0)), smlad(x[3], w13, smlad(x[2], w02, acc1)))
}

/// `steps` steps of the 2 × 2 tile in Rust: `acc = [row 0 · b0, row 0 · b1, row 1 · b0, row 1 · b1]`.
#[inline(always)]
fn tile_2x2_steps(panel: &[u32], b0: &[i8], b1: &[i8], steps: usize, acc: &mut [i32; 4]) {
    for s in 0..steps {
        let x = &panel[s * STEP_WORDS..(s + 1) * STEP_WORDS];
        (acc[0], acc[2]) = step(x, word_i8(b0, 4 * s), acc[0], acc[2]);
        (acc[1], acc[3]) = step(x, word_i8(b1, 4 * s), acc[1], acc[3]);
    }
}

/// `tiles` 2 × 2 tiles side by side: weight rows `2t` and `2t + 1` (`b` holds row 0 from the
/// block's first value, rows `ldb` apart) against `steps` steps of the panel, into `c0[2t..2t + 2]`
/// (activation row 0) and `c1[2t..2t + 2]` (row 1) with [`put`].
#[inline(always)]
fn tiles_2x2_rust(
    panel: &[u32],
    b: &[i8],
    ldb: usize,
    steps: usize,
    tiles: usize,
    c0: &mut [i32],
    c1: &mut [i32],
    keep: i32,
) {
    for t in 0..tiles {
        let j = 2 * t;
        let (b0, b1) = (&b[j * ldb..j * ldb + 4 * steps], &b[(j + 1) * ldb..(j + 1) * ldb + 4 * steps]);
        let mut acc = [0; 4];
        tile_2x2_steps(panel, b0, b1, steps, &mut acc);
        put(&mut c0[j], acc[0], keep);
        put(&mut c0[j + 1], acc[1], keep);
        put(&mut c1[j], acc[2], keep);
        put(&mut c1[j + 1], acc[3], keep);
    }
}

#[cfg(not(electra_arm_dsp))]
use tiles_2x2_rust as tiles_2x2;

/// What the `asm!` tile loop reads between tiles (it has no register to spare for them), and
/// advances: `b` by two weight rows, `c0` and `c1` by two outputs, `count` down to zero.
#[cfg(electra_arm_dsp)]
#[repr(C)]
struct TileLoop {
    panel: *const u32,
    panel_end: *const u32,
    b: *const i8,
    ldb: usize,
    c0: *mut i32,
    c1: *mut i32,
    count: usize,
    keep: i32,
}

// The byte offsets the `asm!` below loads from (32-bit pointers and `usize`).
#[cfg(electra_arm_dsp)]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(TileLoop, panel) == 0 && offset_of!(TileLoop, panel_end) == 4 && offset_of!(TileLoop, b) == 8);
    assert!(offset_of!(TileLoop, ldb) == 12 && offset_of!(TileLoop, c0) == 16 && offset_of!(TileLoop, c1) == 20);
    assert!(offset_of!(TileLoop, count) == 24 && offset_of!(TileLoop, keep) == 28);
};

/// [`tiles_2x2_rust`] with the whole loop over tiles in `asm!`: per tile, 13 instructions to set
/// up, `15.5 · steps` in the inner loop (four steps a turn: 4 × 15 plus `CMP`/`BNE`, the module
/// docs) and 23 to add the four sums into `c` and count; `steps` not a multiple of 4, or no
/// tiles, go to Rust.
#[cfg(electra_arm_dsp)]
#[inline(always)]
fn tiles_2x2(
    panel: &[u32],
    b: &[i8],
    ldb: usize,
    steps: usize,
    tiles: usize,
    c0: &mut [i32],
    c1: &mut [i32],
    keep: i32,
) {
    if tiles == 0 || steps == 0 || !steps.is_multiple_of(4) {
        tiles_2x2_rust(panel, b, ldb, steps, tiles, c0, c1, keep);
        return;
    }
    // A caller bug, never the model's: the loop reads and writes exactly these.
    assert!(panel.len() >= steps * STEP_WORDS);
    assert!(b.len() >= (2 * tiles - 1) * ldb + 4 * steps && c0.len() >= 2 * tiles && c1.len() >= 2 * tiles);
    let mut state = TileLoop {
        panel: panel.as_ptr(),
        // SAFETY: within `panel` (asserted above).
        panel_end: unsafe { panel.as_ptr().add(steps * STEP_WORDS) },
        b: b.as_ptr(),
        ldb,
        c0: c0.as_mut_ptr(),
        c1: c1.as_mut_ptr(),
        count: tiles,
        keep,
    };
    // SAFETY: per tile, reads `STEP_WORDS · steps` words of `panel` (aligned: it is a `[u32]`)
    // and `4 · steps` bytes of weight rows `2t` and `2t + 1` (unaligned `LDR` is allowed on
    // ARMv7-M and ARMv8-M Mainline; the aligned panel gets the `LDM`), and reads and writes
    // `c0[2t..2t + 2]`, `c1[2t..2t + 2]` (`LDRD`/`STRD` need word alignment: `i32`s), all within
    // the slices (asserted above), and `state`. r6 and r7 (not allowed as named operands) are
    // saved with the pointer to `state` and restored; every other register is an operand or
    // declared clobbered.
    unsafe {
        core::arch::asm!(
            "push {{r0, r6, r7}}",
            // next tile: panel from its start, weight rows j and j + 1, four zero sums
            "3:",
            "ldr r6, [sp]",
            "ldr r10, [r6, #0]",
            "ldr lr, [r6, #4]",
            "ldr r11, [r6, #8]",
            "ldr r7, [r6, #12]",
            "add r12, r11, r7",
            "add r7, r12, r7",
            "str r7, [r6, #8]",
            "mov r4, #0",
            "mov r5, #0",
            "mov r8, #0",
            "mov r9, #0",
            "4:",
            // step 1: the panel's 4 words, then each weight row's word widened and used twice
            "ldm r10!, {{r0, r1, r2, r3}}",
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r8, r2, r6, r8",
            "smlad r8, r3, r7, r8",
            "ldr r7, [r12], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r5, r0, r6, r5",
            "smlad r5, r1, r7, r5",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            // step 2
            "ldm r10!, {{r0, r1, r2, r3}}",
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r8, r2, r6, r8",
            "smlad r8, r3, r7, r8",
            "ldr r7, [r12], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r5, r0, r6, r5",
            "smlad r5, r1, r7, r5",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            // steps 3 and 4
            "ldm r10!, {{r0, r1, r2, r3}}",
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r8, r2, r6, r8",
            "smlad r8, r3, r7, r8",
            "ldr r7, [r12], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r5, r0, r6, r5",
            "smlad r5, r1, r7, r5",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r8, r2, r6, r8",
            "smlad r8, r3, r7, r8",
            "ldr r7, [r12], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "smlad r5, r0, r6, r5",
            "smlad r5, r1, r7, r5",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            "cmp r10, lr",
            "bne 4b",
            // c0[j], c0[j + 1] = sums + (old & keep); the same for c1; next tile
            "ldr r6, [sp]",
            "ldr r0, [r6, #16]",
            "ldr r1, [r6, #20]",
            "ldr r7, [r6, #28]",
            "ldrd r2, r3, [r0]",
            "and r2, r2, r7",
            "and r3, r3, r7",
            "add r4, r4, r2",
            "add r5, r5, r3",
            "strd r4, r5, [r0], #8",
            "ldrd r2, r3, [r1]",
            "and r2, r2, r7",
            "and r3, r3, r7",
            "add r8, r8, r2",
            "add r9, r9, r3",
            "strd r8, r9, [r1], #8",
            "str r0, [r6, #16]",
            "str r1, [r6, #20]",
            "ldr r0, [r6, #24]",
            "subs r0, r0, #1",
            "str r0, [r6, #24]",
            "bne 3b",
            "pop {{r0, r6, r7}}",
            inout("r0") &mut state as *mut TileLoop => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        );
    }
}

/// Panel words per step of 4 values of `k` with 4 activation rows: `[a0,a2] [a1,a3]` of rows 0-3.
const STEP_WORDS4: usize = 2 * STEP_WORDS;

/// Values of `k` per block with 4 rows: the same 2 KiB panel.
const K_BLOCK4: usize = K_BLOCK / 2;

/// [`pack`] for 4 rows, all present.
#[inline(always)]
fn pack4<A: Activation>(a: [&[A]; 4], p0: usize, steps: usize, panel: &mut [u32]) {
    for (s, words) in panel.chunks_exact_mut(STEP_WORDS4).take(steps).enumerate() {
        let p = p0 + 4 * s;
        for (r, pair) in words.chunks_exact_mut(2).enumerate() {
            let (x02, x13) = A::pairs(a[r], p);
            pair.copy_from_slice(&[x02, x13]);
        }
    }
}

/// `tiles` 4 × 1 tiles: weight row `j < tiles` (`b` holds row 0 from the block's first value, rows
/// `ldb` apart) against `steps` steps of the 4-row panel, into `c[r·ldc + j]` for rows `r < 4`
/// with [`put`]. Each weight word is widened once for four rows of activations.
#[inline(always)]
fn tiles_4x1_rust(
    panel: &[u32],
    b: &[i8],
    ldb: usize,
    steps: usize,
    tiles: usize,
    c: &mut [i32],
    ldc: usize,
    keep: i32,
) {
    for j in 0..tiles {
        let b0 = &b[j * ldb..j * ldb + 4 * steps];
        let mut acc = [0; 4];
        for s in 0..steps {
            let x = &panel[s * STEP_WORDS4..(s + 1) * STEP_WORDS4];
            let w = word_i8(b0, 4 * s);
            (acc[0], acc[1]) = step(&x[..STEP_WORDS], w, acc[0], acc[1]);
            (acc[2], acc[3]) = step(&x[STEP_WORDS..], w, acc[2], acc[3]);
        }
        for (r, &v) in acc.iter().enumerate() {
            put(&mut c[r * ldc + j], v, keep);
        }
    }
}

#[cfg(not(electra_arm_dsp))]
use tiles_4x1_rust as tiles_4x1;

/// What the 4-row `asm!` loop reads between tiles, like [`TileLoop`]: `c` advances by one output.
#[cfg(electra_arm_dsp)]
#[repr(C)]
struct TileLoop4 {
    panel: *const u32,
    panel_end: *const u32,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc_bytes: usize,
    count: usize,
    keep: i32,
}

#[cfg(electra_arm_dsp)]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(TileLoop4, panel) == 0 && offset_of!(TileLoop4, panel_end) == 4);
    assert!(offset_of!(TileLoop4, b) == 8 && offset_of!(TileLoop4, ldb) == 12 && offset_of!(TileLoop4, c) == 16);
    assert!(offset_of!(TileLoop4, ldc_bytes) == 20 && offset_of!(TileLoop4, count) == 24);
    assert!(offset_of!(TileLoop4, keep) == 28);
};

/// [`tiles_4x1_rust`] with the loop over tiles in `asm!`. Per step of 4 values (16 MACs): one `LDR`
/// and two `SXTB16` for the weight word, two `LDM` for the 4 rows' panel words, 8 `SMLAD`: 13; four
/// steps a turn plus `CMP`/`BNE`, 54 per 64 MACs (0.84 per MAC); per tile 12 instructions to set
/// up and 29 to add the four sums into `c` and count. `steps` not a multiple of 4, or no tiles,
/// go to Rust.
#[cfg(electra_arm_dsp)]
#[inline(always)]
fn tiles_4x1(panel: &[u32], b: &[i8], ldb: usize, steps: usize, tiles: usize, c: &mut [i32], ldc: usize, keep: i32) {
    if tiles == 0 || steps == 0 || !steps.is_multiple_of(4) {
        tiles_4x1_rust(panel, b, ldb, steps, tiles, c, ldc, keep);
        return;
    }
    // A caller bug, never the model's: the loop reads and writes exactly these.
    assert!(panel.len() >= steps * STEP_WORDS4);
    assert!(b.len() >= (tiles - 1) * ldb + 4 * steps && c.len() >= 3 * ldc + tiles);
    let mut state = TileLoop4 {
        panel: panel.as_ptr(),
        // SAFETY: within `panel` (asserted above).
        panel_end: unsafe { panel.as_ptr().add(steps * STEP_WORDS4) },
        b: b.as_ptr(),
        ldb,
        c: c.as_mut_ptr(),
        ldc_bytes: ldc * 4,
        count: tiles,
        keep,
    };
    // SAFETY: per tile `j`, reads `STEP_WORDS4 · steps` words of `panel` (aligned) and `4 · steps`
    // bytes of weight row `j` (unaligned `LDR` is allowed), and reads and writes `c[r·ldc + j]`
    // for `r < 4`, all within the slices (asserted above), and `state`. Registers as in
    // `tiles_2x2`: r6 and r7 saved and restored, every other one an operand or clobbered.
    unsafe {
        core::arch::asm!(
            "push {{r0, r6, r7}}",
            // next tile: panel from its start, weight row j, four zero sums
            "3:",
            "ldr r6, [sp]",
            "ldr r10, [r6, #0]",
            "ldr lr, [r6, #4]",
            "ldr r11, [r6, #8]",
            "ldr r7, [r6, #12]",
            "add r7, r11, r7",
            "str r7, [r6, #8]",
            "mov r4, #0",
            "mov r5, #0",
            "mov r8, #0",
            "mov r9, #0",
            "4:",
            // step 1: the weight word widened once, against rows 0-1 then rows 2-3
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r5, r2, r6, r5",
            "smlad r5, r3, r7, r5",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r8, r0, r6, r8",
            "smlad r8, r1, r7, r8",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            // step 2
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r5, r2, r6, r5",
            "smlad r5, r3, r7, r5",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r8, r0, r6, r8",
            "smlad r8, r1, r7, r8",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            // steps 3 and 4
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r5, r2, r6, r5",
            "smlad r5, r3, r7, r5",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r8, r0, r6, r8",
            "smlad r8, r1, r7, r8",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            "ldr r7, [r11], #4",
            "sxtb16 r6, r7",
            "sxtb16 r7, r7, ror #8",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r4, r0, r6, r4",
            "smlad r4, r1, r7, r4",
            "smlad r5, r2, r6, r5",
            "smlad r5, r3, r7, r5",
            "ldm r10!, {{r0, r1, r2, r3}}",
            "smlad r8, r0, r6, r8",
            "smlad r8, r1, r7, r8",
            "smlad r9, r2, r6, r9",
            "smlad r9, r3, r7, r9",
            "cmp r10, lr",
            "bne 4b",
            // c[r·ldc + j] = sums + (old & keep) for r < 4; next tile
            "ldr r6, [sp]",
            "ldr r0, [r6, #16]",
            "ldr r1, [r6, #20]",
            "ldr r7, [r6, #28]",
            "ldr r2, [r0]",
            "and r2, r2, r7",
            "add r4, r4, r2",
            "str r4, [r0]",
            "add r3, r0, r1",
            "ldr r2, [r3]",
            "and r2, r2, r7",
            "add r5, r5, r2",
            "str r5, [r3]",
            "add r3, r3, r1",
            "ldr r2, [r3]",
            "and r2, r2, r7",
            "add r8, r8, r2",
            "str r8, [r3]",
            "add r3, r3, r1",
            "ldr r2, [r3]",
            "and r2, r2, r7",
            "add r9, r9, r2",
            "str r9, [r3]",
            "add r0, r0, #4",
            "str r0, [r6, #16]",
            "ldr r0, [r6, #24]",
            "subs r0, r0, #1",
            "str r0, [r6, #24]",
            "bne 3b",
            "pop {{r0, r6, r7}}",
            inout("r0") &mut state as *mut TileLoop4 => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("lr") _,
        );
    }
}

/// The 2 × 1 tile (the last weight row when `n` is odd): `[row 0 · b0, row 1 · b0]`, from zero.
#[inline(always)]
fn tile_2x1(panel: &[u32], b0: &[i8], steps: usize) -> [i32; 2] {
    let mut acc = [0; 2];
    for s in 0..steps {
        let x = &panel[s * STEP_WORDS..(s + 1) * STEP_WORDS];
        (acc[0], acc[1]) = step(x, word_i8(b0, 4 * s), acc[0], acc[1]);
    }
    acc
}

/// `*c = v` in the first block of `k`, `*c += v` in the others (`keep`: all ones, else zero):
/// branch-free, since it runs four times per tile.
#[inline(always)]
fn put(c: &mut i32, v: i32, keep: i32) {
    *c = v.wrapping_add(*c & keep);
}

/// `c[i·ldc + j] = Σ_{p<k} a[i·lda + p] · b[j·ldb + p]`: pairs of activation rows, blocks of
/// `K_BLOCK` values widened into the panel, 2 × 2 tiles across the weight rows; the values past
/// the last multiple of 4 (none in ELECTRA's shapes) added at the end, from the operands.
#[inline(always)]
fn gemm<A: Activation>(
    m: usize,
    n: usize,
    k: usize,
    a: &[A],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) {
    let mut panel = [0u32; K_BLOCK / 4 * STEP_WORDS];
    let k4 = k / 4 * 4;
    let mut i0 = 0;
    // Blocks of 4 rows (arenas of 4 rows per block and more): each weight word widened once per 4 rows.
    while i0 + 4 <= m {
        let rows: [&[A]; 4] = core::array::from_fn(|r| &a[(i0 + r) * lda..(i0 + r) * lda + k]);
        let c_rows = &mut c[i0 * ldc..];
        let mut kb0 = 0;
        loop {
            let kb1 = (kb0 + K_BLOCK4).min(k4);
            let steps = (kb1 - kb0) / 4;
            pack4(rows, kb0, steps, &mut panel);
            let keep = if kb0 == 0 { 0 } else { -1 };
            let quad = steps / 4 * 4;
            tiles_4x1(&panel, &b[kb0..], ldb, quad, n, c_rows, ldc, keep);
            // The last 1-3 steps (none when `k` is a multiple of 16).
            if quad < steps {
                let rest = steps - quad;
                tiles_4x1_rust(&panel[quad * STEP_WORDS4..], &b[kb0 + 4 * quad..], ldb, rest, n, c_rows, ldc, -1);
            }
            if kb1 == k4 {
                break;
            }
            kb0 = kb1;
        }
        if k4 < k {
            for (r, row) in rows.iter().enumerate() {
                for j in 0..n {
                    let b_tail = &b[j * ldb + k4..j * ldb + k];
                    let dot: i32 = row[k4..].iter().zip(b_tail).map(|(&x, &y)| x.widen() * y as i32).sum();
                    c_rows[r * ldc + j] = c_rows[r * ldc + j].wrapping_add(dot);
                }
            }
        }
        i0 += 4;
    }
    // Then pairs of rows, and a last single row.
    while i0 < m {
        let a0 = &a[i0 * lda..i0 * lda + k];
        let a1 = if i0 + 1 < m { Some(&a[(i0 + 1) * lda..(i0 + 1) * lda + k]) } else { None };
        let rows = &mut c[i0 * ldc..];
        let (c0, c1) = rows.split_at_mut(ldc.min(rows.len()));
        let (c0, c1) = (&mut c0[..n], if a1.is_some() { &mut c1[..n] } else { &mut [][..] });
        // One block at least, so `k < 4` still writes zeros.
        let mut kb0 = 0;
        loop {
            let kb1 = (kb0 + K_BLOCK).min(k4);
            let steps = (kb1 - kb0) / 4;
            pack(a0, a1, kb0, steps, &mut panel);
            let keep = if kb0 == 0 { 0 } else { -1 };
            let (quad, tiles) = (steps / 4 * 4, n / 2);
            let b_block = &b[kb0..];
            if a1.is_some() {
                tiles_2x2(&panel, b_block, ldb, quad, tiles, c0, c1, keep);
            } else {
                // One row (odd `m`): the panel's second row is zeros; its sums go nowhere.
                let mut none = [0i32; 2];
                for t in 0..tiles {
                    tiles_2x2_rust(&panel, &b_block[2 * t * ldb..], ldb, quad, 1, &mut c0[2 * t..], &mut none, keep);
                }
            }
            // The last 1-3 steps of each 2 × 2 tile (none when `k` is a multiple of 16).
            if quad < steps {
                let mut none = [0i32; 2];
                for t in 0..tiles {
                    let c1_t = if a1.is_some() { &mut c1[2 * t..] } else { &mut none[..] };
                    let rows = &b_block[2 * t * ldb + 4 * quad..];
                    let (panel_rest, rest) = (&panel[quad * STEP_WORDS..], steps - quad);
                    tiles_2x2_rust(panel_rest, rows, ldb, rest, 1, &mut c0[2 * t..], c1_t, -1);
                }
            }
            let j = 2 * tiles;
            if j < n {
                let acc = tile_2x1(&panel, &b[j * ldb + kb0..j * ldb + kb1], steps);
                put(&mut c0[j], acc[0], keep);
                if let Some(c10) = c1.get_mut(j) {
                    put(c10, acc[1], keep);
                }
            }
            if kb1 == k4 {
                break;
            }
            kb0 = kb1;
        }
        if k4 < k {
            for j in 0..n {
                let b_tail = &b[j * ldb + k4..j * ldb + k];
                let dot =
                    |row: &[A]| -> i32 { row[k4..].iter().zip(b_tail).map(|(&x, &y)| x.widen() * y as i32).sum() };
                c0[j] = c0[j].wrapping_add(dot(a0));
                if let (Some(a1), Some(c)) = (a1, c1.get_mut(j)) {
                    *c = c.wrapping_add(dot(a1));
                }
            }
        }
        i0 += 2;
    }
}

/// See the module docs; same contract as the scalar twin.
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    gemm(m, n, k, a, lda, b, ldb, c, ldc)
}

/// See the module docs; same contract as the scalar twin.
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
