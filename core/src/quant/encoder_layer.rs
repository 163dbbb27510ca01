//! One encoder layer's weights, and the rest of the layer after attention, per block of `R` token
//! rows (the glossary is in `encoder.rs`): attention output + residual + LayerNorm, then the FFN +
//! residual + LayerNorm.

use super::arena::{BlockScratch, Carver, Dims};
use super::error::RunError;
use super::kernels::PackedB;
use super::linear::{accumulate_columns, linear, quantize_rows, QRows};
use super::math::{gelu_in_place, layer_norm_in_place, load_f16, store_f16};
use super::weights::{QLayerNorm, QLinear};
use crate::model_file::layout::LayerSpans;
use crate::model_file::Model;
use core::ops::Range;

/// Views of one encoder layer's weights.
pub(super) struct LayerWeights<'a> {
    pub query: QLinear<'a>,
    pub key: QLinear<'a>,
    pub value: QLinear<'a>,
    pub attention_output: QLinear<'a>,
    pub attention_layer_norm: QLayerNorm<'a>,
    pub intermediate: QLinear<'a>,
    pub output: QLinear<'a>,
    pub output_layer_norm: QLayerNorm<'a>,
}

impl<'a> LayerWeights<'a> {
    pub(super) fn new(model: &Model<'a>, s: &LayerSpans) -> Result<Self, RunError> {
        Ok(Self {
            query: model.linear(s.query)?,
            key: model.linear(s.key)?,
            value: model.linear(s.value)?,
            attention_output: model.linear(s.attention_output)?,
            attention_layer_norm: model.layer_norm(s.attention_layer_norm)?,
            intermediate: model.linear(s.intermediate)?,
            output: model.linear(s.output)?,
            output_layer_norm: model.layer_norm(s.output_layer_norm)?,
        })
    }

    /// These views reading the pre-packed copy `packed` of their weights (layer order of
    /// [`super::prepack`]).
    pub(super) fn with_packed(mut self, packed: [PackedB<'a>; 6]) -> Self {
        let [query, key, value, attention_output, intermediate, output] = packed;
        self.query.packed = Some(query);
        self.key.packed = Some(key);
        self.value.packed = Some(value);
        self.attention_output.packed = Some(attention_output);
        self.intermediate.packed = Some(intermediate);
        self.output.packed = Some(output);
        self
    }
}

/// With the cache (`x_q` not empty): `x_q[i], x_scale[i]` = row `i < rows` of `hidden`, quantized
/// (the next layer's input, from the f16 values it will read).
pub(super) fn quantize_hidden_rows(
    d: &Dims,
    rows: usize,
    hidden: &[u16],
    x_q: &mut [i8],
    x_scale: &mut [f32],
    scratch: &mut [u8],
) -> Result<(), RunError> {
    if !d.cache_x {
        return Ok(());
    }
    let row: &mut [f32] = Carver::new(scratch).take(d.h)?;
    for i in 0..rows {
        load_f16(&hidden[i * d.h..(i + 1) * d.h], row);
        x_scale[i] = super::quantize::quantize_row(row, &mut x_q[i * d.h..(i + 1) * d.h]);
    }
    Ok(())
}

/// Token rows `rows`: attention output + residual + LayerNorm, then the FFN + residual +
/// LayerNorm, written back over those rows of `hidden`.
pub(super) fn block_rows(
    d: &Dims,
    w: &LayerWeights,
    rows: Range<usize>,
    hidden: &mut [u16],
    context: &[i8],
    context_scale: &[f32],
    scratch: &mut [u8],
) -> Result<(), RunError> {
    let s = BlockScratch::carve(&mut Carver::new(scratch), d)?;
    let (t, h, f, dd) = (d.t, d.h, d.f, d.d);
    for r0 in rows.clone().step_by(d.r) {
        let n = d.r.min(rows.end - r0);
        let hidden_rows = &mut hidden[(r0 - rows.start) * h..(r0 - rows.start + n) * h];

        // x1 = LN(x + bo + Σ_h ctx_h · Wo[:, h·D..(h+1)·D]ᵀ)
        let acc = &mut s.acc[..n * h];
        load_f16(hidden_rows, acc);
        w.attention_output.bias.for_each_f32_run(|c0, bias| {
            for row in acc.chunks_exact_mut(h) {
                row[c0..].iter_mut().zip(bias).for_each(|(a, b)| *a += b);
            }
        });
        for head in 0..d.a {
            let at = head * t * dd + r0 * dd;
            let ctx =
                QRows { q: &context[at..at + n * dd], scale: &context_scale[head * t + r0..], rows: n, stride: dd };
            accumulate_columns(ctx, &w.attention_output, head * dd, dd, s.sums, acc);
        }
        acc.chunks_exact_mut(h).for_each(|row| layer_norm_in_place(row, &w.attention_layer_norm));

        // x2 = LN(x1 + GELU(x1·Wiᵀ + bi)·Wo2ᵀ + bo2)
        let x1 = quantize_rows(acc, h, n, s.xq, s.xs);
        linear(x1, &w.intermediate, s.inter);
        gelu_in_place(&mut s.inter[..n * f]);
        let inter = quantize_rows(&s.inter[..n * f], f, n, s.inter_q, s.inter_s);
        let out: &mut [f32] = bytemuck::cast_slice_mut(&mut s.sums[..n * h]);
        linear(inter, &w.output, out);
        out.iter_mut().zip(acc.iter()).for_each(|(o, a)| *o += a);
        out.chunks_exact_mut(h).for_each(|row| layer_norm_in_place(row, &w.output_layer_norm));
        store_f16(out, hidden_rows);
    }
    Ok(())
}
