//! One post-LayerNorm transformer encoder layer (HF `ElectraLayer`), as in "Attention Is All You Need"
//! and BERT: `a = LN(x + SelfAttention(x))`, then `x' = LN(a + FFN(a))`.

use super::attention::{self_attention_forward, AttentionScratch, SelfAttentionWeights};
use super::ffn::{feed_forward_forward, FeedForwardWeights};
use super::gemm::Gemm;
use crate::config::ElectraConfig;

/// `electra.encoder.layer.N.*`.
#[derive(Clone, Copy, Debug)]
pub struct EncoderLayerWeights<'a> {
    pub attention: SelfAttentionWeights<'a>,
    pub feed_forward: FeedForwardWeights<'a>,
}

/// Floats of scratch one layer needs for `tokens` tokens: `a, q, k, v, context` `[T, H]` each,
/// `scores` `[T, T]`, `intermediate` `[T, F]`.
pub const fn encoder_layer_scratch_len(config: &ElectraConfig, tokens: usize) -> usize {
    5 * tokens * config.hidden_size + tokens * tokens + tokens * config.intermediate_size
}

/// `x [T, H]` ← the layer's output, in place. `scratch` has at least [`encoder_layer_scratch_len`] floats.
pub fn encoder_layer_forward(
    gemm: &dyn Gemm,
    config: &ElectraConfig,
    w: &EncoderLayerWeights<'_>,
    x: &mut [f32],
    key_mask: Option<&[u8]>,
    scratch: &mut [f32],
) {
    let th = x.len();
    let tokens = th / config.hidden_size;
    let (a, rest) = scratch.split_at_mut(th);
    let (q, rest) = rest.split_at_mut(th);
    let (k, rest) = rest.split_at_mut(th);
    let (v, rest) = rest.split_at_mut(th);
    let (context, rest) = rest.split_at_mut(th);
    let (scores, rest) = rest.split_at_mut(tokens * tokens);
    let intermediate = &mut rest[..tokens * config.intermediate_size];

    let eps = config.layer_norm_eps;
    // a [T, H] = LN(x + SelfAttention(x))
    let attention_scratch = AttentionScratch { q, k, v, context, scores };
    self_attention_forward(gemm, config, &w.attention, x, key_mask, attention_scratch, a);
    // x [T, H] = LN(a + FFN(a))
    feed_forward_forward(gemm, &w.feed_forward, eps, a, intermediate, x);
}
