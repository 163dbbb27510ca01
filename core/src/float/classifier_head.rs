//! Fine-tuning heads. Sequence classification (HF `ElectraClassificationHead`): on the first token,
//! `out_proj(GELU(dense(x[0])))`, one logit per class. Token classification (HF
//! `ElectraForTokenClassification.classifier`): one linear layer on every token.

use super::activation::gelu_in_place;
use super::gemm::Gemm;
use super::linear::{linear_forward, LinearWeights};

/// `classifier.dense` `[H, H]` and `classifier.out_proj` `[C, H]`.
#[derive(Clone, Copy, Debug)]
pub struct SequenceClassifierWeights<'a> {
    pub dense: LinearWeights<'a>,
    pub out_proj: LinearWeights<'a>,
}

/// `classifier` `[C, H]`.
#[derive(Clone, Copy, Debug)]
pub struct TokenClassifierWeights<'a> {
    pub classifier: LinearWeights<'a>,
}

/// `logits [C]` from the first row of the encoder output `x [T, H]`; `scratch` is `[H]`.
pub fn sequence_classifier_forward(
    gemm: &dyn Gemm,
    w: &SequenceClassifierWeights<'_>,
    x: &[f32],
    scratch: &mut [f32],
    logits: &mut [f32],
) {
    let hidden = w.dense.out_features();
    // h [1, H] = GELU(x[0] · W_denseᵀ + b)   (HF: features[:, 0, :], the [CLS] position)
    linear_forward(gemm, w.dense, hidden, &x[..hidden], scratch);
    gelu_in_place(scratch);
    // logits [1, C] = h · W_outᵀ + b
    linear_forward(gemm, w.out_proj, hidden, scratch, logits);
}

/// `logits [T, C]` from the encoder output `x [T, H]`.
pub fn token_classifier_forward(
    gemm: &dyn Gemm,
    w: &TokenClassifierWeights<'_>,
    hidden: usize,
    x: &[f32],
    logits: &mut [f32],
) {
    linear_forward(gemm, w.classifier, hidden, x, logits);
}
