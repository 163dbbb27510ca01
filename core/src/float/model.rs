//! The whole float forward pass for one sequence: embeddings → `L` encoder layers → head.
//!
//! Dimension glossary (see [`crate::config`]): `V` vocab, `E` embedding, `H` hidden, `L` layers,
//! `A` heads, `D = H / A`, `F` FFN, `P` positions, `S` token types, `T` tokens in this sequence,
//! `C` labels of a classification head.
//!
//! Scratch layout (floats), all carved from the one caller buffer:
//! `hidden [T, H]` | work area = max(encoder layer, embeddings sum, head), reused stage after stage.

use super::classifier_head::{sequence_classifier_forward, token_classifier_forward};
use super::embeddings::{embeddings_forward, embeddings_scratch_len, SequenceInput};
use super::encoder_layer::{encoder_layer_forward, encoder_layer_scratch_len};
use super::error::FloatError;
use super::gemm::Gemm;
use super::mlm_head::mlm_head_forward;
use super::params::{ElectraWeights, HeadWeights};
use super::rtd_head::rtd_head_forward;
use crate::config::{ElectraConfig, HeadKind};

/// Floats of scratch [`forward`] needs for a sequence of `tokens` tokens. Saturates instead of
/// overflowing, so an absurd request fails with [`FloatError::ScratchTooSmall`] rather than wrapping.
pub fn scratch_len(config: &ElectraConfig, head: HeadKind, tokens: usize) -> usize {
    let hidden = tokens.saturating_mul(config.hidden_size);
    let head_len = match head {
        HeadKind::ReplacedTokenDetection => hidden,
        HeadKind::MaskedLm => tokens.saturating_mul(config.embedding_size),
        HeadKind::SequenceClassification { .. } => config.hidden_size,
        HeadKind::TokenClassification { .. } => 0,
    };
    let work = encoder_layer_scratch_len(config, tokens).max(embeddings_scratch_len(config, tokens)).max(head_len);
    hidden.saturating_add(work)
}

/// Floats of logits [`forward`] writes for `tokens` tokens: `[T]` for replaced-token detection,
/// `[T, V]` for the MLM head, `[C]` for sequence classification, `[T, C]` for token classification.
pub fn logits_len(config: &ElectraConfig, head: HeadKind, tokens: usize) -> usize {
    match head {
        HeadKind::ReplacedTokenDetection => tokens,
        HeadKind::MaskedLm => tokens.saturating_mul(config.vocab_size),
        HeadKind::SequenceClassification { num_labels } => num_labels,
        HeadKind::TokenClassification { num_labels } => tokens.saturating_mul(num_labels),
    }
}

/// Runs the model on one sequence and writes its logits. Checks the input, scratch and logits
/// lengths first; on error nothing has been written.
pub fn forward(
    gemm: &dyn Gemm,
    weights: &ElectraWeights<'_>,
    input: &SequenceInput<'_>,
    scratch: &mut [f32],
    logits: &mut [f32],
) -> Result<(), FloatError> {
    forward_observed(gemm, weights, input, scratch, logits, &mut |_, _| {})
}

/// [`forward`], also handing every hidden state `[T, H]` to `on_hidden(i, h)`: `i = 0` after the
/// embeddings (and `embeddings_project`), `i = l + 1` after encoder layer `l` (HF's `hidden_states`).
pub fn forward_observed(
    gemm: &dyn Gemm,
    weights: &ElectraWeights<'_>,
    input: &SequenceInput<'_>,
    scratch: &mut [f32],
    logits: &mut [f32],
    on_hidden: &mut dyn FnMut(usize, &[f32]),
) -> Result<(), FloatError> {
    let config = weights.config();
    let head_kind = weights.head_kind();
    input.validate(config)?;
    let tokens = input.input_ids.len();
    let needed = scratch_len(config, head_kind, tokens);
    if scratch.len() < needed {
        return Err(FloatError::ScratchTooSmall { needed, given: scratch.len() });
    }
    let expected = logits_len(config, head_kind, tokens);
    if logits.len() != expected {
        return Err(FloatError::LogitsLength { expected, found: logits.len() });
    }

    let (hidden, work) = scratch[..needed].split_at_mut(tokens * config.hidden_size);
    // hidden [T, H] = embeddings_project(LN(word + type + position))
    embeddings_forward(gemm, config, &weights.embeddings(), weights.embeddings_project(), input, work, hidden)?;
    on_hidden(0, hidden);
    // hidden [T, H] ← each post-LN encoder layer in turn
    for (l, layer) in weights.layers().enumerate() {
        encoder_layer_forward(gemm, config, &layer, hidden, input.attention_mask, work);
        on_hidden(l + 1, hidden);
    }
    match weights.head() {
        HeadWeights::ReplacedTokenDetection(w) => rtd_head_forward(gemm, &w, hidden, &mut work[..hidden.len()], logits),
        HeadWeights::MaskedLm(w) => {
            let head_scratch = &mut work[..tokens * config.embedding_size];
            mlm_head_forward(gemm, &w, config.hidden_size, config.layer_norm_eps, hidden, head_scratch, logits)
        }
        HeadWeights::SequenceClassification(w) => {
            sequence_classifier_forward(gemm, &w, hidden, &mut work[..config.hidden_size], logits)
        }
        HeadWeights::TokenClassification(w) => token_classifier_forward(gemm, &w, config.hidden_size, hidden, logits),
    }
    Ok(())
}
