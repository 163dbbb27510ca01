//! Cortex-M4/M7/M33 int8 × int4 kernel: the same bits as [`super::gemm_i8_i4_scalar`], with the
//! weights widened in registers, never unpacked to memory.
//!
//! A word of packed nibbles `n0 … n7` (input `p` in the low nibble of byte `p / 2` for even `p`)
//! becomes four words of signed 16-bit halves with one mask each and `SXTB16`: every nibble is moved
//! to the top of its byte, so each half holds `16 · n`:
//!
//! ```text
//! lo = (w & 0x0f0f0f0f) << 4   SXTB16 lo → [16·n0, 16·n4]   SXTB16 lo, ROR #8 → [16·n2, 16·n6]
//! hi =  w & 0xf0f0f0f0         SXTB16 hi → [16·n1, 16·n5]   SXTB16 hi, ROR #8 → [16·n3, 16·n7]
//! ```
//!
//! The activation rows of a block are widened once per call into a panel on the stack (2 KiB), in
//! the matching order `[a0,a4] [a2,a6] [a1,a5] [a3,a7]` per 8 inputs, so 8 inputs of one weight row
//! against `R` activation rows cost one `LDR`, two `AND`s (the mask in a register, the shift in
//! the operand), four `SXTB16`, and per row four panel words and four `SMLAD`. For 2 rows (the
//! smallest arena's blocks) the loop over words, and over a block's whole groups, is `asm!` on
//! `electra_arm_dsp` targets: 21 instructions per 16 MACs (measured in `docs/BOARDS.md`); other
//! row counts run the same steps in Rust. Every product is 16 times the true one, so a group's
//! int32 sum is exact and `sum >> 4` (exact: every term is a multiple of 16) is the definition's.
//! Range: `|sum| ≤ 16 · 8 · 127 · values` with at most `2 · PANEL_WORDS` = 1024 values per
//! group here, far below `2^31`.
//!
//! Groups are whole within a block of the panel (blocks end on group boundaries), so each output's
//! float accumulator sees `acc += scale · sum` in increasing group order as in the definition; it
//! lives in `c` between blocks (an f32 store and load are exact). Values the 8-input words do not
//! cover (a view starting at an odd input, a group or view end not 8 inputs on) are added one by
//! one to the group's sum. A group longer than the panel holds goes through
//! [`super::gemm_i8_i4_via`] the int8 Arm DSP twin.
//!
//! On `electra_arm_dsp` targets the primitives are the real instructions; elsewhere their portable
//! definitions ([`super::super::arm_dsp`]), so the host harness runs this very code.

use super::super::arm_dsp::op::{pkhbt, pkhtb, smlad, sxtb16, sxtb16_ror8};
use super::{check_i4_shapes, gemm_i8_i4_via, I4Weights, Scales};
use crate::quant::quantize::nibble;

/// Words of the activation panel: 2 KiB of stack, as the int8 twin's.
const PANEL_WORDS: usize = 512;

/// Panel words per 8 inputs of one activation row.
const OCTET_WORDS: usize = 4;

/// See the module docs; same contract as [`super::gemm_i8_i4_scalar`].
pub fn gemm_i8_i4(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    check_i4_shapes(m, n, k, a, lda, b, c, ldc);
    let mut i0 = 0;
    while i0 < m {
        let rows = match m - i0 {
            1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        let a_rows = &a[i0 * lda..];
        let c_rows = &mut c[i0 * ldc..];
        let done = match rows {
            1 => block::<1>(n, k, a_rows, lda, b, c_rows, ldc),
            2 => block::<2>(n, k, a_rows, lda, b, c_rows, ldc),
            _ => block::<4>(n, k, a_rows, lda, b, c_rows, ldc),
        };
        if !done {
            gemm_i8_i4_via(super::super::ARM_DSP.gemm_i8_fn(), rows, n, k, a_rows, lda, b, c_rows, ldc);
        }
        i0 += rows;
    }
}

/// Four int8 at `row[p..p + 4]` as one little-endian word (one `LDR`: Cortex-M4/M7/M33 load
/// unaligned words).
#[inline(always)]
fn word<T: Copy>(row: &[T], p: usize) -> u32 {
    assert!(core::mem::size_of::<T>() == 1 && p + 4 <= row.len());
    // SAFETY: the four bytes are in `row` (asserted above; the check folds away in the loops);
    // `read_unaligned` has no alignment requirement.
    u32::from_le(unsafe { core::ptr::read_unaligned(row.as_ptr().add(p) as *const u32) })
}

/// The part `[start, end)` (absolute inputs) of group `g` inside the view `[k0, k_end)`, and how it
/// splits: a first value alone when `start` is odd, then whole 8-input words, then the rest.
#[derive(Clone, Copy)]
struct Part {
    start: usize,
    end: usize,
    /// First input of the first 8-input word (`start` rounded up to even).
    words_at: usize,
    /// 8-input words.
    words: usize,
}

impl Part {
    #[inline(always)]
    fn new(g: usize, group: usize, k0: usize, k_end: usize) -> Self {
        let (start, end) = ((g * group).max(k0), ((g + 1) * group).min(k_end));
        let words_at = (start + 1) & !1;
        let words = end.saturating_sub(words_at) / 8;
        Self { start, end, words_at, words }
    }

    /// Inputs the words leave out: the odd first one and the last `< 8`.
    #[inline(always)]
    fn rest(&self) -> impl Iterator<Item = usize> {
        (self.start..self.words_at.min(self.end)).chain(self.words_at + 8 * self.words..self.end)
    }
}

/// Rows `0..R` of `a` against all `n` weight rows into rows `0..R` of `c`. `false` (nothing
/// written) when a group does not fit the panel.
#[inline(always)]
fn block<const R: usize>(n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) -> bool {
    // 8-input words of one activation row the panel holds.
    let capacity = PANEL_WORDS / (OCTET_WORDS * R);
    let group = b.group;
    if group > 8 * capacity {
        return false;
    }
    let rows: [&[i8]; R] = core::array::from_fn(|r| &a[r * lda..r * lda + k]);
    let (k0, k_end) = (b.k0, b.k0 + k);
    let (bytes, groups) = (b.n_in / 2, b.n_in / group);
    let mut panel = [0u32; PANEL_WORDS];
    // Whole groups per block: each holds at most `group / 8` words of each row.
    let per_block = (8 * capacity / group).max(1);
    // No group at all for an empty view (the definition adds nothing, not even `scale · 0`).
    let (g_first, g_end) = (k0 / group, if k == 0 { k0 / group } else { k_end.div_ceil(group) });
    let mut g0 = g_first;
    // `k == 0` still writes zeros: one (empty) block.
    loop {
        let g1 = (g0 + per_block).min(g_end);
        // Widen the block's words of every row, group after group, into the panel.
        let mut at = 0;
        for g in g0..g1 {
            let part = Part::new(g, group, k0, k_end);
            for w in 0..part.words {
                let p = part.words_at + 8 * w - k0;
                for (r, row) in rows.iter().enumerate() {
                    let (x0, x1) = (word(row, p), word(row, p + 4));
                    let (e0, e1) = (sxtb16(x0), sxtb16(x1)); // [a0,a2], [a4,a6]
                    let (o0, o1) = (sxtb16_ror8(x0), sxtb16_ror8(x1)); // [a1,a3], [a5,a7]
                    let words = &mut panel[(at + w * R + r) * OCTET_WORDS..][..OCTET_WORDS];
                    words.copy_from_slice(&[pkhbt(e0, e1), pkhtb(e1, e0), pkhbt(o0, o1), pkhtb(o1, o0)]);
                }
            }
            at += part.words * R;
        }
        let first = g0 == g_first;
        // The block's run of whole groups when a group is whole 8-input words (every group of
        // ELECTRA's products but a view's partial first and last): contiguous in the weight row and
        // in the panel, so read without the per-part bookkeeping.
        let whole = |g: usize| g * group >= k0 && (g + 1) * group <= k_end;
        let (run0, run1) = if group.is_multiple_of(8) {
            let run0 = if whole(g0) { g0 } else { g0 + 1 }.min(g1);
            let run1 = if g1 > run0 && !whole(g1 - 1) { g1 - 1 } else { g1 };
            (run0, run1.max(run0))
        } else {
            (g1, g1)
        };
        if run0 == g0 && run1 == g1 && g1 > g0 {
            // The whole block is one run (the common case): per output only the run's loop.
            let run = Run { per_group: group / 8, count: g1 - g0, w_start: g0 * group / 2, bytes, groups, g0 };
            let x = &panel[..run.count * run.per_group * R * OCTET_WORDS];
            match b.scales {
                Scales::F32(s) => outputs_in_one_run::<R, _>(&run, n, x, b.nibbles, s, c, ldc, first),
                Scales::F16(s) => outputs_in_one_run::<R, _>(&run, n, x, b.nibbles, s, c, ldc, first),
            }
        } else {
            outputs(n, &panel, &rows, b, (g0, g1), (run0, run1), c, ldc, first);
        }
        if g1 >= g_end {
            return true;
        }
        g0 = g1;
    }
}

/// A scale as stored: f32, or f16 bits widened exactly (as [`Scales::get`] does).
trait Scale: Copy {
    fn widen(self) -> f32;
}

impl Scale for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Scale for u16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        crate::quant::floats::widen_f16(self)
    }
}

/// A block of `count` whole groups from group `g0` on, `per_group` 8-input words each; weight row
/// `j`'s words for it start at byte `j · bytes + w_start`, its scales at `j · groups + g0`.
struct Run {
    per_group: usize,
    count: usize,
    w_start: usize,
    bytes: usize,
    groups: usize,
    g0: usize,
}

/// Every output of a block that is one [`Run`]: `c[r·ldc + j]` from zero (`first` block) or from
/// its value, plus `scale · sum` per group in order.
#[inline(always)]
fn outputs_in_one_run<const R: usize, S: Scale>(
    run: &Run,
    n: usize,
    x: &[u32],
    nibbles: &[u8],
    scales: &[S],
    c: &mut [f32],
    ldc: usize,
    first: bool,
) {
    let (x_group, w_group) = (run.per_group * R * OCTET_WORDS, 4 * run.per_group);
    let mut sums = [[0i32; R]; RUN_CHUNK];
    for j in 0..n {
        let weights = &nibbles[j * run.bytes + run.w_start..][..run.count * w_group];
        let scales = &scales[j * run.groups + run.g0..][..run.count];
        let mut acc = [0f32; R];
        if !first {
            for (r, v) in acc.iter_mut().enumerate() {
                *v = c[r * ldc + j];
            }
        }
        // The group sums a chunk of groups at a time, then the float steps over them.
        let mut g = 0;
        while g < run.count {
            let t = (run.count - g).min(RUN_CHUNK);
            let (x_chunk, w_chunk) = (&x[g * x_group..(g + t) * x_group], &weights[g * w_group..(g + t) * w_group]);
            group_sums::<R>(x_chunk, w_chunk, run.per_group, &mut sums[..t]);
            for (group, &scale) in sums[..t].iter().zip(&scales[g..g + t]) {
                for (v, &s) in acc.iter_mut().zip(group) {
                    *v += scale.widen() * s as f32;
                }
            }
            g += t;
        }
        for (r, &v) in acc.iter().enumerate() {
            c[r * ldc + j] = v;
        }
    }
}

/// Groups whose sums [`outputs_in_one_run`] keeps at once (256 bytes of stack at 2 rows).
const RUN_CHUNK: usize = 32;

/// The exact int32 sums (`dot / 16`) of `out.len()` consecutive whole groups of `per_group`
/// 8-input words each: `group_sums_2_asm` for 2 rows on `electra_arm_dsp` targets, else
/// [`dot_rust`] per group.
#[inline(always)]
fn group_sums<const R: usize>(x: &[u32], weights: &[u8], per_group: usize, out: &mut [[i32; R]]) {
    #[cfg(electra_arm_dsp)]
    if R == 2 {
        // Two rows: `out` flattened is the asm's pairs.
        group_sums_2_asm(x, weights, per_group, out.as_flattened_mut());
        return;
    }
    let (x_groups, w_groups) = (x.chunks_exact(per_group * R * OCTET_WORDS), weights.chunks_exact(4 * per_group));
    for ((o, x), w) in out.iter_mut().zip(x_groups).zip(w_groups) {
        *o = dot_rust::<R>(x, w).map(|s| s >> 4);
    }
}

/// Every output of a block in general: the block's run of whole groups `run0..run1` (if any) with
/// [`add_run`], each other group part by part, its leftover values one by one.
#[inline(always)]
fn outputs<const R: usize>(
    n: usize,
    panel: &[u32],
    rows: &[&[i8]; R],
    b: &I4Weights,
    (g0, g1): (usize, usize),
    (run0, run1): (usize, usize),
    c: &mut [f32],
    ldc: usize,
    first: bool,
) {
    let (group, k0) = (b.group, b.k0);
    let k_end = k0 + rows[0].len();
    let (bytes, groups) = (b.n_in / 2, b.n_in / group);
    for j in 0..n {
        let w_row = &b.nibbles[j * bytes..(j + 1) * bytes];
        let mut acc = [0f32; R];
        if !first {
            for (r, v) in acc.iter_mut().enumerate() {
                *v = c[r * ldc + j];
            }
        }
        let mut at = 0;
        let mut g = g0;
        while g < g1 {
            if g == run0 && run1 > run0 {
                let (per_group, count) = (group / 8, run1 - run0);
                let x = &panel[at * OCTET_WORDS..(at + count * per_group * R) * OCTET_WORDS];
                let weights = &w_row[run0 * group / 2..run1 * group / 2];
                let scales = j * groups + run0..j * groups + run1;
                match b.scales {
                    Scales::F32(s) => add_run(&mut acc, x, weights, per_group, s[scales].iter().copied()),
                    Scales::F16(s) => {
                        let widen = |&h: &u16| crate::quant::floats::widen_f16(h);
                        add_run(&mut acc, x, weights, per_group, s[scales].iter().map(widen))
                    }
                }
                at += count * per_group * R;
                g = run1;
                continue;
            }
            let part = Part::new(g, group, k0, k_end);
            let weights = &w_row[part.words_at / 2..part.words_at / 2 + 4 * part.words];
            let x = &panel[at * OCTET_WORDS..(at + part.words * R) * OCTET_WORDS];
            let mut sums = dot::<R>(x, weights);
            for s in sums.iter_mut() {
                *s >>= 4;
            }
            for p in part.rest() {
                let w = nibble(w_row[p / 2], p % 2 == 1) as i32;
                for (s, row) in sums.iter_mut().zip(rows) {
                    *s += row[p - k0] as i32 * w;
                }
            }
            let scale = b.scales.get(j * groups + g);
            for (v, &s) in acc.iter_mut().zip(&sums) {
                *v += scale * s as f32;
            }
            at += part.words * R;
            g += 1;
        }
        for (r, &v) in acc.iter().enumerate() {
            c[r * ldc + j] = v;
        }
    }
}

/// `acc[r] += scale · sum` for each group of a run of whole groups (`per_group` 8-input words
/// each), in order: the definition's float steps, with the sums from [`dot`].
#[inline(always)]
fn add_run<const R: usize>(
    acc: &mut [f32; R],
    x: &[u32],
    weights: &[u8],
    per_group: usize,
    scales: impl Iterator<Item = f32>,
) {
    let (x_groups, w_groups) = (x.chunks_exact(per_group * R * OCTET_WORDS), weights.chunks_exact(4 * per_group));
    for ((x, w), scale) in x_groups.zip(w_groups).zip(scales) {
        let sums = dot::<R>(x, w);
        for (v, &s) in acc.iter_mut().zip(&sums) {
            *v += scale * (s >> 4) as f32;
        }
    }
}

/// Sixteen times the int32 sums of one weight row's 8-input words (`weights`, 4 bytes each)
/// against the panel's words for them (`x`: per word, `R` rows of 4 panel words): `dot_2_asm`
/// for 2 rows on `electra_arm_dsp` targets, else [`dot_rust`].
#[inline(always)]
fn dot<const R: usize>(x: &[u32], weights: &[u8]) -> [i32; R] {
    #[cfg(electra_arm_dsp)]
    if R == 2 {
        let two = dot_2_asm(x, weights);
        return core::array::from_fn(|r| two[r]);
    }
    dot_rust::<R>(x, weights)
}

/// [`dot`] in Rust on the primitives (the real instructions on `electra_arm_dsp` targets).
#[inline(always)]
fn dot_rust<const R: usize>(x: &[u32], weights: &[u8]) -> [i32; R] {
    let mut sums = [0i32; R];
    for (xs, w) in x.chunks_exact(OCTET_WORDS * R).zip(weights.chunks_exact(4)) {
        let w = word(w, 0);
        let (lo, hi) = ((w & 0x0f0f_0f0f) << 4, w & 0xf0f0_f0f0);
        let (w04, w26, w15, w37) = (sxtb16(lo), sxtb16_ror8(lo), sxtb16(hi), sxtb16_ror8(hi));
        for (s, x) in sums.iter_mut().zip(xs.chunks_exact(OCTET_WORDS)) {
            *s = smlad(x[3], w37, smlad(x[2], w15, smlad(x[1], w26, smlad(x[0], w04, *s))));
        }
    }
    sums
}

/// [`dot_rust`] for 2 rows with the loop in `asm!`: per 8-input word (16 MACs) one `LDR`, two
/// `AND` (the mask in a register, the low nibbles shifted up by the operand shift), four `SXTB16`,
/// four `LDRD` of panel words and eight `SMLAD`, then `CMP`/`BNE`: 21 instructions, 1.31 per MAC,
/// where the compiled Rust loop takes 25 (it loads the panel one word at a time). `LDM` of four
/// panel words would need two more registers than the twelve `asm!` may name.
#[cfg(electra_arm_dsp)]
#[inline(always)]
fn dot_2_asm(x: &[u32], weights: &[u8]) -> [i32; 2] {
    let words = weights.len() / 4;
    // A caller bug, never the model's: the loop reads exactly these.
    assert!(x.len() >= 2 * OCTET_WORDS * words);
    let (mut s0, mut s1) = (0i32, 0i32);
    if words == 0 {
        return [0, 0];
    }
    // SAFETY: reads `words` words of `weights` (unaligned `LDR` is allowed on ARMv7-M and ARMv8-M
    // Mainline) and `8 · words` words of `x` (word-aligned: a `[u32]`, as `LDRD` needs), all within
    // the slices (asserted above); writes only the named registers.
    unsafe {
        core::arch::asm!(
            "4:",
            "ldr {w}, [{wp}], #4",
            "and {lo}, {mask}, {w}, lsl #4",
            "and {w}, {w}, {mask}",
            "sxtb16 {h26}, {lo}, ror #8",
            "sxtb16 {lo}, {lo}",
            "sxtb16 {h37}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            // row 0: [a0,a4]·[n0,n4] + [a2,a6]·[n2,n6] + [a1,a5]·[n1,n5] + [a3,a7]·[n3,n7]
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s0}, {p0}, {lo}, {s0}",
            "smlad {s0}, {p1}, {h26}, {s0}",
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s0}, {p0}, {w}, {s0}",
            "smlad {s0}, {p1}, {h37}, {s0}",
            // row 1
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s1}, {p0}, {lo}, {s1}",
            "smlad {s1}, {p1}, {h26}, {s1}",
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s1}, {p0}, {w}, {s1}",
            "smlad {s1}, {p1}, {h37}, {s1}",
            "cmp {wp}, {wend}",
            "bne 4b",
            xp = inout(reg) x.as_ptr() => _,
            wp = inout(reg) weights.as_ptr() => _,
            // SAFETY: one past the last word read, within or at the end of `weights`.
            wend = in(reg) weights.as_ptr().add(4 * words),
            mask = in(reg) 0xf0f0_f0f0u32,
            s0 = inout(reg) s0,
            s1 = inout(reg) s1,
            w = out(reg) _,
            lo = out(reg) _,
            h26 = out(reg) _,
            h37 = out(reg) _,
            p0 = out(reg) _,
            p1 = out(reg) _,
            options(pure, readonly, nostack),
        );
    }
    [s0, s1]
}

/// [`group_sums`] for 2 rows with the loop over groups in `asm!` too: [`dot_2_asm`]'s loop per
/// group, then 12 instructions to shift and store both sums and start the next group. The out
/// pointer, the bytes per group and the end of the weights wait on the stack: the inner loop needs
/// all twelve registers `asm!` may name.
#[cfg(electra_arm_dsp)]
#[inline(always)]
fn group_sums_2_asm(x: &[u32], weights: &[u8], per_group: usize, out: &mut [i32]) {
    let groups = out.len() / 2;
    if groups == 0 {
        return;
    }
    // A caller bug, never the model's: the loop reads and writes exactly these.
    assert!(per_group > 0 && weights.len() >= 4 * per_group * groups && x.len() >= 8 * per_group * groups);
    // SAFETY: reads `per_group · groups` words of `weights` (unaligned `LDR` is allowed on ARMv7-M
    // and ARMv8-M Mainline) and `8 ·` as many words of `x` (word-aligned, as `LDRD` needs), writes
    // `groups` pairs of `out` (word-aligned `i32`s, as `STRD` needs), all within the slices
    // (asserted above); pushes three words below `sp` and pops them; every register it writes is an
    // operand.
    unsafe {
        core::arch::asm!(
            "str {p1}, [sp, #-4]!",
            "str {h37}, [sp, #-4]!",
            "str {p0}, [sp, #-4]!",
            // next group: its end in the weights, zero sums
            "3:",
            "ldr {gend}, [sp, #4]",
            "add {gend}, {gend}, {wp}",
            "mov {s0}, #0",
            "mov {s1}, #0",
            "4:",
            "ldr {w}, [{wp}], #4",
            "and {lo}, {mask}, {w}, lsl #4",
            "and {w}, {w}, {mask}",
            "sxtb16 {h26}, {lo}, ror #8",
            "sxtb16 {lo}, {lo}",
            "sxtb16 {h37}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s0}, {p0}, {lo}, {s0}",
            "smlad {s0}, {p1}, {h26}, {s0}",
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s0}, {p0}, {w}, {s0}",
            "smlad {s0}, {p1}, {h37}, {s0}",
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s1}, {p0}, {lo}, {s1}",
            "smlad {s1}, {p1}, {h26}, {s1}",
            "ldrd {p0}, {p1}, [{xp}], #8",
            "smlad {s1}, {p0}, {w}, {s1}",
            "smlad {s1}, {p1}, {h37}, {s1}",
            "cmp {wp}, {gend}",
            "bne 4b",
            // the exact sums (every product was 16 times the true one) into `out`; next group
            "asr {s0}, {s0}, #4",
            "asr {s1}, {s1}, #4",
            "ldr {p0}, [sp]",
            "strd {s0}, {s1}, [{p0}], #8",
            "str {p0}, [sp]",
            "ldr {p1}, [sp, #8]",
            "cmp {wp}, {p1}",
            "bne 3b",
            "add sp, sp, #12",
            xp = inout(reg) x.as_ptr() => _,
            wp = inout(reg) weights.as_ptr() => _,
            gend = out(reg) _,
            mask = in(reg) 0xf0f0_f0f0u32,
            s0 = out(reg) _,
            s1 = out(reg) _,
            w = out(reg) _,
            lo = out(reg) _,
            h26 = out(reg) _,
            h37 = inout(reg) 4 * per_group => _,
            p0 = inout(reg) out.as_mut_ptr() => _,
            // Within `weights` or one past its end (asserted above).
            p1 = inout(reg) weights.as_ptr().add(4 * per_group * groups) => _,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::ARM_DSP;
    use super::super::{check_i4_twin, dedicated, Scratch};
    use std::vec;

    /// The harness's `every_twin_…` test reaches this kernel through `dedicated(ARM_DSP)` too; this
    /// one checks that it is hooked, and covers each row block (1, 2, 4 rows and their mixes), the
    /// fallback (groups past the panel) and views from odd inputs with small shapes.
    #[test]
    fn dedicated_arm_dsp_kernel_matches_the_definition() {
        assert!(dedicated(&ARM_DSP).is_some(), "the arm-dsp twin has no dedicated int4 kernel");
        let (rows, k) = (9, 2048);
        let ld = k + 3;
        let (mut a8, mut a16, mut b) = (vec![0i8; rows * ld], vec![0i16; rows * ld], vec![0i8; rows * ld]);
        let (mut c_ref, mut c_twin) = (vec![0i32; rows * (rows + 1) + rows * k], vec![0i32; rows * (rows + 1)]);
        let mut s = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
        let groups = [2, 6, 8, 10, 16, 24, 40, 128, 256, 512, 1024, 2048];
        // Under Miri (scripts/reliability/miri.sh --subset runs `quant::kernels::`) two small shapes
        // that still reach the 1-, 2- and 4-row blocks (m = 2 and 4 + 1), whole and partial groups,
        // views from odd inputs and leftover values (25 s interpreted); more blocks of the panel and
        // the fallback only natively (m 1, 2, 4, 5 × n 1, 2 × k 6, 40, 264 took 8.6 min).
        if cfg!(miri) {
            assert_eq!(check_i4_twin(&ARM_DSP, &[2, 5], &[2], &[6, 40], &groups, 21, &mut s), Ok(()));
            return;
        }
        let ms: vec::Vec<usize> = (1..=9).collect();
        assert_eq!(check_i4_twin(&ARM_DSP, &ms, &[1, 2, 3], &[2, 6, 30, 40, 96, 240], &groups, 21, &mut s), Ok(()));
        assert_eq!(check_i4_twin(&ARM_DSP, &ms, &[1, 5], &[512, 1024, 2048], &groups, 23, &mut s), Ok(()));
    }
}
