//! Attention, one head at a time over all `T` tokens (the glossary is in `encoder.rs`): keys and
//! values of every token, then per block of `R` query rows the scores, their softmax and the
//! context `P·V`, int8 per (head, token).

use super::arena::{AttentionScratch, Carver, Dims};
use super::encoder_layer::LayerWeights;
use super::error::RunError;
use super::kernels;
use super::linear::{linear, quantize_rows, QRows};
use super::math::{load_f16, softmax_in_place};
use super::quantize::quantize_row_i16;
use crate::simd::multiversion;
use core::ops::Range;

/// The largest `|P|` in the int16 probabilities for `T` tokens: the `P·V` sums stay below 2^31
/// (`T · 127 · qmax`), and below 32767 for int16.
fn probability_qmax(t: usize) -> f32 {
    let bound = (i32::MAX as usize) / (127 * t.max(1));
    bound.min(32767) as f32
}

multiversion! {
    /// `buf[r, c] ← sums[r, c] · row_scale[r] · col_scale[c]`: int32 sums in, f32 out, in place.
    fn scale_sums(buf: &mut [f32], cols: usize, row_scale: &[f32], col_scale: &[f32]) {
        let sums: &mut [i32] = bytemuck::cast_slice_mut(buf);
        for (row, &rs) in sums.chunks_exact_mut(cols).zip(row_scale) {
            for (v, &cs) in row.iter_mut().zip(col_scale) {
                *v = ((*v as f32) * (rs * cs)).to_bits() as i32;
            }
        }
    }
}

multiversion! {
    /// `p[j] ← p[j] · v_scale[j]`.
    fn mul_in_place(p: &mut [f32], v_scale: &[f32]) {
        for (p, &vs) in p.iter_mut().zip(v_scale) {
            *p *= vs;
        }
    }
}

multiversion! {
    /// `buf[r, c] ← sums[r, c] · row_scale[r]`: int32 sums in, f32 out, in place.
    fn scale_sum_rows(buf: &mut [f32], cols: usize, row_scale: &[f32]) {
        let sums: &mut [i32] = bytemuck::cast_slice_mut(buf);
        for (row, &rs) in sums.chunks_exact_mut(cols).zip(row_scale) {
            for v in row.iter_mut() {
                *v = ((*v as f32) * rs).to_bits() as i32;
            }
        }
    }
}

/// A layer's input: the f16 hidden state, and its quantized rows if the plan caches them.
#[derive(Clone, Copy)]
pub(super) struct LayerInput<'x> {
    pub hidden: &'x [u16],
    pub x_q: &'x [i8],
    pub x_scale: &'x [f32],
}

impl<'x> LayerInput<'x> {
    /// Rows `r0..r0 + n` quantized: from the cache, or quantized now into `xq`/`xs` via `x`.
    fn rows<'s>(&self, d: &Dims, r0: usize, n: usize, x: &mut [f32], xq: &'s mut [i8], xs: &'s mut [f32]) -> QRows<'s>
    where
        'x: 's,
    {
        if d.cache_x {
            return QRows { q: &self.x_q[r0 * d.h..], scale: &self.x_scale[r0..], rows: n, stride: d.h };
        }
        load_f16(&self.hidden[r0 * d.h..(r0 + n) * d.h], &mut x[..n * d.h]);
        quantize_rows(&x[..n * d.h], d.h, n, xq, xs)
    }
}

/// Attention for heads `heads` over all tokens (keys with mask 0 excluded); writes their contexts (`[heads, T, D]`, int8)
/// and per-(head, token) scales.
#[allow(clippy::too_many_arguments)]
pub(super) fn attention_heads(
    d: &Dims,
    w: &LayerWeights,
    heads: Range<usize>,
    input: LayerInput,
    key_mask: Option<&[u8]>,
    context: &mut [i8],
    context_scale: &mut [f32],
    scratch: &mut [u8],
) -> Result<(), RunError> {
    let s = AttentionScratch::carve(&mut Carver::new(scratch), d)?;
    let (t, dd) = (d.t, d.d);
    let inv_sqrt_d = 1.0 / libm::sqrtf(dd as f32);
    let p_qmax = probability_qmax(t);
    for (slot, head) in heads.enumerate() {
        let (wq, wk, wv) = (w.query.rows(head * dd, dd), w.key.rows(head * dd, dd), w.value.rows(head * dd, dd));

        // Keys and values of every token: K [T, D] and Vᵀ [D, T], int8 per token.
        for r0 in (0..t).step_by(d.r) {
            let n = d.r.min(t - r0);
            let x = input.rows(d, r0, n, s.x, s.xq, s.xs);
            linear(x, &wk, s.proj);
            quantize_rows(&s.proj[..n * dd], dd, n, &mut s.key[r0 * dd..], &mut s.key_scale[r0..]);
            linear(x, &wv, s.proj);
            quantize_rows(&s.proj[..n * dd], dd, n, s.qq, &mut s.value_scale[r0..]);
            // Vᵀ [D, T]: row by row of Vᵀ, so the stores run along a line (the loads stride
            // through the n × D block just quantized, which is in L1).
            for (c, vt_row) in s.value_t.chunks_exact_mut(t).take(dd).enumerate() {
                for (i, vt) in vt_row[r0..r0 + n].iter_mut().enumerate() {
                    *vt = s.qq[i * dd + c];
                }
            }
        }

        let context_h = &mut context[slot * t * dd..(slot + 1) * t * dd];
        let scale_h = &mut context_scale[slot * t..(slot + 1) * t];
        for r0 in (0..t).step_by(d.r) {
            let n = d.r.min(t - r0);
            // Q [n, D], int8 per row; 1/√D folds into the row scales.
            let x = input.rows(d, r0, n, s.x, s.xq, s.xs);
            linear(x, &wq, s.proj);
            quantize_rows(&s.proj[..n * dd], dd, n, s.qq, s.qs);
            s.qs[..n].iter_mut().for_each(|q| *q *= inv_sqrt_d);

            // Scores [n, T] = Q·Kᵀ, then softmax rows.
            let scores = &mut s.scores[..n * t];
            kernels::gemm_i8(n, t, dd, s.qq, dd, s.key, dd, bytemuck::cast_slice_mut(&mut *scores), t);
            scale_sums(scores, t, &s.qs[..n], &s.key_scale[..t]);
            if let Some(mask) = key_mask {
                // HF adds float32's lowest value to masked scores: their probabilities vanish.
                for row in scores.chunks_exact_mut(t) {
                    row.iter_mut().zip(mask).filter(|(_, &m)| m == 0).for_each(|(v, _)| *v = f32::MIN);
                }
            }
            for row in scores.chunks_exact_mut(t) {
                softmax_in_place(row);
                // P·V with V's per-token scales folded into P.
                mul_in_place(row, &s.value_scale[..t]);
            }
            for ((row, pq), ps) in scores.chunks_exact(t).zip(s.pq.chunks_exact_mut(t)).zip(s.ps.iter_mut()) {
                *ps = quantize_row_i16(row, pq, p_qmax);
            }

            // Context [n, D] = P·V → int8 per (head, token).
            let ctx = &mut s.proj[..n * dd];
            kernels::gemm_i16_i8(n, dd, t, s.pq, t, s.value_t, t, bytemuck::cast_slice_mut(&mut *ctx), dd);
            scale_sum_rows(ctx, dd, &s.ps[..n]);
            quantize_rows(ctx, dd, n, &mut context_h[r0 * dd..], &mut scale_h[r0..]);
        }
    }
    Ok(())
}
