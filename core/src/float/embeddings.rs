//! Token embeddings (HF `ElectraEmbeddings`) and ELECTRA's `embeddings_project`:
//! `LN(word[id] + position[t] + token_type[type])` in `E` dims, then a linear map to `H` when `E ≠ H`.

use super::error::FloatError;
use super::gemm::Gemm;
use super::layer_norm::{layer_norm_forward, LayerNormWeights};
use super::linear::{linear_forward, LinearWeights};
use crate::config::ElectraConfig;
pub use crate::input::SequenceInput;

/// `electra.embeddings.*`: `word_embeddings` `[V, E]`, `position_embeddings` `[P, E]`,
/// `token_type_embeddings` `[S, E]`, `LayerNorm` `[E]`.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingsWeights<'a> {
    pub word_embeddings: &'a [f32],
    pub position_embeddings: &'a [f32],
    pub token_type_embeddings: &'a [f32],
    pub layer_norm: LayerNormWeights<'a>,
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
