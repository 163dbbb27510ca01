//! int8 activations × int4 weights with one scale per group of input channels (model file format
//! version 4).
//!
//! The definition ([`gemm_i8_i4_scalar`]): for output `(i, j)`, the int32 sum of
//! `a[i, p] · q[j, p]` over each group `g` of `group` input channels (the part of it inside the
//! view `[k0, k0 + k)`), times the group's scale `s[j, g]`, added in f32 in increasing `g` from 0:
//!
//! ```text
//! c[i, j] = (((0 + s[j, g0] · sum_g0) + s[j, g0+1] · sum_g0+1) + …)
//! ```
//!
//! Sums within a group are exact integers; only the few adds across groups are float, and every
//! twin does them in this order, so every twin gives the same bits as the definition.
//!
//! The fast twins ([`gemm_i8_i4_via`]) unpack a tile of weight rows to int8 (one group, at most
//! [`SEGMENT`] values, at a time: [`unpack_nibbles`], vectorized) and hand it to an int8 twin of
//! [`super`] (aarch64 through `sdot`, Helium through `VMLADAVA`), each unchanged. Unpacking costs
//! `1 / m` of the multiply (one pass over the tile per row block of `a`). Three targets have a
//! dedicated kernel instead ([`dedicated`]): x86 (every tier has AVX2) `x86_int4`, which keeps 8
//! outputs' group sums in vector lanes rather than reducing each output per group; the Arm DSP
//! cores (M4, M7, M33) `arm_dsp_int4`, which widens masked nibbles with `SXTB16` straight into
//! `SMLAD` pairs, never writing unpacked weights to memory (2.4-2.6× fewer instructions per
//! ELECTRA-Small inference than the unpacking path on the M4; docs/BOARDS.md); and the Cortex-M55
//! `helium_int4`, which sign-extends 32 nibbles in two vector registers by shifts and feeds them to
//! `VMLADAVA` against an even/odd-split activation panel (2.0× fewer instructions per inference
//! than the unpacking path through the Helium twin; docs/BOARDS.md).

use super::{GemmI8, Mismatch, Rng, Scratch, Twin};
use crate::quant::quantize::nibble;
use crate::simd::multiversion;

#[path = "arm_dsp_int4.rs"]
pub mod arm_dsp_int4;
#[path = "helium_int4.rs"]
pub mod helium_int4;
#[cfg(target_arch = "x86_64")]
#[path = "x86_int4.rs"]
pub mod x86_int4;

/// Scales as a model file stores them: f32, or (int4 group scales, format version 6) IEEE f16
/// bits, widened to f32 where a kernel reads one: once per group of inputs and output, so the
/// widening costs `1 / group` of the products. Widening is exact, so an f16 scale reads as the
/// same f32 on every machine and in every twin.
pub use crate::quant::floats::Floats as Scales;

/// An int4 weight matrix `[n, n_in]` as the kernels read it, viewed from input channel `k0` on.
#[derive(Clone, Copy, Debug)]
pub struct I4Weights<'w> {
    /// Row `j` is bytes `j · n_in / 2 ..`: input `p` in the low nibble of byte `p / 2` for even
    /// `p`, the high nibble for odd `p`.
    pub nibbles: &'w [u8],
    /// Row `j` is `j · (n_in / group) ..`: one scale per group of `group` inputs.
    pub scales: Scales<'w>,
    /// Inputs per row of the whole matrix (even, a multiple of `group`).
    pub n_in: usize,
    /// Inputs per scale (even, non-zero).
    pub group: usize,
    /// First input of this view (one attention head's block of the attention output).
    pub k0: usize,
}

impl<'w> I4Weights<'w> {
    /// Groups per row.
    fn groups(&self) -> usize {
        self.n_in / self.group
    }

    /// Output rows `[start, start + len)` (one attention head's slice of a projection).
    pub fn rows(&self, start: usize, len: usize) -> Self {
        let (bytes, groups) = (self.n_in / 2, self.groups());
        Self {
            nibbles: &self.nibbles[start * bytes..(start + len) * bytes],
            scales: self.scales.range(start * groups, (start + len) * groups),
            ..*self
        }
    }

    /// The view from input `k0 + start` on.
    pub fn values_from(&self, start: usize) -> Self {
        Self { k0: self.k0 + start, ..*self }
    }
}

/// Signature of the int8 × int4 twins: `(m, n, k, a, lda, b, c, ldc)`, `c` f32.
pub type GemmI8I4 = fn(usize, usize, usize, &[i8], usize, &I4Weights, &mut [f32], usize);

/// Panics unless the operands hold what the shape names: a bug in the caller (the encoder's shapes
/// come from a layout the reader checked), never a property of the model or the input.
#[inline]
fn check_i4_shapes(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &[f32], ldc: usize) {
    let need = |rows: usize, ld: usize, cols: usize| if rows == 0 { 0 } else { (rows - 1) * ld + cols };
    assert!(lda >= k && ldc >= n && b.group > 0 && b.group.is_multiple_of(2), "gemm_i4 strides");
    assert!(b.n_in.is_multiple_of(b.group) && b.k0 + k <= b.n_in, "gemm_i4 view");
    assert!(
        a.len() >= need(m, lda, k)
            && b.nibbles.len() >= n * (b.n_in / 2)
            && b.scales.len() >= n * b.groups()
            && c.len() >= need(m, ldc, n),
        "gemm_i4 operands"
    );
}

/// The definition (see the module docs), one output at a time.
pub fn gemm_i8_i4_scalar(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    check_i4_shapes(m, n, k, a, lda, b, c, ldc);
    let (bytes, groups) = (b.n_in / 2, b.groups());
    for i in 0..m {
        for j in 0..n {
            let row = &b.nibbles[j * bytes..(j + 1) * bytes];
            let mut acc = 0.0f32;
            let mut p = b.k0;
            while p < b.k0 + k {
                let g = p / b.group;
                let end = ((g + 1) * b.group).min(b.k0 + k);
                let sum: i32 =
                    (p..end).map(|q| a[i * lda + q - b.k0] as i32 * nibble(row[q / 2], q % 2 == 1) as i32).sum();
                acc += b.scales.get(j * groups + g) * sum as f32;
                p = end;
            }
            c[i * ldc + j] = acc;
        }
    }
}

multiversion! {
    /// Sign-extends the int4 values `start .. start + out.len()` of a packed row into `out`.
    pub fn unpack_nibbles(row: &[u8], start: usize, out: &mut [i8]) {
        if start.is_multiple_of(2) {
            let bytes = &row[start / 2..];
            let last_byte = out.len().saturating_sub(1) / 2;
            let mut pairs = out.chunks_exact_mut(2);
            for (pair, &byte) in (&mut pairs).zip(bytes) {
                // Branch-free, so it vectorizes: shift the nibble to the top, then arithmetic-shift
                // it back down.
                pair[0] = ((byte << 4) as i8) >> 4;
                pair[1] = (byte as i8) >> 4;
            }
            if let [last] = pairs.into_remainder() {
                *last = nibble(bytes[last_byte], false);
            }
        } else {
            for (q, v) in out.iter_mut().enumerate() {
                let p = start + q;
                *v = nibble(row[p / 2], p % 2 == 1);
            }
        }
    }
}

/// Rows of `a` per block of the fast twins (int32 sums of one block × tile on the stack), and
/// weight rows per tile: on 64-bit hosts (megabyte stacks) large enough that each int8 product is
/// 64 × 64 × group, so the int8 twin's per-call cost (and the 512-bit VNNI twin's packing) is spread
/// over many products; on microcontrollers small enough for their stacks (about 3 KiB).
#[cfg(target_pointer_width = "64")]
const ROW_BLOCK: usize = 64;
#[cfg(target_pointer_width = "64")]
const TILE: usize = 64;
#[cfg(not(target_pointer_width = "64"))]
const ROW_BLOCK: usize = 32;
#[cfg(not(target_pointer_width = "64"))]
const TILE: usize = 8;
/// Most inputs unpacked at once; a larger group is summed in parts (exact: int32).
pub const SEGMENT: usize = 128;

/// The fast twins' algorithm: unpacks tiles of `b` to int8 and multiplies them with the int8 twin
/// `gemm`. About 3 KiB of stack on 32-bit targets (40 KiB on 64-bit ones), no heap.
pub fn gemm_i8_i4_via(
    gemm: GemmI8,
    m: usize,
    n: usize,
    k: usize,
    a: &[i8],
    lda: usize,
    b: &I4Weights,
    c: &mut [f32],
    ldc: usize,
) {
    check_i4_shapes(m, n, k, a, lda, b, c, ldc);
    let (bytes, groups, end) = (b.n_in / 2, b.groups(), b.k0 + k);
    let mut unpacked = [0i8; TILE * SEGMENT];
    let mut part = [0i32; ROW_BLOCK * TILE];
    let mut sums = [0i32; ROW_BLOCK * TILE];
    for i0 in (0..m).step_by(ROW_BLOCK) {
        let mb = ROW_BLOCK.min(m - i0);
        for j0 in (0..n).step_by(TILE) {
            let nb = TILE.min(n - j0);
            for i in i0..i0 + mb {
                c[i * ldc + j0..i * ldc + j0 + nb].fill(0.0);
            }
            let mut p = b.k0;
            while p < end {
                let g = p / b.group;
                let group_end = ((g + 1) * b.group).min(end);
                let mut q = p;
                while q < group_end {
                    let len = SEGMENT.min(group_end - q);
                    for jj in 0..nb {
                        let row = &b.nibbles[(j0 + jj) * bytes..(j0 + jj + 1) * bytes];
                        unpack_nibbles(row, q, &mut unpacked[jj * SEGMENT..jj * SEGMENT + len]);
                    }
                    let a_at = &a[i0 * lda + (q - b.k0)..];
                    let target = if q == p { &mut sums } else { &mut part };
                    gemm(mb, nb, len, a_at, lda, &unpacked, SEGMENT, target, TILE);
                    if q != p {
                        sums.iter_mut().zip(&part).for_each(|(s, &v)| *s += v);
                    }
                    q += len;
                }
                for ii in 0..mb {
                    for jj in 0..nb {
                        let scale = b.scales.get((j0 + jj) * groups + g);
                        c[(i0 + ii) * ldc + j0 + jj] += scale * sums[ii * TILE + jj] as f32;
                    }
                }
                p = group_end;
            }
        }
    }
}

/// The dedicated int4 kernel that goes with the int8 twin `twin` on this machine, if there is one
/// (x86 with AVX2: `x86_int4`, for every x86 tier, since each has AVX2; the Arm DSP twin, real or
/// portable: `arm_dsp_int4`; the Helium twin, real or portable: `helium_int4`); without one, the
/// int4 product is [`gemm_i8_i4_via`] that twin.
pub fn dedicated(twin: &Twin) -> Option<GemmI8I4> {
    if matches!(twin.name(), "arm-dsp" | "arm-dsp-portable") {
        return Some(arm_dsp_int4::gemm_i8_i4);
    }
    if matches!(twin.name(), "helium" | "helium-portable") {
        return Some(helium_int4::gemm_i8_i4);
    }
    #[cfg(target_arch = "x86_64")]
    if matches!(twin.name(), "avx2" | "avx512-vnni-256" | "avx512-vnni-packed" | "avx512-vnni") {
        return x86_int4::avx2();
    }
    let _ = twin;
    None
}

/// `c[i·ldc + j]` for `i < m`, `j < n`, as [`gemm_i8_i4_scalar`] defines it, with the dedicated
/// int4 kernel of this machine's best tier, else through its int8 twin. `a` must lie in
/// `[-127, 127]`.
#[inline]
pub fn gemm_i8_i4(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &I4Weights, c: &mut [f32], ldc: usize) {
    let best = super::best();
    match dedicated(&best) {
        Some(kernel) => kernel(m, n, k, a, lda, b, c, ldc),
        None => gemm_i8_i4_via(best.gemm_i8_fn(), m, n, k, a, lda, b, c, ldc),
    }
}

/// `Err` naming the first output (stride padding included) where `found` differs from `expected`
/// in any bit.
fn same_bits(
    twin: &Twin,
    product: &'static str,
    (m, n, k, ldc): (usize, usize, usize, usize),
    expected: &[f32],
    found: &[f32],
) -> Result<(), Mismatch> {
    for i in 0..m {
        for j in 0..ldc {
            let (e, f) = (expected[i * ldc + j], found[i * ldc + j]);
            if e.to_bits() != f.to_bits() {
                return Err(Mismatch {
                    twin: twin.name(),
                    product,
                    m,
                    n,
                    k,
                    i,
                    j,
                    expected: e.to_bits() as i32,
                    found: f.to_bits() as i32,
                });
            }
        }
    }
    Ok(())
}

/// THE int4 harness: for every `m ∈ ms`, `n ∈ ns`, `k ∈ ks`, `group ∈ groups` (with `k` a
/// multiple of `group`) and the views from input 0 and from the middle of a group, random operands
/// (`a = ±127`, nibbles `-8` and `7`, zero and large scales included), compares `twin`'s int8
/// product behind the int4 unpacking with the definition bit for bit, including that it leaves
/// the stride padding of `c` alone; and the same for the twin's [`dedicated`] int4 kernel, where it
/// has one. `scratch.b` holds the nibbles, `scratch.c_ref`/`c_twin` the
/// f32 outputs (as bits) and, past `m · (n + 1)`, the scales (f32, then the same as f16).
pub fn check_i4_twin(
    twin: &Twin,
    ms: &[usize],
    ns: &[usize],
    ks: &[usize],
    groups: &[usize],
    seed: u64,
    s: &mut Scratch,
) -> Result<(), Mismatch> {
    let mut rng = Rng(seed | 1);
    for &k in ks {
        for &group in groups.iter().filter(|&&g| g > 0 && g % 2 == 0 && k % g == 0) {
            for &m in ms {
                for &n in ns {
                    let (lda, ldc) = (k + (m % 3), n + 1);
                    for v in s.a8[..m * lda].iter_mut() {
                        *v = match rng.next() % 16 {
                            0 => 127,
                            1 => -127,
                            _ => ((rng.next() % 255) as i32 - 127) as i8,
                        };
                    }
                    let nibbles: &mut [u8] = bytemuck::cast_slice_mut(&mut s.b[..n * k / 2]);
                    for v in nibbles.iter_mut() {
                        *v = match rng.next() % 16 {
                            0 => 0x88, // -8, -8
                            1 => 0x77, // 7, 7
                            _ => rng.next() as u8,
                        };
                    }
                    let out_len = m * ldc;
                    let n_scales = n * (k / group);
                    let (c_ref, scales_ref) = s.c_ref.split_at_mut(out_len);
                    let (f32_words, f16_words) = scales_ref.split_at_mut(n_scales);
                    let scales: &mut [f32] = bytemuck::cast_slice_mut(f32_words);
                    let scales16: &mut [u16] = &mut bytemuck::cast_slice_mut(f16_words)[..n_scales];
                    for (v, v16) in scales.iter_mut().zip(scales16.iter_mut()) {
                        let (f32_value, f16_value) = match rng.next() % 8 {
                            0 => (0.0, 0.0),
                            // Large: past f16's range for the f32 scales, f16's largest finite
                            // value for the f16 ones.
                            1 => (1e30, 65504.0),
                            _ => {
                                let v = (rng.next() % 10_000) as f32 * 1.7e-6;
                                (v, v)
                            }
                        };
                        *v = f32_value;
                        *v16 = half::f16::from_f32(f16_value).to_bits();
                    }
                    let nibbles: &[u8] = bytemuck::cast_slice(&s.b[..n * k / 2]);
                    let c_ref: &mut [f32] = bytemuck::cast_slice_mut(c_ref);
                    let c_twin: &mut [f32] = bytemuck::cast_slice_mut(&mut s.c_twin[..out_len]);
                    // The whole row, a view starting mid-group (odd too, for the scalar unpack
                    // path) running to the end, and one from input 8 (mid-group for groups of 16
                    // or more, yet aligned for the dedicated x86 kernel's 8-input lanes); each
                    // with f32 and with f16 scales.
                    let mid = (group / 2) | 1;
                    let views = [0, mid.min(k.saturating_sub(1)), 8 % k.max(1)];
                    let stored = [Scales::F32(scales), Scales::F16(scales16)];
                    for (k0, scales) in views.into_iter().flat_map(|k0| stored.map(|s| (k0, s))) {
                        let kv = k - k0;
                        let b = I4Weights { nibbles, scales, n_in: k, group, k0 };
                        let sentinel = f32::from_bits(0x5a5a_5a5a);
                        c_ref.fill(sentinel);
                        c_twin.fill(sentinel);
                        gemm_i8_i4_scalar(m, n, kv, s.a8, lda, &b, c_ref, ldc);
                        gemm_i8_i4_via(twin.gemm_i8_fn(), m, n, kv, s.a8, lda, &b, c_twin, ldc);
                        same_bits(twin, "gemm_i8_i4", (m, n, kv, ldc), c_ref, c_twin)?;
                        if let Some(kernel) = dedicated(twin) {
                            c_twin.fill(sentinel);
                            kernel(m, n, kv, s.a8, lda, &b, c_twin, ldc);
                            same_bits(twin, "gemm_i8_i4 dedicated", (m, n, kv, ldc), c_ref, c_twin)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{available, SCALAR};
    use super::*;
    use std::vec;

    /// `a8`, `a16`, `b`, `c_ref` (outputs, then scales), `c_twin`.
    type Buffers = (vec::Vec<i8>, vec::Vec<i16>, vec::Vec<i8>, vec::Vec<i32>, vec::Vec<i32>);

    fn scratch_buffers(rows: usize, k: usize) -> Buffers {
        let ld = k + 3;
        // c_ref also holds the scales after the outputs.
        (
            vec![0i8; rows * ld],
            vec![0i16; rows * ld],
            vec![0i8; rows * ld],
            vec![0i32; rows * (rows + 1) + rows * k],
            vec![0i32; rows * (rows + 1)],
        )
    }

    #[test]
    fn every_twin_behind_the_unpacking_matches_the_definition() {
        let (mut a8, mut a16, mut b, mut c_ref, mut c_twin) = scratch_buffers(70, 1024);
        for twin in &available() {
            let mut s = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
            let small: vec::Vec<usize> = (1..=10).collect();
            assert_eq!(
                check_i4_twin(twin, &small, &small, &[2, 4, 8, 32, 64, 96, 128], &[2, 8, 32, 64, 128], 5, &mut s),
                Ok(())
            );
            // Past a row block, a tile and a segment (groups of 256 are summed in two parts).
            let (ms, ns) = ([1, 31, 33, 64, 70], [1, 7, 9, 17, 64, 65]);
            assert_eq!(check_i4_twin(twin, &ms, &ns, &[256, 512, 1024], &[32, 64, 128, 256], 9, &mut s), Ok(()));
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
            super::super::scalar::gemm_i8(m, n, k, a, lda, b, ldb, c, ldc);
            if m == 3 && n == 2 {
                c[ldc + 1] += 1;
            }
        }
        let broken = Twin { gemm_i8: off_by_one, ..SCALAR };
        let (mut a8, mut a16, mut b, mut c_ref, mut c_twin) = scratch_buffers(4, 64);
        let mut s = Scratch { a8: &mut a8, a16: &mut a16, b: &mut b, c_ref: &mut c_ref, c_twin: &mut c_twin };
        let err = check_i4_twin(&broken, &[1, 2, 3], &[1, 2], &[64], &[32], 3, &mut s).unwrap_err();
        assert_eq!((err.m, err.n, err.i, err.j), (3, 2, 1, 1));
    }

    #[test]
    fn definition_is_the_dequantized_product_for_small_values() {
        // Two groups of 2: w = [[1·s0, -2·s0, 3·s1, -8·s1]], a = [1, 2, 3, 4].
        let nibbles = [0xe1_u8, 0x83];
        let scales = [0.5f32, 0.25];
        let b = I4Weights { nibbles: &nibbles, scales: Scales::F32(&scales), n_in: 4, group: 2, k0: 0 };
        let mut c = [0f32];
        gemm_i8_i4_scalar(1, 1, 4, &[1, 2, 3, 4], 4, &b, &mut c, 1);
        assert_eq!(c[0], 0.5 * (1.0 - 4.0) + 0.25 * (9.0 - 32.0));
        // From input 1: the first group is partial.
        gemm_i8_i4_scalar(1, 1, 3, &[2, 3, 4], 3, &b.values_from(1), &mut c, 1);
        assert_eq!(c[0], 0.5 * (-4.0) + 0.25 * (9.0 - 32.0));
        // The same scales stored as f16 (both exact in f16) give the same bits.
        let scales16 = [half::f16::from_f32(0.5).to_bits(), half::f16::from_f32(0.25).to_bits()];
        let b16 = I4Weights { scales: Scales::F16(&scales16), ..b };
        let mut c16 = [0f32];
        gemm_i8_i4_scalar(1, 1, 3, &[2, 3, 4], 3, &b16.values_from(1), &mut c16, 1);
        assert_eq!(c16[0].to_bits(), c[0].to_bits());
    }
}
