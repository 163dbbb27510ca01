//! `ElectraEmbeddings`: word + position + token-type lookups, summed, then LayerNorm (dropout is 0).
//!
//! `word_embeddings` has `padding_idx = pad_token_id`: as in torch, that row gets no gradient from the
//! lookup (the generator's tied output layer still gives it one, see `mlm_head.rs`).

use super::gemm::Threads;
use super::layer_norm::{LayerNorm, LayerNormCache};
use super::params::{ParamId, ParamSet, ParamSetBuilder};
use super::Tokens;
use electra_core::ElectraConfig;
use ndarray::parallel::prelude::*;
use ndarray::{Array2, ArrayView2, Axis, Zip};

#[derive(Clone, Debug)]
pub struct Embeddings {
    pub word: ParamId,
    pub position: ParamId,
    pub token_type: ParamId,
    pub layer_norm: LayerNorm,
    /// `E`.
    pub width: usize,
    pub padding_idx: usize,
}

impl Embeddings {
    /// Adds `{prefix}.word_embeddings.weight [V, E]`, `position_embeddings [P, E]`,
    /// `token_type_embeddings [S, E]` and `LayerNorm [E]` (prefix is `electra.embeddings`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, c: &ElectraConfig) -> Self {
        let e = c.embedding_size;
        let word = b.add(format!("{prefix}.word_embeddings.weight"), &[c.vocab_size, e]);
        let position = b.add(format!("{prefix}.position_embeddings.weight"), &[c.max_position_embeddings, e]);
        let token_type = b.add(format!("{prefix}.token_type_embeddings.weight"), &[c.type_vocab_size, e]);
        let layer_norm = LayerNorm::new(b, &format!("{prefix}.LayerNorm"), e, c.layer_norm_eps);
        Self { word, position, token_type, layer_norm, width: e, padding_idx: c.pad_token_id }
    }

    /// `tokens → [N, E]` with `N = B·T`; position of row `n` is `n mod T`. Ids must have been validated.
    pub fn forward(&self, p: &ParamSet, tokens: &Tokens<'_>) -> (Array2<f32>, LayerNormCache) {
        let (word, position, token_type) = (p.matrix(self.word), p.matrix(self.position), p.matrix(self.token_type));
        let mut sum = Array2::zeros((tokens.rows(), self.width));
        Zip::indexed(sum.rows_mut()).par_for_each(|n, mut row| {
            let t = n % tokens.seq_len;
            let (w, s) = (tokens.input_ids[n] as usize, tokens.token_type_ids[n] as usize);
            Zip::from(&mut row)
                .and(word.row(w))
                .and(position.row(t))
                .and(token_type.row(s))
                .for_each(|o, &a, &b, &c| *o = a + b + c);
        });
        self.layer_norm.forward(p, sum.view())
    }

    /// Inference: `tokens → [N, E]`, the LayerNorm in place, nothing kept.
    pub fn infer(&self, p: &ParamSet, tokens: &Tokens<'_>, threads: Threads) -> Array2<f32> {
        let (word, position, token_type) = (p.matrix(self.word), p.matrix(self.position), p.matrix(self.token_type));
        let mut sum = Array2::zeros((tokens.rows(), self.width));
        let one_row = |(n, mut row): (usize, ndarray::ArrayViewMut1<'_, f32>)| {
            let (w, s) = (tokens.input_ids[n] as usize, tokens.token_type_ids[n] as usize);
            Zip::from(&mut row)
                .and(word.row(w))
                .and(position.row(n % tokens.seq_len))
                .and(token_type.row(s))
                .for_each(|o, &a, &b, &c| *o = a + b + c);
        };
        match threads {
            Threads::All => sum.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(one_row),
            Threads::One => sum.axis_iter_mut(Axis(0)).enumerate().for_each(one_row),
        }
        self.layer_norm.infer_in_place(p, &mut sum, threads);
        sum
    }

    /// Accumulates the tables' and LayerNorm's gradients from `dy [N, E]`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        tokens: &Tokens<'_>,
        cache: &LayerNormCache,
        dy: ArrayView2<'_, f32>,
    ) {
        let dsum = self.layer_norm.backward(p, g, cache, dy);
        // Scatter-adds, in row order so the result does not depend on thread timing.
        let mut dword = g.matrix_mut(self.word);
        for (n, row) in dsum.axis_iter(Axis(0)).enumerate() {
            let w = tokens.input_ids[n] as usize;
            if w != self.padding_idx {
                dword.row_mut(w).scaled_add(1.0, &row);
            }
        }
        let mut dposition = g.matrix_mut(self.position);
        for (n, row) in dsum.axis_iter(Axis(0)).enumerate() {
            dposition.row_mut(n % tokens.seq_len).scaled_add(1.0, &row);
        }
        let mut dtype = g.matrix_mut(self.token_type);
        for (n, row) in dsum.axis_iter(Axis(0)).enumerate() {
            dtype.row_mut(tokens.token_type_ids[n] as usize).scaled_add(1.0, &row);
        }
    }
}
