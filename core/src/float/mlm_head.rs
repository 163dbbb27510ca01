//! The generator's masked-LM head (HF `ElectraGeneratorPredictions` + `generator_lm_head`):
//! `logits[t] = LN(GELU(dense(x[t]))) · word_embeddingsᵀ + lm_bias`, `V` logits per token.
//! The output matrix is the word embedding table itself (HF ties `generator_lm_head.weight` to it).

use super::activation::gelu_in_place;
use super::gemm::Gemm;
use super::layer_norm::{layer_norm_forward, LayerNormWeights};
use super::linear::{linear_forward, LinearWeights};

/// `generator_predictions.dense` `[E, H]`, `generator_predictions.LayerNorm` `[E]`, the tied
/// `electra.embeddings.word_embeddings.weight` `[V, E]`, and `generator_lm_head.bias` `[V]`.
#[derive(Clone, Copy, Debug)]
pub struct MlmHeadWeights<'a> {
    pub dense: LinearWeights<'a>,
    pub layer_norm: LayerNormWeights<'a>,
    pub word_embeddings: &'a [f32],
    pub lm_bias: &'a [f32],
}

/// `logits [T, V]` from the encoder output `x [T, H]`; `scratch` is `[T, E]`.
pub fn mlm_head_forward(
    gemm: &dyn Gemm,
    w: &MlmHeadWeights<'_>,
    hidden: usize,
    eps: f32,
    x: &[f32],
    scratch: &mut [f32],
    logits: &mut [f32],
) {
    let e = w.dense.out_features();
    // g [T, E] = LN(GELU(x · W_denseᵀ + b))
    linear_forward(gemm, w.dense, hidden, x, scratch);
    gelu_in_place(scratch);
    layer_norm_forward(w.layer_norm, eps, scratch);
    // logits [T, V] = g · word_embeddingsᵀ [E, V] + lm_bias
    let lm_head = LinearWeights { weight: w.word_embeddings, bias: w.lm_bias };
    linear_forward(gemm, lm_head, e, scratch, logits);
}
