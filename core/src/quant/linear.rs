//! Linear layers on int8 rows: the kernel's int32 sums, then one float epilogue.

use super::kernels;
use super::quantize::quantize_row;
use super::weights::QLinear;
use crate::simd::multiversion;

/// Quantized activations: row `r` is `scale[r] · q[r·stride ..][..cols]`.
#[derive(Clone, Copy, Debug)]
pub struct QRows<'x> {
    pub q: &'x [i8],
    pub scale: &'x [f32],
    pub rows: usize,
    pub stride: usize,
}

/// Quantizes `rows` rows of `cols` floats (`x` row-major, dense) into `q` and `scale`.
pub fn quantize_rows<'x>(x: &[f32], cols: usize, rows: usize, q: &'x mut [i8], scale: &'x mut [f32]) -> QRows<'x> {
    for ((x_row, q_row), s) in x.chunks_exact(cols).zip(q.chunks_exact_mut(cols)).zip(scale.iter_mut()).take(rows) {
        *s = quantize_row(x_row, q_row);
    }
    QRows { q, scale, rows, stride: cols }
}

/// `out[r, o] = x.scale[r] · w.scale[o] · Σ_i x.q[r, i] · w.weight[o, i] + w.bias[o]`, `out` is
/// `[x.rows, w.n_out]` (its memory holds the int32 sums first, then the floats).
pub fn linear(x: QRows, w: &QLinear, out: &mut [f32]) {
    let n = w.n_out;
    if let Some(i4) = w.int4() {
        // int4: the kernel leaves `Σ_g scale[o, g] · sum_g` in f32; then the row scale and bias.
        let out = &mut out[..x.rows * n];
        kernels::int4::gemm_i8_i4(x.rows, n, w.n_in, x.q, x.stride, &i4, out, n);
        // f32 biases in one run; f16 ones (format version 7) a widened run of columns at a time.
        w.bias.for_each_f32_run(|c0, bias| row_scale_and_bias(out, n, c0, x.scale, bias));
        return;
    }
    let acc: &mut [i32] = bytemuck::cast_slice_mut(&mut out[..x.rows * n]);
    kernels::gemm_i8_packed(x.rows, n, w.n_in, x.q, x.stride, w.weight, w.n_in, w.packed.as_ref(), acc, n);
    let w_scale = w.scale.f32s();
    w.bias.for_each_f32_run(|c0, bias| scale_and_bias(acc, n, c0, x.scale, &w_scale[c0..], bias));
}

multiversion! {
    /// `v ← v · x_scale[r] · w_scale[o] + bias[o]` over int32 sums `[rows, n]`, leaving f32 bits,
    /// for the columns `o` in `[c0, c0 + bias.len())` (`w_scale` and `bias` start at `c0`).
    fn scale_and_bias(acc: &mut [i32], n: usize, c0: usize, x_scale: &[f32], w_scale: &[f32], bias: &[f32]) {
        for (row, &xs) in acc.chunks_exact_mut(n).zip(x_scale) {
            for ((v, &ws), &b) in row[c0..].iter_mut().zip(w_scale).zip(bias) {
                *v = ((*v as f32) * (xs * ws) + b).to_bits() as i32;
            }
        }
    }
}

multiversion! {
    /// `v ← v · x_scale[r] + bias[o]` over f32 `[rows, n]` (an int4 product's output), for the
    /// columns `o` in `[c0, c0 + bias.len())` (`bias` starts at `c0`).
    fn row_scale_and_bias(out: &mut [f32], n: usize, c0: usize, x_scale: &[f32], bias: &[f32]) {
        for (row, &xs) in out.chunks_exact_mut(n).zip(x_scale) {
            for (v, &b) in row[c0..].iter_mut().zip(bias) {
                *v = *v * xs + b;
            }
        }
    }
}

multiversion! {
    /// `acc[r, o] += partial[r, o] · x_scale[r]` (an int4 product's output).
    fn row_scale_and_add(acc: &mut [f32], partial: &[f32], n: usize, x_scale: &[f32]) {
        for ((acc_row, row), &xs) in acc.chunks_exact_mut(n).zip(partial.chunks_exact(n)).zip(x_scale) {
            for (a, &p) in acc_row.iter_mut().zip(row) {
                *a += p * xs;
            }
        }
    }
}

multiversion! {
    /// `acc[r, o] += sums[r, o] · x_scale[r] · w_scale[o]`.
    fn scale_and_add(acc: &mut [f32], sums: &[i32], n: usize, x_scale: &[f32], w_scale: &[f32]) {
        for ((acc_row, sum_row), &xs) in acc.chunks_exact_mut(n).zip(sums.chunks_exact(n)).zip(x_scale) {
            for ((a, &s), &ws) in acc_row.iter_mut().zip(sum_row).zip(w_scale) {
                *a += (s as f32) * (xs * ws);
            }
        }
    }
}

/// `acc[r, o] += x.scale[r] · w.scale[o] · Σ_{i<k} x.q[r, i] · w.weight[o, k0 + i]`: one block of
/// `k` input columns (one attention head's context, quantized with its own per-row scale) of a
/// linear layer. `sums` is `[x.rows, w.n_out]` int32 scratch; no bias.
pub fn accumulate_columns(x: QRows, w: &QLinear, k0: usize, k: usize, sums: &mut [i32], acc: &mut [f32]) {
    let n = w.n_out;
    let sums = &mut sums[..x.rows * n];
    if let Some(i4) = w.int4() {
        let partial: &mut [f32] = bytemuck::cast_slice_mut(sums);
        kernels::int4::gemm_i8_i4(x.rows, n, k, x.q, x.stride, &i4.values_from(k0), partial, n);
        row_scale_and_add(acc, partial, n, x.scale);
        return;
    }
    let packed = w.packed.map(|p| p.values_from(k0));
    kernels::gemm_i8_packed(x.rows, n, k, x.q, x.stride, &w.weight[k0..], w.n_in, packed.as_ref(), sums, n);
    scale_and_add(acc, sums, n, x.scale, w.scale.f32s());
}
