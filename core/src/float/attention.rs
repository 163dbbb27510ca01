//! BERT/ELECTRA self-attention block (HF `ElectraAttention` = `ElectraSelfAttention` + `ElectraSelfOutput`):
//! multi-head scaled dot-product attention with an additive padding mask, then
//! `LayerNorm(dense(context) + x)`.

use super::activation::masked_softmax_in_place;
use super::gemm::{Gemm, MatMut, MatRef};
use super::layer_norm::{add_layer_norm_forward, LayerNormWeights};
use super::linear::{linear_forward, LinearWeights};
use crate::config::ElectraConfig;

/// `electra.encoder.layer.N.attention.*`: `self.{query,key,value}` `[H, H]`, `output.dense` `[H, H]`,
/// `output.LayerNorm` `[H]`.
#[derive(Clone, Copy, Debug)]
pub struct SelfAttentionWeights<'a> {
    pub query: LinearWeights<'a>,
    pub key: LinearWeights<'a>,
    pub value: LinearWeights<'a>,
    pub output_dense: LinearWeights<'a>,
    pub output_layer_norm: LayerNormWeights<'a>,
}

/// The attention block's intermediates, each `[T, H]` except `scores` `[T, T]` (one head at a time).
pub struct AttentionScratch<'s> {
    pub q: &'s mut [f32],
    pub k: &'s mut [f32],
    pub v: &'s mut [f32],
    pub context: &'s mut [f32],
    pub scores: &'s mut [f32],
}

/// `out [T, H] = LayerNorm(dense(MultiHead(x)) + x)` for `x [T, H]`.
///
/// `key_mask` (`[T]`, 1 = real token, 0 = padding) hides padded keys from every query; padded
/// queries are still computed, as HF computes them.
pub fn self_attention_forward(
    gemm: &dyn Gemm,
    config: &ElectraConfig,
    w: &SelfAttentionWeights<'_>,
    x: &[f32],
    key_mask: Option<&[u8]>,
    s: AttentionScratch<'_>,
    out: &mut [f32],
) {
    let (hidden, num_heads, eps) = (config.hidden_size, config.num_attention_heads, config.layer_norm_eps);
    let tokens = x.len() / hidden;
    let head_size = config.head_size();

    // q, k, v: [T, H] = x · Wᵀ + b; head h owns columns h·D .. (h+1)·D of each.
    linear_forward(gemm, w.query, hidden, x, s.q);
    linear_forward(gemm, w.key, hidden, x, s.k);
    linear_forward(gemm, w.value, hidden, x, s.v);

    let scale = 1.0 / libm::sqrtf(head_size as f32);
    for head in 0..num_heads {
        let cols = head * head_size..;
        // scores [T, T] = q_h [T, D] · k_hᵀ [D, T] / √D; q_h and k_h are [T, D] views with row stride H.
        let q_h = MatRef { data: &s.q[cols.clone()], rows: tokens, cols: head_size, row_stride: hidden, col_stride: 1 };
        let k_h = MatRef { data: &s.k[cols.clone()], rows: tokens, cols: head_size, row_stride: hidden, col_stride: 1 };
        gemm.gemm(scale, q_h, k_h.t(), 0.0, MatMut::row_major(s.scores, tokens, tokens));
        // Each query's row: + mask, softmax over keys.
        for row in s.scores.chunks_exact_mut(tokens) {
            masked_softmax_in_place(row, key_mask);
        }
        // context_h [T, D] = probs [T, T] · v_h [T, D], written into head h's columns of context [T, H].
        let v_h = MatRef { data: &s.v[cols.clone()], rows: tokens, cols: head_size, row_stride: hidden, col_stride: 1 };
        let context_h = MatMut { data: &mut s.context[cols], rows: tokens, cols: head_size, row_stride: hidden };
        gemm.gemm(1.0, MatRef::row_major(s.scores, tokens, tokens), v_h, 0.0, context_h);
    }

    // out [T, H] = LayerNorm(context · W_oᵀ + b_o + x)
    linear_forward(gemm, w.output_dense, hidden, s.context, out);
    add_layer_norm_forward(w.output_layer_norm, eps, out, x);
}
