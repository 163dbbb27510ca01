//! The discriminator's replaced-token detection head (HF `ElectraDiscriminatorPredictions`):
//! `logit[t] = dense_prediction(GELU(dense(x[t])))`, one logit per token (> 0 means "replaced").
//! HF picks the activation with `get_activation(config.hidden_act)`; the checkpoint loader only
//! accepts `hidden_act = "gelu"`, so this is the exact erf GELU.

use super::activation::gelu_in_place;
use super::gemm::Gemm;
use super::linear::{linear_forward, LinearWeights};

/// `discriminator_predictions.dense` `[H, H]` and `discriminator_predictions.dense_prediction` `[1, H]`.
#[derive(Clone, Copy, Debug)]
pub struct RtdHeadWeights<'a> {
    pub dense: LinearWeights<'a>,
    pub dense_prediction: LinearWeights<'a>,
}

/// `logits [T]` from the encoder output `x [T, H]`; `scratch` is `[T, H]`.
pub fn rtd_head_forward(gemm: &dyn Gemm, w: &RtdHeadWeights<'_>, x: &[f32], scratch: &mut [f32], logits: &mut [f32]) {
    let hidden = w.dense.out_features();
    // h [T, H] = GELU(x · W_denseᵀ + b)
    linear_forward(gemm, w.dense, hidden, x, scratch);
    gelu_in_place(scratch);
    // logits [T, 1] = h · W_predᵀ + b  (HF squeezes the last dim)
    linear_forward(gemm, w.dense_prediction, hidden, scratch, logits);
}
