//! Cortex-M55 (Helium) int8 × int4 kernel: the same bits as [`super::gemm_i8_i4_scalar`], with
//! the nibbles sign-extended in vector registers, never unpacked to memory.
//!
//! 32 inputs of one weight row are 16 bytes: input `p` is the low nibble of byte `p / 2` for even
//! `p`, the high one for odd `p`. One `vldrb.u8` loads them; `vshl.i8 #4` then `vshr.s8 #4` gives
//! the 16 even inputs' values, `vshr.s8 #4` alone the 16 odd ones'. The activation rows are
//! rearranged once per call into a panel on the stack (2 KiB) in the matching order: per 32
//! inputs, row 0's 16 even-index values, its 16 odd ones, then row 1's. Two weight rows are
//! unpacked per step, and each of the panel's four vectors is loaded once and multiplied into two
//! of the four sums (2 activation rows × 2 weight rows):
//!
//! ```text
//!   2:  vldrb.u8    q0, [w0], #16     ; 32 nibbles of weight row 0
//!       vshl.i8     q1, q0, #4
//!       vshr.s8     q1, q1, #4        ; its even inputs
//!       vshr.s8     q0, q0, #4        ; its odd inputs
//!       (the same for weight row 1 into q3, q2)
//!       vldrb.u8    q4, [x], #16      ; activation row 0, even inputs
//!       vmladava.s8 r0, q4, q1
//!       vmladava.s8 r4, q4, q3
//!       vldrb.u8    q5, [x], #16      ; activation row 0, odd inputs
//!       vmladava.s8 r0, q5, q0
//!       vmladava.s8 r4, q5, q2
//!       (the same for activation row 1 into r2, r8)
//!       le          lr, 2b
//! ```
//!
//! 21 instructions per 128 multiply-accumulates (0.16 per MAC) in the loop, against the unpacking
//! path's store and reload of every weight plus the int8 twin's 0.14 (a last odd weight row: 13
//! per 64, 0.20). The loop runs over one group's part; per group the exact int32 sums go to a
//! small array (8 instructions), and the float steps `acc + scale · sum` run in Rust afterwards,
//! in increasing group order as in the definition. The float accumulator lives in `c` between
//! panel blocks (an f32 store and load are exact).
//!
//! The panel covers inputs from `k0` on in steps of 32, so this kernel takes views where `k0`,
//! `k` and `group` are multiples of 32 (every product of ELECTRA's encoders: hidden 256, heads of
//! 64, groups of 32 to 256) and groups of at most 1024; other shapes go through
//! [`super::gemm_i8_i4_via`] the Helium int8 twin. A last odd activation row runs the two-row
//! loop with both rows the same (one code path; the second sum is dropped).
//!
//! With `electra_arm_mve` the loop is `asm!`; elsewhere [`group_sums`] computes the same sums in
//! Rust from the same panel, so the host harness runs this algorithm and the device's boot
//! self-test (`kernels::selftest`) checks the assembly.

use super::{check_i4_shapes, gemm_i8_i4_via, I4Weights, Scales};

/// Bytes of the activation panel: 2 KiB of stack, as the Arm DSP int4 kernel's.
const PANEL_BYTES: usize = 2048;
/// Inputs per step of the loop: one 16-byte vector of nibbles.
const STEP: usize = 32;
/// Activation rows per panel.
const ROWS: usize = 2;
/// Panel bytes per step: both rows' 32 values.
const STEP_BYTES: usize = ROWS * STEP;
/// Steps the panel holds: 1024 inputs of each row.
const CAPACITY: usize = PANEL_BYTES / STEP_BYTES;

/// See the module docs; same contract as [`super::gemm_i8_i4_scalar`].
pub fn gemm_i8_i4(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    check_i4_shapes(m, n, k, a, lda, b, c, ldc);
    let fits = b.k0.is_multiple_of(STEP)
        && k.is_multiple_of(STEP)
        && b.group.is_multiple_of(STEP)
        && b.group <= CAPACITY * STEP
        && k > 0;
    if !fits {
        gemm_i8_i4_via(super::super::HELIUM.gemm_i8_fn(), m, n, k, a, lda, b, c, ldc);
        return;
    }
    let mut i0 = 0;
    while i0 < m {
        let rows = (m - i0).min(ROWS);
        let row0 = &a[i0 * lda..i0 * lda + k];
        let row1 = if rows == 2 { &a[(i0 + 1) * lda..(i0 + 1) * lda + k] } else { row0 };
        block(n, k, [row0, row1], rows, b, &mut c[i0 * ldc..], ldc);
        i0 += rows;
    }
}

/// A run of consecutive groups whose parts in the view have the same number of steps: a view's
/// partial first group, its whole groups, its partial last group.
#[derive(Clone, Copy, Default)]
struct Run {
    /// First group.
    g: usize,
    /// Groups.
    count: usize,
    /// Steps per group.
    steps: usize,
    /// First input (absolute).
    start: usize,
    /// First step in the panel.
    at: usize,
}

/// Activation rows `rows` (the second the first again when `live == 1`) against all `n` weight
/// rows, into the first `live` rows of `c`. The view's shape fits (see [`gemm_i8_i4`]).
fn block(n: usize, k: usize, rows: [&[i8]; ROWS], live: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    let (group, k0, k_end) = (b.group, b.k0, b.k0 + k);
    let mut panel = [0i8; PANEL_BYTES];
    let (g_first, g_end) = (k0 / group, k_end.div_ceil(group));
    let part = |g: usize| ((g * group).max(k0), ((g + 1) * group).min(k_end));
    let mut g0 = g_first;
    while g0 < g_end {
        // The block: whole group parts while the panel holds them (at least one: group ≤ 1024).
        let (mut g1, mut steps) = (g0, 0);
        while g1 < g_end {
            let (s, e) = part(g1);
            if steps + (e - s) / STEP > CAPACITY {
                break;
            }
            steps += (e - s) / STEP;
            g1 += 1;
        }
        let p0 = part(g0).0;
        fill_panel(&mut panel[..steps * STEP_BYTES], rows, p0 - k0);
        // The block's runs: groups of equal part length, in order.
        let mut runs = [Run::default(); 3];
        let mut count = 0;
        let mut at = 0;
        for g in g0..g1 {
            let (s, e) = part(g);
            let len = (e - s) / STEP;
            if count > 0 && runs[count - 1].steps == len && runs[count - 1].g + runs[count - 1].count == g {
                runs[count - 1].count += 1;
            } else if count < runs.len() {
                runs[count] = Run { g, count: 1, steps: len, start: s, at };
                count += 1;
            } else {
                // Unreachable: only the first and last part of a view differ from `group`.
                unreachable!("helium int4 runs");
            }
            at += len;
        }
        let first = g0 == g_first;
        let mut j = 0;
        // The group sums and widened scales of one output pair's runs, here so that each pair does
        // not zero them again.
        let (mut sums2, mut sums1) = ([[[0i32; ROWS]; 2]; CAPACITY], [[[0i32; ROWS]; 1]; CAPACITY]);
        let mut widened = [[0f32; CAPACITY]; 2];
        while j < n {
            // Two weight rows at a time (they share the panel's loads), a last odd one alone.
            if n - j >= 2 {
                outputs::<2>(j, &panel, &runs[..count], b, (live, first), (&mut sums2, &mut widened), c, ldc);
                j += 2;
            } else {
                outputs::<1>(j, &panel, &runs[..count], b, (live, first), (&mut sums1, &mut widened), c, ldc);
                j += 1;
            }
        }
        g0 = g1;
    }
}

/// Outputs `j .. j + W` of the first `live` activation rows for one block of the panel: the
/// float accumulators from `c` (or zero in the `first` block), plus `scale · sum` per group in
/// increasing order (as in the definition), back into `c`.
#[inline(always)]
fn outputs<const W: usize>(
    j: usize,
    panel: &[i8],
    runs: &[Run],
    b: &I4Weights,
    (live, first): (usize, bool),
    (sums, widened): (&mut [[[i32; ROWS]; W]; CAPACITY], &mut [[f32; CAPACITY]; 2]),
    c: &mut [f32],
    ldc: usize,
) {
    let (bytes, groups) = (b.n_in / 2, b.n_in / b.group);
    let mut acc = [[0f32; ROWS]; W];
    if !first {
        for (jj, acc) in acc.iter_mut().enumerate() {
            for (r, v) in acc.iter_mut().enumerate().take(live) {
                *v = c[r * ldc + j + jj];
            }
        }
    }
    for run in runs {
        let x = &panel[run.at * STEP_BYTES..(run.at + run.count * run.steps) * STEP_BYTES];
        let w_len = run.count * run.steps * STEP / 2;
        let w: [&[u8]; W] = core::array::from_fn(|jj| {
            let at = (j + jj) * bytes + run.start / 2;
            &b.nibbles[at..at + w_len]
        });
        let out = &mut sums[..run.count];
        group_sums::<W>(x, w, run.steps, out);
        for (jj, (acc, widened)) in acc.iter_mut().zip(widened.iter_mut()).enumerate() {
            let s0 = (j + jj) * groups + run.g;
            let scales: &[f32] = match b.scales {
                Scales::F32(s) => &s[s0..s0 + run.count],
                Scales::F16(s) => {
                    crate::quant::floats::widen_f16_slice(&s[s0..s0 + run.count], &mut widened[..run.count]);
                    &widened[..run.count]
                }
            };
            for (group, &scale) in out.iter().zip(scales) {
                for (v, &s) in acc.iter_mut().zip(&group[jj]) {
                    *v += scale * s as f32;
                }
            }
        }
    }
    for (jj, acc) in acc.iter().enumerate() {
        for (r, &v) in acc.iter().enumerate().take(live) {
            c[r * ldc + j + jj] = v;
        }
    }
}

/// Both rows' values from `from` (relative to the view) on, into the panel's layout: per 32
/// inputs, row 0's even-index values, its odd ones, then row 1's.
#[inline(always)]
fn fill_panel(panel: &mut [i8], rows: [&[i8]; ROWS], from: usize) {
    for (s, step) in panel.chunks_exact_mut(STEP_BYTES).enumerate() {
        let p = from + s * STEP;
        for (r, half) in step.chunks_exact_mut(STEP).enumerate() {
            let values = &rows[r][p..p + STEP];
            let (even, odd) = half.split_at_mut(STEP / 2);
            for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(values.chunks_exact(2)) {
                *e = pair[0];
                *o = pair[1];
            }
        }
    }
}

/// The exact int32 sums of `out.len()` consecutive groups of `steps` steps each, of both
/// activation rows against each of the `W` weight rows: `x` the panel's bytes for them, `w[jj]`
/// weight row `jj`'s nibbles (16 bytes a step); `out[g][jj][r]`. The `asm!` loops on
/// `electra_arm_mve` targets, else the same steps in Rust.
#[inline(always)]
fn group_sums<const W: usize>(x: &[i8], w: [&[u8]; W], steps: usize, out: &mut [[[i32; ROWS]; W]]) {
    #[cfg(electra_arm_mve)]
    {
        if W == 2 {
            group_sums_2x2_asm(x, w[0], w[1], steps, out.as_flattened_mut().as_flattened_mut());
        } else {
            group_sums_2x1_asm(x, w[0], steps, out.as_flattened_mut().as_flattened_mut());
        }
    }
    #[cfg(not(electra_arm_mve))]
    for (g, o) in out.iter_mut().enumerate() {
        let x = &x[g * steps * STEP_BYTES..(g + 1) * steps * STEP_BYTES];
        for (jj, o) in o.iter_mut().enumerate() {
            let w = &w[jj][g * steps * STEP / 2..(g + 1) * steps * STEP / 2];
            let mut sums = [0i32; ROWS];
            for (x, w) in x.chunks_exact(STEP_BYTES).zip(w.chunks_exact(STEP / 2)) {
                for (r, s) in sums.iter_mut().enumerate() {
                    let (even, odd) = x[r * STEP..(r + 1) * STEP].split_at(STEP / 2);
                    // One `VMLADAVA` per half: its products summed into the accumulator, wrapping
                    // (exact here: |sum| ≤ 8 · 127 · 1024).
                    for ((&e, &o), &byte) in even.iter().zip(odd).zip(w) {
                        let (lo, hi) = (((byte << 4) as i8) >> 4, (byte as i8) >> 4);
                        *s = s.wrapping_add(e as i32 * lo as i32).wrapping_add(o as i32 * hi as i32);
                    }
                }
            }
            *o = sums;
        }
    }
}

/// [`group_sums`] for one weight row in `asm!`: the module docs' loop per group, then 6
/// instructions to store both sums and start the next group. `out`: 2 sums a group.
#[cfg(electra_arm_mve)]
fn group_sums_2x1_asm(x: &[i8], w: &[u8], steps: usize, out: &mut [i32]) {
    let groups = out.len() / 2;
    if groups == 0 {
        return;
    }
    // A caller bug, never the model's: the loop reads and writes exactly these.
    assert!(steps > 0 && w.len() >= groups * steps * STEP / 2 && x.len() >= groups * steps * STEP_BYTES);
    // SAFETY: reads `groups · steps` 16-byte vectors of `w` and 4 times as many of `x` (`vldrb.u8`
    // has no alignment requirement), writes `groups` pairs of `out` (word-aligned `i32`s, as `STRD`
    // needs), all within the slices (asserted above); writes only the named registers. VMLADAVA
    // takes an even accumulator register, hence r0/r2; q0-q3 are s0-s15; LR is the loop counter.
    unsafe {
        core::arch::asm!(
            "1:",
            "movs r0, #0",
            "movs r2, #0",
            "dls lr, {steps}",
            "2:",
            "vldrb.u8 q0, [{w}], #16",
            "vshl.i8 q1, q0, #4",
            "vshr.s8 q1, q1, #4",
            "vshr.s8 q0, q0, #4",
            "vldrb.u8 q2, [{x}], #16",
            "vmladava.s8 r0, q2, q1",
            "vldrb.u8 q3, [{x}], #16",
            "vmladava.s8 r0, q3, q0",
            "vldrb.u8 q2, [{x}], #16",
            "vmladava.s8 r2, q2, q1",
            "vldrb.u8 q3, [{x}], #16",
            "vmladava.s8 r2, q3, q0",
            "le lr, 2b",
            "strd r0, r2, [{out}], #8",
            "subs {groups}, {groups}, #1",
            "bne 1b",
            steps = in(reg) steps,
            w = inout(reg) w.as_ptr() => _,
            x = inout(reg) x.as_ptr() => _,
            out = inout(reg) out.as_mut_ptr() => _,
            groups = inout(reg) groups => _,
            out("r0") _,
            out("r2") _,
            out("lr") _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            options(nostack),
        );
    }
}

/// [`group_sums`] for two weight rows in `asm!`: per step both rows' nibbles unpacked (8
/// instructions), then each of the panel's four vectors loaded once and multiplied into two of
/// the four sums: 21 instructions per 128 MACs (0.16 per MAC). `out`: 4 sums a group (weight row
/// 0 against activation rows 0 and 1, then weight row 1).
#[cfg(electra_arm_mve)]
fn group_sums_2x2_asm(x: &[i8], w0: &[u8], w1: &[u8], steps: usize, out: &mut [i32]) {
    let groups = out.len() / 4;
    if groups == 0 {
        return;
    }
    // A caller bug, never the model's: the loop reads and writes exactly these.
    let w_len = groups * steps * STEP / 2;
    assert!(steps > 0 && w0.len() >= w_len && w1.len() >= w_len && x.len() >= groups * steps * STEP_BYTES);
    // SAFETY: as in `group_sums_2x1_asm`, with a second weight row read like the first and 4 sums
    // a group written (two `STRD`); accumulators r0/r2/r4/r8 (even, as VMLADAVA needs); q0-q5 are
    // s0-s23.
    unsafe {
        core::arch::asm!(
            "1:",
            "movs r0, #0",
            "movs r2, #0",
            "movs r4, #0",
            "mov.w r8, #0",
            "dls lr, {steps}",
            "2:",
            "vldrb.u8 q0, [{w0}], #16",
            "vshl.i8 q1, q0, #4",
            "vshr.s8 q1, q1, #4",
            "vshr.s8 q0, q0, #4",
            "vldrb.u8 q2, [{w1}], #16",
            "vshl.i8 q3, q2, #4",
            "vshr.s8 q3, q3, #4",
            "vshr.s8 q2, q2, #4",
            "vldrb.u8 q4, [{x}], #16",
            "vmladava.s8 r0, q4, q1",
            "vmladava.s8 r4, q4, q3",
            "vldrb.u8 q5, [{x}], #16",
            "vmladava.s8 r0, q5, q0",
            "vmladava.s8 r4, q5, q2",
            "vldrb.u8 q4, [{x}], #16",
            "vmladava.s8 r2, q4, q1",
            "vmladava.s8 r8, q4, q3",
            "vldrb.u8 q5, [{x}], #16",
            "vmladava.s8 r2, q5, q0",
            "vmladava.s8 r8, q5, q2",
            "le lr, 2b",
            "strd r0, r2, [{out}], #8",
            "strd r4, r8, [{out}], #8",
            "subs {groups}, {groups}, #1",
            "bne 1b",
            steps = in(reg) steps,
            w0 = inout(reg) w0.as_ptr() => _,
            w1 = inout(reg) w1.as_ptr() => _,
            x = inout(reg) x.as_ptr() => _,
            out = inout(reg) out.as_mut_ptr() => _,
            groups = inout(reg) groups => _,
            out("r0") _,
            out("r2") _,
            out("r4") _,
            out("r8") _,
            out("lr") _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
            out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
            out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            options(nostack),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{Rng, HELIUM};
    use super::super::{check_i4_twin, dedicated, gemm_i8_i4_scalar, Scratch};
    use super::{gemm_i8_i4, I4Weights, Scales};
    use std::vec;

    /// The harness's `every_twin_…` test reaches this kernel through `dedicated(HELIUM)` too; this
    /// one checks that it is hooked, and covers 1 and 2 rows and their mixes, views from inputs
    /// 32 · i (partial first and last groups), blocks of the panel (k past 1024 inputs a row), and
    /// the fallback (groups past the panel, not a multiple of 32, views from other inputs).
    #[test]
    fn dedicated_helium_kernel_matches_the_definition() {
        assert!(dedicated(&HELIUM).is_some(), "the helium twin has no dedicated int4 kernel");
        let (rows, k) = (7, 2048);
        let ld = k + 3;
        let (mut a8, mut a16, mut b) = (vec![0i8; rows * ld], vec![0i16; rows * ld], vec![0i8; rows * ld]);
        let (mut c_ref, mut c_twin) = (vec![0i32; rows * (rows + 1) + rows * k], vec![0i32; rows * (rows + 1)]);
        let mut s = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
        let groups = [8, 32, 64, 96, 128, 256, 512, 1024, 2048];
        if cfg!(miri) {
            assert_eq!(check_i4_twin(&HELIUM, &[3], &[2], &[64, 96], &groups, 31, &mut s), Ok(()));
            return;
        }
        let ms: vec::Vec<usize> = (1..=7).collect();
        assert_eq!(check_i4_twin(&HELIUM, &ms, &[1, 2, 3], &[32, 64, 96, 192, 288], &groups, 31, &mut s), Ok(()));
        assert_eq!(check_i4_twin(&HELIUM, &[1, 2, 5], &[1, 4], &[1024, 1536, 2048], &groups, 33, &mut s), Ok(()));
    }

    /// The harness's views start at 0, mid-group (odd) and at input 8: only the first takes the
    /// panel. Here views start and end at every multiple of 32 (partial first and last groups, as
    /// one attention head's block of a product with groups of 128), with f32 and f16 scales.
    #[test]
    fn views_from_multiples_of_32_match_the_definition() {
        let mut rng = Rng(0x4e11);
        // Under Miri (scripts/reliability/miri.sh --subset runs `quant::kernels::`) one small matrix
        // whose views still have partial first and last groups.
        let shapes: &[(usize, usize)] = if cfg!(miri) {
            &[(128, 64)]
        } else {
            &[(256, 32), (256, 64), (256, 128), (512, 256), (2048, 1024), (2048, 512)]
        };
        for &(n_in, group) in shapes {
            let (m, n) = (3, 5);
            let nibbles: vec::Vec<u8> = (0..n * n_in / 2).map(|_| rng.next() as u8).collect();
            let a: vec::Vec<i8> = (0..m * n_in).map(|_| ((rng.next() % 255) as i32 - 127) as i8).collect();
            let scales: vec::Vec<f32> = (0..n * n_in / group).map(|_| (rng.next() % 10_000) as f32 * 1.7e-6).collect();
            let scales16: vec::Vec<u16> = scales.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
            for stored in [Scales::F32(&scales), Scales::F16(&scales16)] {
                for k0 in (0..n_in).step_by(32) {
                    for k in (32..=n_in - k0).step_by(32) {
                        let b = I4Weights { nibbles: &nibbles, scales: stored, n_in, group, k0 };
                        let (mut expected, mut found) = (vec![0f32; m * n], vec![0f32; m * n]);
                        gemm_i8_i4_scalar(m, n, k, &a, n_in, &b, &mut expected, n);
                        gemm_i8_i4(m, n, k, &a, n_in, &b, &mut found, n);
                        let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<vec::Vec<_>>();
                        assert_eq!(bits(&expected), bits(&found), "n_in {n_in} group {group} k0 {k0} k {k}");
                    }
                }
            }
        }
    }
}
