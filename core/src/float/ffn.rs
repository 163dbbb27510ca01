//! The position-wise feed-forward block (HF `ElectraIntermediate` + `ElectraOutput`):
//! `LayerNorm(dense_out(GELU(dense_in(x))) + x)`.

use super::activation::gelu_in_place;
use super::gemm::Gemm;
use super::layer_norm::{add_layer_norm_forward, LayerNormWeights};
use super::linear::{linear_forward, LinearWeights};

/// `intermediate.dense` `[F, H]`, `output.dense` `[H, F]`, `output.LayerNorm` `[H]`.
#[derive(Clone, Copy, Debug)]
pub struct FeedForwardWeights<'a> {
    pub intermediate_dense: LinearWeights<'a>,
    pub output_dense: LinearWeights<'a>,
    pub output_layer_norm: LayerNormWeights<'a>,
}

/// `out [T, H] = LayerNorm(GELU(x · W_inᵀ + b_in) · W_outᵀ + b_out + x)` for `x [T, H]`;
/// `intermediate` is `[T, F]` scratch.
pub fn feed_forward_forward(
    gemm: &dyn Gemm,
    w: &FeedForwardWeights<'_>,
    eps: f32,
    x: &[f32],
    intermediate: &mut [f32],
    out: &mut [f32],
) {
    let hidden = w.output_dense.out_features();
    let ffn = w.intermediate_dense.out_features();
    // intermediate [T, F] = GELU(x · W_inᵀ + b_in)
    linear_forward(gemm, w.intermediate_dense, hidden, x, intermediate);
    gelu_in_place(intermediate);
    // out [T, H] = LayerNorm(intermediate · W_outᵀ + b_out + x)
    linear_forward(gemm, w.output_dense, ffn, intermediate, out);
    add_layer_norm_forward(w.output_layer_norm, eps, out, x);
}
