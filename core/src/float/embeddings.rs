//! Token embeddings (HF `ElectraEmbeddings`) and ELECTRA's `embeddings_project`:
//! `LN(word[id] + position[t] + token_type[type])` in `E` dims, then a linear map to `H` when `E ≠ H`.

use super::error::FloatError;
use super::gemm::Gemm;
use super::layer_norm::{layer_norm_forward, LayerNormWeights};
use super::linear::{linear_forward, LinearWeights};
use crate::config::ElectraConfig;

/// `electra.embeddings.*`: `word_embeddings` `[V, E]`, `position_embeddings` `[P, E]`,
/// `token_type_embeddings` `[S, E]`, `LayerNorm` `[E]`.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingsWeights<'a> {
    pub word_embeddings: &'a [f32],
    pub position_embeddings: &'a [f32],
    pub token_type_embeddings: &'a [f32],
    pub layer_norm: LayerNormWeights<'a>,
}

/// One sequence's inputs, HF names: `input_ids [T]`, optional `token_type_ids [T]` (all 0 when absent)
/// and optional `attention_mask [T]` (1 = real token, 0 = padding; all 1 when absent).
#[derive(Clone, Copy, Debug)]
pub struct SequenceInput<'s> {
    pub input_ids: &'s [u32],
    pub token_type_ids: Option<&'s [u32]>,
    pub attention_mask: Option<&'s [u8]>,
}

impl<'s> SequenceInput<'s> {
    /// Just token ids: one segment, no padding.
    pub fn ids(input_ids: &'s [u32]) -> Self {
        Self { input_ids, token_type_ids: None, attention_mask: None }
    }

    /// Checks every value against the config before any arithmetic, naming the first bad position.
    pub fn validate(&self, config: &ElectraConfig) -> Result<(), FloatError> {
        let len = self.input_ids.len();
        if len == 0 {
            return Err(FloatError::EmptySequence);
        }
        if len > config.max_position_embeddings {
            return Err(FloatError::SequenceTooLong { len, max_positions: config.max_position_embeddings });
        }
        for (position, &id) in self.input_ids.iter().enumerate() {
            if id as usize >= config.vocab_size {
                return Err(FloatError::IdOutOfVocab { position, id, vocab_size: config.vocab_size });
            }
        }
        if let Some(types) = self.token_type_ids {
            if types.len() != len {
                return Err(FloatError::InputLengthMismatch {
                    what: "token_type_ids",
                    expected: len,
                    found: types.len(),
                });
            }
            for (position, &token_type) in types.iter().enumerate() {
                if token_type as usize >= config.type_vocab_size {
                    let type_vocab_size = config.type_vocab_size;
                    return Err(FloatError::TokenTypeOutOfRange { position, token_type, type_vocab_size });
                }
            }
        }
        if let Some(mask) = self.attention_mask {
            if mask.len() != len {
                return Err(FloatError::InputLengthMismatch {
                    what: "attention_mask",
                    expected: len,
                    found: mask.len(),
                });
            }
            if let Some((position, &value)) = mask.iter().enumerate().find(|(_, &m)| m > 1) {
                return Err(FloatError::BadMaskValue { position, value });
            }
        }
        Ok(())
    }
}

/// Floats of scratch the embeddings need: the `[T, E]` sum before the projection (none when `E = H`).
pub const fn embeddings_scratch_len(config: &ElectraConfig, tokens: usize) -> usize {
    if config.has_embeddings_project() {
        tokens * config.embedding_size
    } else {
        0
    }
}

/// `out [T, H]` ← embeddings of `input` (validated with [`SequenceInput::validate`] first).
/// Position ids are `0..T`, as HF's default `position_ids`.
pub fn embeddings_forward(
    gemm: &dyn Gemm,
    config: &ElectraConfig,
    w: &EmbeddingsWeights<'_>,
    project: Option<LinearWeights<'_>>,
    input: &SequenceInput<'_>,
    scratch: &mut [f32],
    out: &mut [f32],
) -> Result<(), FloatError> {
    input.validate(config)?;
    let e = config.embedding_size;
    let tokens = input.input_ids.len();
    // sum [T, E]: straight into `out` when there is no projection (then E = H).
    let sum = match project {
        Some(_) => &mut scratch[..tokens * e],
        None => &mut out[..tokens * e],
    };
    for (t, row) in sum.chunks_exact_mut(e).enumerate() {
        let id = input.input_ids[t] as usize;
        let token_type = input.token_type_ids.map_or(0, |types| types[t] as usize);
        let word = &w.word_embeddings[id * e..(id + 1) * e];
        let position = &w.position_embeddings[t * e..(t + 1) * e];
        let segment = &w.token_type_embeddings[token_type * e..(token_type + 1) * e];
        for (i, v) in row.iter_mut().enumerate() {
            // HF order: (word + token_type) + position.
            *v = word[i] + segment[i] + position[i];
        }
    }
    layer_norm_forward(w.layer_norm, config.layer_norm_eps, sum);
    if let Some(project) = project {
        // out [T, H] = sum [T, E] · W_projᵀ [E, H] + b
        linear_forward(gemm, project, e, &scratch[..tokens * e], &mut out[..tokens * config.hidden_size]);
    }
    Ok(())
}
